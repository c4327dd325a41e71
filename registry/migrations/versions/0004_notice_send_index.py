"""notice: index (send_id, status) instead of (send_id)

Delivery looks notices up by their send request AND status, hundreds of requests at a time. With
only (send_id) indexed, SQLite's planner chose (status, due_at) instead and read every scheduled
notice for each batch, which made a large send slower the larger it was.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_notice_send_id", table_name="notice")
    op.create_index("ix_notice_send_status", "notice", ["send_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_notice_send_status", table_name="notice")
    op.create_index("ix_notice_send_id", "notice", ["send_id"])
