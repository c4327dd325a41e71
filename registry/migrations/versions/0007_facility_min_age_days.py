"""daycare_facility: the youngest accepted age in days (min_age_days)

産休明け (57 days: 8 weeks after the birth) and 生後43日 said in days, not rounded to months:
search compares a child's age on the 1st of the month of entry with it. Existing facilities
get no value (null: the months still count) and their stored body gains the same
`"min_age_days": null`, so that an unchanged re-import or PUT still finds them unchanged; the
next `import-facilities` sets it where the file says 産休明け or 生後N日.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
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
    # Plain ALTER TABLE ... ADD COLUMN (nullable, no default): no table copy, which the
    # foreign keys of its versions, vacancies and bookings would refuse.
    op.add_column("daycare_facility", sa.Column("min_age_days", sa.Integer(), nullable=True))
    _rewrite_bodies(
        "daycare_facility",
        lambda body: None if "min_age_days" in body else {**body, "min_age_days": None},
    )


def downgrade() -> None:
    # The older code refuses unknown keys in a stored body: take `min_age_days` out again.
    def without_days(body: dict[str, Any]) -> dict[str, Any] | None:
        return (
            {k: v for k, v in body.items() if k != "min_age_days"}
            if "min_age_days" in body
            else None
        )

    _rewrite_bodies("daycare_facility", without_days)
    _rewrite_bodies("daycare_facility_version", without_days)
    op.drop_column("daycare_facility", "min_age_days")
