"""Parents' ratings of the service (1-5) with an optional comment; summaries hold no personal
data. Functions take a session; the caller owns the transaction."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import Review
from registry.models import Family


async def add_review(
    session: AsyncSession, family: Family | None, rating: int, comment: str | None, service: str
) -> Review:
    """Store a rating (1-5) with an optional comment."""
    if not 1 <= rating <= 5:
        raise ValueError("a rating is 1 to 5")
    review = Review(
        family_id=family.id if family else None,
        rating=rating,
        comment=(comment or None) and comment[:1000],
        service=service,
    )
    session.add(review)
    await session.flush()
    return review


async def set_review_comment(
    session: AsyncSession, family: Family | None, review_id: int, comment: str
) -> bool:
    """Attach a comment to one of this family's reviews (None: an anonymous review, given
    before consent); False when it is not theirs."""
    review = await session.get(Review, review_id)
    if review is None or review.family_id != (family.id if family else None):
        return False
    review.comment = comment[:1000]
    session.add(review)
    await session.flush()
    return True


async def review_summary(session: AsyncSession) -> list[tuple[str, float, int]]:
    """(service, average rating, count) per service; no personal data."""
    result = await session.exec(
        select(Review.service, func.avg(Review.rating), func.count())  # type: ignore[call-overload]
        .group_by(Review.service)
        .order_by(Review.service)
    )
    return [(service, float(avg), int(count)) for service, avg, count in result.all()]
