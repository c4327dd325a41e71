"""SQLModel tables of the bot: handled webhook events and the parents' reviews.

Both declare registry hooks (`registry.hooks`): a deleted family's reviews stay as anonymous
ratings, and webhook event ids are forgotten after their retention.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, delete
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from registry.models import timestamp_field


class Review(SQLModel, table=True):
    """A rating of the service; stays (without its comment) when the family is deleted."""

    __tablename__ = "review"

    id: int | None = Field(default=None, primary_key=True)
    family_id: int | None = Field(default=None, foreign_key="family.id", index=True)
    service: str = Field(default="bot", max_length=32)
    rating: int
    comment: str | None = Field(default=None, max_length=1000)
    # Item-specific questions of the service rated: {question id: 1-5}; no personal data.
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The municipality of the family when it rated (None before consent), for staff's views.
    municipality: str | None = Field(default=None, max_length=6)
    created_at: datetime = timestamp_field()

    @classmethod
    async def forget_family(cls, session: AsyncSession, family_id: int) -> None:
        """Registry hook: the family's reviews stay as ratings, without family or comment."""
        reviews = await session.exec(select(cls).where(cls.family_id == family_id))
        for review in reviews.all():
            review.family_id = None
            review.comment = None
            session.add(review)


class WebhookEvent(SQLModel, table=True):
    """A LINE webhook event already handled (the durable half of de-duplication)."""

    __tablename__ = "webhook_event"

    event_id: str = Field(primary_key=True, max_length=64)
    received_at: datetime = timestamp_field()

    @classmethod
    async def forget_before(cls, session: AsyncSession, before: datetime) -> int:
        """Registry hook: forget event ids received before `before`; how many."""
        result = await session.exec(
            delete(cls).where(col(cls.received_at) < before)  # type: ignore[call-overload]
        )
        return int(result.rowcount or 0)


class QualityEntry(SQLModel, table=True):
    """ "You said, we did": what parents asked for and what staff changed, shown on /quality."""

    __tablename__ = "quality_entry"

    id: int | None = Field(default=None, primary_key=True)
    service: str = Field(max_length=32)
    issuer: str = Field(max_length=6)
    said_ja: str = Field(max_length=500)
    said_en: str = Field(default="", max_length=500)
    did_ja: str = Field(max_length=1000)
    did_en: str = Field(default="", max_length=1000)
    done_on: date | None = None
    created_by: str = Field(default="", max_length=254)
    created_at: datetime = timestamp_field()
