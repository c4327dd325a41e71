"""console: staff users and their audit trail; reviews' item-specific answers; "you said, we did"

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import registry.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_str = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "console_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", _str(length=254), nullable=False),
        sa.Column("issuer", _str(length=6), nullable=False),
        sa.Column("role", _str(length=16), nullable=False),
        sa.Column("name", _str(length=100), nullable=False),
        sa.Column("password_hash", _str(length=200), nullable=False),
        sa.Column("created_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_sign_in_at", registry.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", registry.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["issuer"], ["municipality.code"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_console_user_email", "console_user", ["email"], unique=True)
    op.create_table(
        "console_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("email", _str(length=254), nullable=False),
        sa.Column("issuer", _str(length=6), nullable=False),
        sa.Column("action", _str(length=64), nullable=False),
        sa.Column("target", _str(length=200), nullable=False),
        sa.Column("summary", _str(length=500), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["console_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_console_audit_user_id", "console_audit", ["user_id"])
    op.create_index("ix_console_audit_issuer_at", "console_audit", ["issuer", "at"])
    op.create_table(
        "quality_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service", _str(length=32), nullable=False),
        sa.Column("issuer", _str(length=6), nullable=False),
        sa.Column("said_ja", _str(length=500), nullable=False),
        sa.Column("said_en", _str(length=500), nullable=False),
        sa.Column("did_ja", _str(length=1000), nullable=False),
        sa.Column("did_en", _str(length=1000), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=True),
        sa.Column("created_by", _str(length=254), nullable=False),
        sa.Column("created_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("review") as batch:
        batch.add_column(sa.Column("answers", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("municipality", _str(length=6), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("review") as batch:
        batch.drop_column("municipality")
        batch.drop_column("answers")
    op.drop_table("quality_entry")
    op.drop_index("ix_console_audit_issuer_at", table_name="console_audit")
    op.drop_index("ix_console_audit_user_id", table_name="console_audit")
    op.drop_table("console_audit")
    op.drop_index("ix_console_user_email", table_name="console_user")
    op.drop_table("console_user")
