"""The family repository: households, their children, consent, blocking and deletion.

Every function takes a session; the caller owns the transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import String, and_, case, cast, delete, func, literal, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from registry.models import (
    Broadcast,
    Child,
    Family,
    Notice,
    Program,
    ProgramAction,
    Review,
    utcnow,
)
from rules.profile import ChildInput, FamilyInput

PROFILE_FIELDS = (
    "municipality",
    "pregnant",
    "due_date",
    "single_parent",
    "household_income",
    "resident_tax_exempt",
    "public_assistance",
    "language",
)


async def by_line_user(session: AsyncSession, line_user_id: str) -> Family | None:
    """The family of a LINE user, if any."""
    result = await session.exec(select(Family).where(Family.line_user_id == line_user_id))
    return result.first()


async def get_or_create_line_family(session: AsyncSession, line_user_id: str) -> Family:
    """The family of a LINE user, created (holding nothing but the user ID) on first contact."""
    family = await by_line_user(session, line_user_id)
    if family is None:
        family = Family(line_user_id=line_user_id, state="new")
        session.add(family)
        await session.flush()
    return family


async def children_of(session: AsyncSession, family_id: int) -> list[Child]:
    """A family's children, oldest first."""
    result = await session.exec(
        select(Child)
        .where(Child.family_id == family_id)
        .order_by(col(Child.birth_date), col(Child.id))
    )
    return list(result.all())


def touch(family: Family) -> None:
    """Mark a family changed now."""
    family.updated_at = utcnow()


async def record_consent(session: AsyncSession, family: Family) -> Family:
    """The family agreed to the privacy notice: from now on its data may be stored."""
    family.consented_at = family.consented_at or utcnow()
    family.state = "active"
    family.blocked_at = None
    touch(family)
    session.add(family)
    await session.flush()
    return family


async def update_profile(session: AsyncSession, family: Family, **fields: Any) -> Family:
    """Set household fields (only those of the profile vocabulary)."""
    for name, value in fields.items():
        if name not in PROFILE_FIELDS:
            raise ValueError(f"not a household field: {name}")
        setattr(family, name, value)
    touch(family)
    session.add(family)
    await session.flush()
    return family


async def update_preferences(
    session: AsyncSession, family: Family, **changes: Any
) -> dict[str, Any]:
    """Merge changes into the notification preferences (a new dict: JSON columns only notice
    reassignment)."""
    merged = {**(family.preferences or {}), **changes}
    family.preferences = merged
    touch(family)
    session.add(family)
    await session.flush()
    return merged


async def replace_children(
    session: AsyncSession, family: Family, children: Sequence[ChildInput]
) -> list[Child]:
    """Replace a family's children with these."""
    assert family.id is not None
    await session.exec(delete(Child).where(col(Child.family_id) == family.id))  # type: ignore[call-overload]
    rows = [
        Child(
            family_id=family.id,
            birth_date=c.birth_date,
            disability=c.disability,
            daycare=c.daycare,
        )
        for c in children
    ]
    session.add_all(rows)
    touch(family)
    session.add(family)
    await session.flush()
    return rows


async def add_child(
    session: AsyncSession, family: Family, birth_date: date, *, daycare: str = "none"
) -> Child:
    """Add a child."""
    assert family.id is not None
    child = Child(family_id=family.id, birth_date=birth_date, daycare=daycare)
    session.add(child)
    touch(family)
    session.add(family)
    await session.flush()
    return child


async def remove_child(session: AsyncSession, family: Family, child_id: int) -> bool:
    """Remove one child of this family; False when it is not theirs."""
    child = await session.get(Child, child_id)
    if child is None or child.family_id != family.id:
        return False
    await session.delete(child)
    touch(family)
    session.add(family)
    await session.flush()
    return True


async def profile_of(session: AsyncSession, family: Family) -> FamilyInput | None:
    """The family as rules see it (input form); None until it has a municipality."""
    if family.municipality is None or family.id is None:
        return None
    children = await children_of(session, family.id)
    return FamilyInput(
        municipality=family.municipality,
        children=[
            ChildInput(birth_date=c.birth_date, disability=c.disability, daycare=c.daycare)  # type: ignore[arg-type]
            for c in children
        ],
        pregnant=family.pregnant,
        due_date=family.due_date if family.pregnant else None,
        single_parent=family.single_parent,
        household_income=family.household_income,
        resident_tax_exempt=family.resident_tax_exempt,
        public_assistance=family.public_assistance,
        language=family.language,  # type: ignore[arg-type]
    )


async def mark_blocked(session: AsyncSession, family: Family) -> Family:
    """The user blocked the account: nothing is sent any more; the data is kept."""
    family.state = "blocked"
    family.blocked_at = utcnow()
    touch(family)
    session.add(family)
    await session.flush()
    return family


async def mark_unblocked(session: AsyncSession, family: Family) -> Family:
    """The user followed again: back to active if it had consented, else new."""
    family.state = "active" if family.consented_at else "new"
    family.blocked_at = None
    touch(family)
    session.add(family)
    await session.flush()
    return family


async def delete_personal_data(session: AsyncSession, family: Family) -> None:
    """Delete a family's personal data for good; anonymous counts (ratings) stay.

    The row itself stays as a tombstone holding no personal field (not even the LINE user
    ID), so counts of families remain right and nothing can be linked back to the person.
    """
    assert family.id is not None
    await session.exec(delete(Child).where(col(Child.family_id) == family.id))  # type: ignore[call-overload]
    await session.exec(
        delete(ProgramAction).where(col(ProgramAction.family_id) == family.id)  # type: ignore[call-overload]
    )
    await clear_notice_personal_fields(session, family.id)
    reviews = await session.exec(select(Review).where(Review.family_id == family.id))
    for review in reviews.all():
        review.family_id = None
        review.comment = None
        session.add(review)
    family.line_user_id = None
    family.state = "deleted"
    family.deleted_at = utcnow()
    family.consented_at = None
    family.onboarded_at = None
    family.blocked_at = None
    family.municipality = None
    family.pregnant = False
    family.due_date = None
    family.single_parent = None
    family.household_income = None
    family.resident_tax_exempt = None
    family.public_assistance = None
    family.preferences = {}
    touch(family)
    session.add(family)
    await session.flush()


