"""Parents' ratings of each service (overall 1-5, then the service's item-specific questions
1-5) with an optional comment; summaries hold no personal data. Functions take a session; the
caller owns the transaction.

The services and their questions are data (`SERVICES`): the LINE flow asks them, the public
dashboard (`bot.quality`) publishes them. A question's id never changes once released (it is
the key of `review.answers` and of the open data).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import Review
from notifier.models import Notice
from registry.models import Family

OFFER_EVERY_DAYS = 30  # Offer to rate a service at most once a month per family.


@dataclass(frozen=True)
class Question:
    """One item-specific question (answered 1-5)."""

    id: str
    ja: str
    en: str
    # Asked only once the family could judge it: "tour_reminder" (a tour reminder was sent).
    only_after: str = ""


@dataclass(frozen=True)
class Service:
    """A service parents rate: its names and its item-specific questions."""

    id: str
    ja: str
    en: str
    questions: tuple[Question, ...]
    short_en: str = ""  # for a button label (≤ 20 characters with "Rate ")

    def question(self, question_id: str) -> Question | None:
        """The question with this id, or None."""
        return next((q for q in self.questions if q.id == question_id), None)

    def name(self, lang: str) -> str:
        """The service's name in `lang`."""
        return self.en if lang == "en" else self.ja


SERVICES: tuple[Service, ...] = (
    Service(
        "bot",
        "はぐくみ（LINE）",
        "Hagukumi on LINE",
        (
            Question("ease", "使いやすさ", "Ease of use"),
            Question("answers_clarity", "返答のわかりやすさ", "Clarity of the answers"),
        ),
        "Hagukumi",
    ),
    Service(
        "notices",
        "お知らせ",
        "Notices",
        (
            Question("useful", "役に立った", "Usefulness"),
            Question("timing", "タイミング", "Timing"),
            Question("clarity", "わかりやすさ", "Clarity"),
        ),
        "notices",
    ),
    Service(
        "daycare_search",
        "保育園さがし",
        "Daycare search",
        (
            Question("findability", "探しやすさ", "Ease of finding"),
            Question("accuracy", "情報の正確さ", "Accuracy of the information"),
        ),
        "daycare search",
    ),
    Service(
        "tours",
        "見学予約",
        "Tour booking",
        (
            Question("booking_ease", "予約のしやすさ", "Ease of booking"),
            Question("slot_choice", "日時の選択肢", "Choice of dates and times"),
            Question(
                "reminder", "リマインドの役立ち", "Helpfulness of reminders", "tour_reminder"
            ),
        ),
        "tour booking",
    ),
    Service(
        "applications",
        "入所申込",
        "Daycare application",
        (
            Question("clarity", "わかりやすさ", "Clarity"),
            Question("effort", "入力の手間", "Effort of filling in"),
            Question("documents", "必要書類の案内", "Guidance on documents"),
        ),
        "application",
    ),
)
SERVICE_IDS = tuple(s.id for s in SERVICES)


def service_of(service_id: str | None) -> Service | None:
    """The service with this id, or None."""
    return next((s for s in SERVICES if s.id == service_id), None)


TOUR_REMINDER_KIND = "tour-reminder"  # integrations.daycare.notices.TOUR_REMINDER


async def tour_reminder_sent(session: AsyncSession, family_id: int | None) -> bool:
    """A tour reminder was sent to this family (so it can judge reminders)."""
    if family_id is None:
        return False
    result = await session.exec(
        select(Notice.id)
        .where(Notice.family_id == family_id, Notice.kind == TOUR_REMINDER_KIND)
        .where(col(Notice.sent_at).is_not(None))
        .limit(1)
    )
    return result.first() is not None


async def questions_for(
    session: AsyncSession, family_id: int | None, service: Service
) -> tuple[Question, ...]:
    """The service's questions this family can answer now (a question about reminders only
    once one was sent); the ids stay those of `SERVICES`."""
    asked: list[Question] = []
    for question in service.questions:
        if question.only_after == "tour_reminder" and not await tour_reminder_sent(
            session, family_id
        ):
            continue
        asked.append(question)
    return tuple(asked)


async def add_review(
    session: AsyncSession,
    family: Family | None,
    rating: int,
    comment: str | None,
    service: str,
    *,
    now: datetime | None = None,
) -> Review:
    """Store a rating (1-5) with an optional comment; the family's municipality is kept with
    it (None for an anonymous rating, given before consent)."""
    if not 1 <= rating <= 5:
        raise ValueError("a rating is 1 to 5")
    review = Review(
        family_id=family.id if family else None,
        rating=rating,
        comment=(comment or None) and comment[:1000],
        service=service,
        municipality=family.municipality if family else None,
    )
    if now is not None:
        review.created_at = now
    session.add(review)
    await session.flush()
    return review


async def own_review(
    session: AsyncSession, family: Family | None, review_id: int
) -> Review | None:
    """One of this family's reviews (None: an anonymous review, given before consent)."""
    review = await session.get(Review, review_id)
    if review is None or review.family_id != (family.id if family else None):
        return None
    return review


async def set_answer(review: Review, session: AsyncSession, question_id: str, value: int) -> None:
    """Store one item-specific answer (1-5) on a review at once."""
    if not 1 <= value <= 5:
        raise ValueError("an answer is 1 to 5")
    # A new dict: JSON columns only notice reassignment.
    review.answers = {**(review.answers or {}), question_id: value}
    session.add(review)
    await session.flush()


async def set_review_comment(
    session: AsyncSession, family: Family | None, review_id: int, comment: str
) -> bool:
    """Attach a comment to one of this family's reviews (None: an anonymous review, given
    before consent); False when it is not theirs."""
    review = await own_review(session, family, review_id)
    if review is None:
        return False
    review.comment = comment[:1000]
    session.add(review)
    await session.flush()
    return True


async def rated_lately(session: AsyncSession, family_id: int, service: str, now: datetime) -> bool:
    """The family rated this service within the last OFFER_EVERY_DAYS days."""
    since = now - timedelta(days=OFFER_EVERY_DAYS)
    result = await session.exec(
        select(Review.id)
        .where(Review.family_id == family_id, Review.service == service)
        .where(col(Review.created_at) >= since)
        .limit(1)
    )
    return result.first() is not None


async def review_summary(session: AsyncSession) -> list[tuple[str, float, int]]:
    """(service, average rating, count) per service; no personal data."""
    result = await session.exec(
        select(Review.service, func.avg(Review.rating), func.count())  # type: ignore[call-overload]
        .group_by(Review.service)
        .order_by(Review.service)
    )
    return [(service, float(avg), int(count)) for service, avg, count in result.all()]
