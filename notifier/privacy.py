"""What a notice keeps when its family deletes its personal data (the `Notice.forget_family`
registry hook): counts per program and kind, nothing that tells of the person."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, and_, case, cast, literal, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from notifier.models import Broadcast, Notice
from registry.models import Program, utcnow


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
