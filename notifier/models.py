"""SQLModel tables of the notifier: the notice ledger, send requests and staff broadcasts.

Notices declare the registry hooks (`registry.hooks`): a deleted family's notices lose their
personal data (`notifier.privacy`), and a program with notices is kept for history.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from registry.models import UTCDateTime, timestamp_field


class Notice(SQLModel, table=True):
    """One thing to tell one family, keyed so that any trigger run twice creates nothing new.

    The key is (family, subject, child, kind, cycle): subject is `program:<id>` or
    `broadcast:<id>`, child the child's key ("" for the household), kind `eligible`,
    `deadline-7`, `deadline-2` or `broadcast`, cycle what makes a repeat legitimate (the fiscal
    year for eligibility, the deadline date for reminders).
    """

    __tablename__ = "notice"
    __table_args__ = (
        UniqueConstraint("family_id", "subject", "child_key", "kind", "cycle", name="uq_notice"),
        Index("ix_notice_status_due", "status", "due_at"),
        # Delivery asks "the scheduled notices of these requests": both columns, one index.
        Index("ix_notice_send_status", "send_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    family_id: int = Field(foreign_key="family.id", index=True)
    subject: str = Field(max_length=64)
    program_id: int | None = Field(default=None, foreign_key="program.id", index=True)
    broadcast_id: int | None = Field(default=None, foreign_key="broadcast.id", index=True)
    child_key: str = Field(default="", max_length=32)
    kind: str = Field(max_length=16)
    cycle: str = Field(max_length=16)
    issuer: str = Field(max_length=6, index=True)
    category: str = Field(default="", max_length=64)
    # pending, scheduled, sent, failed, suppressed
    status: str = Field(default="pending", max_length=16)
    reason: str | None = Field(default=None, max_length=200)
    channel: str = Field(default="line", max_length=8)
    deadline: date | None = None
    due_at: datetime = timestamp_field()
    attempts: int = 0
    retry_key: str | None = Field(default=None, max_length=64)
    send_id: int | None = Field(default=None, foreign_key="send_request.id")
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    read_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))

    @classmethod
    async def forget_family(cls, session: AsyncSession, family_id: int) -> None:
        """Registry hook: strip personal data from a deleted family's notices."""
        from notifier.privacy import clear_notice_personal_fields  # it imports this module

        await clear_notice_personal_fields(session, family_id)

    @classmethod
    async def has_program_history(cls, session: AsyncSession, program_id: int) -> bool:
        """Registry hook: families were told about the program."""
        found = await session.exec(select(cls.id).where(cls.program_id == program_id).limit(1))
        return found.first() is not None


class SendRequest(SQLModel, table=True):
    """One request to a channel (a LINE push or multicast, an app callback), stored with its
    idempotency key before it is sent, so a retry reuses key and body."""

    __tablename__ = "send_request"

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=8)
    retry_key: str = Field(max_length=64, unique=True)
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", max_length=16)  # pending, sent, failed
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)
    accepted_request_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = timestamp_field()
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class Broadcast(SQLModel, table=True):
    """A staff message to a segment of one municipality's families."""

    __tablename__ = "broadcast"

    id: int | None = Field(default=None, primary_key=True)
    issuer: str = Field(max_length=6, foreign_key="municipality.code")
    message: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    segment: str = Field(default="true", max_length=4000)
    send_at: datetime = timestamp_field()
    status: str = Field(default="scheduled", max_length=16)  # scheduled, done, cancelled
    recipients: int = 0
    created_at: datetime = timestamp_field()
