"""families, children, actions, reviews, webhook events

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import registry.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "family",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line_user_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("consented_at", registry.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("onboarded_at", registry.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("blocked_at", registry.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", registry.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("municipality", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=True),
        sa.Column("pregnant", sa.Boolean(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("single_parent", sa.Boolean(), nullable=True),
        sa.Column("household_income", sa.Integer(), nullable=True),
        sa.Column("resident_tax_exempt", sa.Boolean(), nullable=True),
        sa.Column("public_assistance", sa.Boolean(), nullable=True),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column("preferences", sa.JSON(), nullable=False),
        sa.Column("created_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("family", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_family_line_user_id"), ["line_user_id"], unique=True)

    op.create_table(
        "webhook_event",
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("received_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_table(
        "child",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("disability", sa.Boolean(), nullable=False),
        sa.Column("daycare", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["family.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("child", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_child_family_id"), ["family_id"], unique=False)

    op.create_table(
        "review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=True),
        sa.Column("service", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("created_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["family.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_family_id"), ["family_id"], unique=False)

    op.create_table(
        "program_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["family.id"],
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["program.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("family_id", "program_id", "kind", name="uq_program_action"),
    )
    with op.batch_alter_table("program_action", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_program_action_family_id"), ["family_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_program_action_program_id"), ["program_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("program_action", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_program_action_program_id"))
        batch_op.drop_index(batch_op.f("ix_program_action_family_id"))

    op.drop_table("program_action")
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_family_id"))

    op.drop_table("review")
    with op.batch_alter_table("child", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_child_family_id"))

    op.drop_table("child")
    op.drop_table("webhook_event")
    with op.batch_alter_table("family", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_family_line_user_id"))

    op.drop_table("family")
