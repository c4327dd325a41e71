"""daycare: facilities (with versions), vacancies, past results, tour slots and bookings, saved

The tables of `integrations.daycare.models`; nothing existing changes.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import registry.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daycare_facility",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("municipality", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("facility_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name_ja", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("name_en", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("name_kana", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("type_label", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("located", sa.Boolean(), nullable=False),
        sa.Column("station", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("walk_minutes", sa.Integer(), nullable=True),
        sa.Column("classes", sa.JSON(), nullable=False),
        sa.Column("class_capacity", sa.JSON(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("min_age_months", sa.Integer(), nullable=True),
        sa.Column("days", sa.JSON(), nullable=False),
        sa.Column("opens", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True),
        sa.Column("closes", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True),
        sa.Column("extended_care", sa.Boolean(), nullable=True),
        sa.Column("extended_until", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True),
        sa.Column("temporary_care", sa.Boolean(), nullable=True),
        sa.Column("meals", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality"],
            ["municipality.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("municipality", "facility_id", name="uq_daycare_facility"),
    )
    with op.batch_alter_table("daycare_facility", schema=None) as batch_op:
        batch_op.create_index(
            "ix_daycare_facility_muni_status", ["municipality", "status"], unique=False
        )

    op.create_table(
        "daycare_facility_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("facility_pk", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["facility_pk"],
            ["daycare_facility.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("facility_pk", "version", name="uq_daycare_facility_version"),
    )
    with op.batch_alter_table("daycare_facility_version", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_daycare_facility_version_facility_pk"), ["facility_pk"], unique=False
        )

    op.create_table(
        "daycare_past_result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("facility_pk", sa.Integer(), nullable=False),
        sa.Column("class_age", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("points", sa.Float(), nullable=True),
        sa.Column("raw", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("updated_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["facility_pk"],
            ["daycare_facility.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "facility_pk", "class_age", "year", "kind", name="uq_daycare_past_result"
        ),
    )
    with op.batch_alter_table("daycare_past_result", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_daycare_past_result_facility_pk"), ["facility_pk"], unique=False
        )

    op.create_table(
        "daycare_saved_facility",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("facility_pk", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=True),
        sa.Column("entry_month", sa.Date(), nullable=True),
        sa.Column("created_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["facility_pk"],
            ["daycare_facility.id"],
        ),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["family.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("family_id", "facility_pk", "child_id", name="uq_daycare_saved"),
    )
    with op.batch_alter_table("daycare_saved_facility", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_daycare_saved_facility_facility_pk"), ["facility_pk"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_daycare_saved_facility_family_id"), ["family_id"], unique=False
        )

    op.create_table(
        "daycare_tour_slot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("facility_pk", sa.Integer(), nullable=False),
        sa.Column("starts_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("booked", sa.Integer(), nullable=False),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["facility_pk"],
            ["daycare_facility.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("daycare_tour_slot", schema=None) as batch_op:
        batch_op.create_index(
            "ix_daycare_tour_slot_facility_start", ["facility_pk", "starts_at"], unique=False
        )

    op.create_table(
        "daycare_vacancy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("facility_pk", sa.Integer(), nullable=False),
        sa.Column("class_age", sa.Integer(), nullable=False),
        sa.Column("entry_month", sa.Date(), nullable=False),
        sa.Column("level", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("places", sa.Integer(), nullable=True),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("updated_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["facility_pk"],
            ["daycare_facility.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("facility_pk", "class_age", "entry_month", name="uq_daycare_vacancy"),
    )
    with op.batch_alter_table("daycare_vacancy", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_daycare_vacancy_facility_pk"), ["facility_pk"], unique=False
        )

    op.create_table(
        "daycare_tour_booking",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.Column("created_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", registry.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["family.id"],
        ),
        sa.ForeignKeyConstraint(
            ["slot_id"],
            ["daycare_tour_slot.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slot_id", "family_id", name="uq_daycare_tour_booking"),
    )
    with op.batch_alter_table("daycare_tour_booking", schema=None) as batch_op:
        batch_op.create_index(
            "ix_daycare_tour_booking_family", ["family_id", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_daycare_tour_booking_slot_id"), ["slot_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("daycare_tour_booking", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_daycare_tour_booking_slot_id"))
        batch_op.drop_index("ix_daycare_tour_booking_family")

    op.drop_table("daycare_tour_booking")
    with op.batch_alter_table("daycare_vacancy", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_daycare_vacancy_facility_pk"))

    op.drop_table("daycare_vacancy")
    with op.batch_alter_table("daycare_tour_slot", schema=None) as batch_op:
        batch_op.drop_index("ix_daycare_tour_slot_facility_start")

    op.drop_table("daycare_tour_slot")
    with op.batch_alter_table("daycare_saved_facility", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_daycare_saved_facility_family_id"))
        batch_op.drop_index(batch_op.f("ix_daycare_saved_facility_facility_pk"))

    op.drop_table("daycare_saved_facility")
    with op.batch_alter_table("daycare_past_result", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_daycare_past_result_facility_pk"))

    op.drop_table("daycare_past_result")
    with op.batch_alter_table("daycare_facility_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_daycare_facility_version_facility_pk"))

    op.drop_table("daycare_facility_version")
    with op.batch_alter_table("daycare_facility", schema=None) as batch_op:
        batch_op.drop_index("ix_daycare_facility_muni_status")

    op.drop_table("daycare_facility")