async def mark_applied(session: AsyncSession, family: Family, program_id: int) -> bool:
    """Record "I applied" for a program (stops its reminders); False when already recorded."""
    assert family.id is not None
    existing = await session.exec(
        select(ProgramAction).where(
            ProgramAction.family_id == family.id,
            ProgramAction.program_id == program_id,
            ProgramAction.kind == "applied",
        )
    )
    if existing.first() is not None:
        return False
    session.add(ProgramAction(family_id=family.id, program_id=program_id, kind="applied"))
    await session.flush()
    return True


async def applied_programs(session: AsyncSession, family_id: int) -> set[int]:
    """Programs the family said it applied for."""
    result = await session.exec(
        select(ProgramAction.program_id).where(
            ProgramAction.family_id == family_id, ProgramAction.kind == "applied"
        )
    )
    return set(result.all())


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


async def clear_notice_personal_fields(session: AsyncSession, family_id: int) -> int:
    """Strip personal data from a deleted family's notices; how many rows changed.

    The payload (child label, reasons) goes, the child key (a birth date) becomes
    `deleted:<id>` so the unique key stays unique, and per-child deadlines and cycles, which are
    birth dates plus a fixed number of days, are cleared. Notices not yet sent are suppressed
    ("blocked": the family can no longer be reached). Counts per program and kind remain, except
    for programs and segments that tell of a circumstance (see `reveals_circumstance`).
    """
    notice = Notice.__table__  # type: ignore[attr-defined]
    now = utcnow()
    await session.flush()
    connection = await session.connection()
    await connection.execute(
        update(notice)
        .where(
            notice.c.family_id == family_id,
            notice.c.status.in_(["pending", "scheduled", "failed"]),
        )
        .values(status="suppressed", reason="blocked", updated_at=now)
    )
    # One statement: every new child key is unique by id, so no intermediate row can collide.
    per_child = and_(notice.c.child_key != "", notice.c.child_key.not_like("deleted:%"))
    result = await connection.execute(
        update(notice)
        .where(notice.c.family_id == family_id)
        .values(
            payload={},
            child_key=literal("deleted:") + cast(notice.c.id, String),
            cycle=case((per_child, ""), else_=notice.c.cycle),
            deadline=case((per_child, None), else_=notice.c.deadline),
            updated_at=now,
        )
    )
    await _withhold_revealing_subjects(session, family_id, now)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# Household facts a notice's program or segment can give away about a family that left.
CIRCUMSTANCE_FIELDS = re.compile(
    r"\b(single_parent|household_income|resident_tax_exempt|public_assistance|disability)\b"
)
CIRCUMSTANCE_WORDS = (
    "ひとり親",
    "母子",
    "父子",
    "児童扶養手当",
    "養育費",
    "離婚",
    "障害",
    "障がい",
    "生活保護",
    "困窮",
    "貧困",
    "虐待",
    "DV",
    "非課税",
)
WITHHELD = "withheld"


def reveals_circumstance(rule: str, texts: Sequence[str]) -> bool:
    """Whether a program (its rule, name, categories) or a segment tells of a circumstance."""
    return bool(CIRCUMSTANCE_FIELDS.search(rule)) or any(
        word in text for text in texts for word in CIRCUMSTANCE_WORDS
    )


async def _withhold_revealing_subjects(session: AsyncSession, family_id: int, now: Any) -> None:
    """A deleted family's notices about a revealing program or segment keep only their kind.

    That a family once heard of the single-parent allowance says it was a single parent:
    such notices lose their program, broadcast and category (subject `withheld`), so only
    counts remain.
    """
    notice = Notice.__table__  # type: ignore[attr-defined]
    connection = await session.connection()
    rows = await connection.execute(
        select(notice.c.program_id).where(notice.c.family_id == family_id).distinct()
    )
    program_ids = {p for (p,) in rows.all() if p is not None}
    rows = await connection.execute(
        select(notice.c.broadcast_id).where(notice.c.family_id == family_id).distinct()
    )
    broadcast_ids = {b for (b,) in rows.all() if b is not None}
    revealing_programs = []
    if program_ids:
        programs = await session.exec(select(Program).where(col(Program.id).in_(program_ids)))
        for program in programs.all():
            body = program.body or {}
            names = [str(v) for v in (body.get("name") or {}).values() if v]
            texts = [program.name_ja, *program.categories, *names]
            if reveals_circumstance(str(body.get("eligibility", "")), texts):
                revealing_programs.append(program.id)
    revealing_broadcasts = []
    if broadcast_ids:
        broadcasts = await session.exec(
            select(Broadcast).where(col(Broadcast.id).in_(broadcast_ids))
        )
        revealing_broadcasts = [
            b.id for b in broadcasts.all() if reveals_circumstance(b.segment, [])
        ]
    if not revealing_programs and not revealing_broadcasts:
        return
    await connection.execute(
        update(notice)
        .where(
            notice.c.family_id == family_id,
            or_(
                notice.c.program_id.in_(revealing_programs),
                notice.c.broadcast_id.in_(revealing_broadcasts),
            ),
        )
        .values(subject=WITHHELD, program_id=None, broadcast_id=None, category="", updated_at=now)
    )
