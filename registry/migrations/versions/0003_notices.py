"""notices, send requests, broadcasts, app subscriptions

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import registry.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("retry_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column(
            "accepted_request_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
        ),
        sa.Column("created_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", registry.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("retry_key"),
    )
    op.create_table(
        "app_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("issuer", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("secret", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("callback_url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("created_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["family.id"],
        ),
        sa.ForeignKeyConstraint(
            ["issuer"],
            ["municipality.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("family_id"),
    )
    with op.batch_alter_table("app_subscription", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_app_subscription_token_hash"), ["token_hash"], unique=True
        )

    op.create_table(
        "broadcast",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issuer", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("message", sa.JSON(), nullable=False),
        sa.Column("segment", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
        sa.Column("send_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("created_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["issuer"],
            ["municipality.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=True),
        sa.Column("broadcast_id", sa.Integer(), nullable=True),
        sa.Column("child_key", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("cycle", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("issuer", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("due_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("retry_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("send_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", registry.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("read_at", registry.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcast.id"],
        ),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["family.id"],
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["program.id"],
        ),
        sa.ForeignKeyConstraint(
            ["send_id"],
            ["send_request.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "family_id", "subject", "child_key", "kind", "cycle", name="uq_notice"
        ),
    )
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notice_broadcast_id"), ["broadcast_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notice_family_id"), ["family_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notice_issuer"), ["issuer"], unique=False)
        batch_op.create_index(batch_op.f("ix_notice_program_id"), ["program_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notice_send_id"), ["send_id"], unique=False)
        batch_op.create_index("ix_notice_status_due", ["status", "due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.drop_index("ix_notice_status_due")
        batch_op.drop_index(batch_op.f("ix_notice_send_id"))
        batch_op.drop_index(batch_op.f("ix_notice_program_id"))
        batch_op.drop_index(batch_op.f("ix_notice_issuer"))
        batch_op.drop_index(batch_op.f("ix_notice_family_id"))
        batch_op.drop_index(batch_op.f("ix_notice_broadcast_id"))

    op.drop_table("notice")
    op.drop_table("broadcast")
    with op.batch_alter_table("app_subscription", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_app_subscription_token_hash"))

    op.drop_table("app_subscription")
    op.drop_table("send_request")
