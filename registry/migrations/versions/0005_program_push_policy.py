"""program: push policy (proactive | on_request) and whether the issuer set it itself

Every existing program keeps being pushed as before (`proactive`, not explicit); its stored
body gains the same `push` so that an unchanged re-import or PATCH still finds it unchanged.
Imported registry items are classified again by the next `hagukumi import-registry`.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BATCH = 500


def _rewrite_bodies(table_name: str, change: Any) -> None:
    """Apply `change(body) -> new body | None` to every row's JSON body, a batch at a time."""
    table = sa.table(table_name, sa.column("id", sa.Integer), sa.column("body", sa.JSON))
    connection = op.get_bind()
    rows = connection.execute(sa.select(table.c.id, table.c.body).order_by(table.c.id)).all()
    updates = []
    for row_id, body in rows:
        new = change(body) if isinstance(body, dict) else None
        if new is not None:
            updates.append({"row_id": row_id, "new_body": new})
    statement = (
        table.update()
        .where(table.c.id == sa.bindparam("row_id"))
        .values(body=sa.bindparam("new_body", type_=sa.JSON))
    )
    for start in range(0, len(updates), _BATCH):
        connection.execute(statement, updates[start : start + _BATCH])


def upgrade() -> None:
    with op.batch_alter_table("program", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "push",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="proactive",
            )
        )
        batch_op.add_column(
            # "0", not sa.false(): SQLite adds a column with a literal default in place, while
            # an expression would make alembic copy the table (which its foreign keys refuse);
            # PostgreSQL reads '0' as false.
            sa.Column("push_explicit", sa.Boolean(), nullable=False, server_default="0")
        )
    _rewrite_bodies(
        "program", lambda body: None if "push" in body else {**body, "push": "proactive"}
    )


def downgrade() -> None:
    # The older code refuses unknown keys in a stored body: take `push` out again.
    def without_push(body: dict[str, Any]) -> dict[str, Any] | None:
        return {k: v for k, v in body.items() if k != "push"} if "push" in body else None

    _rewrite_bodies("program", without_push)
    _rewrite_bodies("program_version", without_push)
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): a batch copy of the table would have
    # to drop it, which the foreign keys of its versions and notices refuse.
    op.drop_column("program", "push_explicit")
    op.drop_column("program", "push")
