"""daycare: points rules (versions), intake rounds, applications and their audit trail

The tables of `integrations.daycare.models` for issue 11; nothing existing changes.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import registry.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daycare_points_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("municipality", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("source_url", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality"],
            ["municipality.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("municipality", "version", name="uq_daycare_points_rules"),
    )
    with op.batch_alter_table("daycare_points_rules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_daycare_points_rules_municipality"), ["municipality"], unique=False
        )

    op.create_table(
        "daycare_round",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("municipality", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("entry_month", sa.Date(), nullable=False),
        sa.Column("opens_at", registry.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deadline", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("seed", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("rules_version", sa.Integer(), nullable=True),
        sa.Column("allocation", sa.JSON(), nullable=False),
        sa.Column("input_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("export_columns", sa.JSON(), nullable=False),
        sa.Column("confirmed_at", registry.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality"],
            ["municipality.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("daycare_round", schema=None) as batch_op:
        batch_op.create_index(
            "ix_daycare_round_muni_entry", ["municipality", "entry_month"], unique=False
        )

    op.create_table(
        "daycare_application",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("municipality", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=True),
        sa.Column("child_birth_date", sa.Date(), nullable=False),
        sa.Column("class_age", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("external_ref", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("wishes", sa.JSON(), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("sibling_group", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("documents", sa.JSON(), nullable=False),
        sa.Column("points", sa.Float(), nullable=True),
        sa.Column("points_detail", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("placed_facility_pk", sa.Integer(), nullable=True),
        sa.Column("submitted_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", registry.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_at", registry.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["family.id"],
        ),
        sa.ForeignKeyConstraint(
            ["municipality"],
            ["municipality.code"],
        ),
        sa.ForeignKeyConstraint(
            ["placed_facility_pk"],
            ["daycare_facility.id"],
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["daycare_round.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("round_id", "family_id", "child_id", name="uq_daycare_application"),
    )
    with op.batch_alter_table("daycare_application", schema=None) as batch_op:
        batch_op.create_index("ix_daycare_application_family", ["family_id"], unique=False)
        batch_op.create_index(
            "ix_daycare_application_round_status", ["round_id", "status"], unique=False
        )

    op.create_table(
        "daycare_application_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("field", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("old", sa.JSON(), nullable=True),
        sa.Column("new", sa.JSON(), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["daycare_application.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("daycare_application_audit", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_daycare_application_audit_application_id"),
            ["application_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("daycare_application_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_daycare_application_audit_application_id"))

    op.drop_table("daycare_application_audit")
    with op.batch_alter_table("daycare_application", schema=None) as batch_op:
        batch_op.drop_index("ix_daycare_application_round_status")
        batch_op.drop_index("ix_daycare_application_family")

    op.drop_table("daycare_application")
    with op.batch_alter_table("daycare_round", schema=None) as batch_op:
        batch_op.drop_index("ix_daycare_round_muni_entry")

    op.drop_table("daycare_round")
    with op.batch_alter_table("daycare_points_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_daycare_points_rules_municipality"))

    op.drop_table("daycare_points_rules")
