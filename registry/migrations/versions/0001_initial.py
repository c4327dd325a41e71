"""initial tables and municipalities

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import registry.models
from registry.seed import municipality_rows

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "municipality",
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("name_ja", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name_en", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("kana", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("prefecture", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=True),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("prefix", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("issuer", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", registry.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["issuer"],
            ["municipality.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_key_key_hash"), ["key_hash"], unique=True)

    op.create_table(
        "program",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issuer", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("review_notes", sa.JSON(), nullable=False),
        sa.Column("name_ja", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("search_text", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", registry.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["issuer"],
            ["municipality.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "source_id", name="uq_program_source"),
    )
    with op.batch_alter_table("program", schema=None) as batch_op:
        batch_op.create_index("ix_program_issuer_status", ["issuer", "status"], unique=False)

    op.create_table(
        "program_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", registry.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["program.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("program_id", "version", name="uq_program_version"),
    )
    with op.batch_alter_table("program_version", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_program_version_program_id"), ["program_id"], unique=False
        )

    op.bulk_insert(
        sa.table(
            "municipality",
            sa.column("code", sa.String),
            sa.column("name_ja", sa.String),
            sa.column("name_en", sa.String),
            sa.column("kana", sa.String),
            sa.column("kind", sa.String),
            sa.column("prefecture", sa.String),
        ),
        municipality_rows(),
    )


def downgrade() -> None:
    with op.batch_alter_table("program_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_program_version_program_id"))

    op.drop_table("program_version")
    with op.batch_alter_table("program", schema=None) as batch_op:
        batch_op.drop_index("ix_program_issuer_status")

    op.drop_table("program")
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_key_key_hash"))

    op.drop_table("api_key")
    op.drop_table("municipality")
