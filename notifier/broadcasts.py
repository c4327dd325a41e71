"""Staff broadcasts: one message to the families of a municipality that match a segment rule.

A broadcast is recorded once, with one `broadcast` notice per matching family (subject
`broadcast:<id>`, cycle the id), through the ledger's idempotent insert; the notices then go
out through the normal delivery (`notifier.planning.plan`). A notice due later is recorded as
`scheduled` with `due_at` = the send time, because `plan` takes every `pending` notice at once.

Who matches is decided as the sweep decides it: the municipality's families are read in pages
straight into columns (`notifier.sweep.read_columns`) and the segment is evaluated on the column
engine (`notifier.sweep.evaluate_plans`); a segment the engine does not vectorise
(`rules.columns.fallback_reason`) is evaluated family by family, with the same answer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from notifier.ledger import NoticeDraft, record_notices
from notifier.models import Broadcast, Notice
from notifier.sweep import Recipient, evaluate_plans, read_columns
from registry.models import Family
from rules.evaluate import CompiledProgram
from rules.language import CompiledRule

log = logging.getLogger(__name__)

KIND = "broadcast"
CATEGORY = "broadcast"
BATCH = 5000
TOKYO = ZoneInfo("Asia/Tokyo")


@dataclass(frozen=True, slots=True)
class BroadcastResult:
    """What a broadcast (or its dry run) reached."""

    id: int | None
    recipients: int
    new: int
    status: str


def subject_for_broadcast(broadcast_id: int) -> str:
    """The subject of notices of a broadcast."""
    return f"broadcast:{broadcast_id}"


def broadcast_payload(title: dict[str, Any] | None, text: dict[str, Any]) -> dict[str, Any]:
    """The payload every notice of a broadcast shares (identical bodies multicast together)."""
    return {"title": title, "text": text, "kind": KIND, "category": CATEGORY}


async def matching_families(
    session: AsyncSession, issuer: str, rule: CompiledRule, today: date
) -> list[Recipient]:
    """Consented, active families of municipality `issuer` for which `rule` definitely holds
    (UNKNOWN is not told), in id order; evaluated on columns."""
    where = [
        col(Family.state) == "active",
        col(Family.consented_at).is_not(None),
        col(Family.municipality) == issuer,
    ]
    segment = CompiledProgram(id=KIND, rule=rule, per_child=False)
    found: list[Recipient] = []
    fallback: str | None = None
    evaluations = 0
    after = 0
    while True:
        batch = await read_columns(
            session, where, after=after, limit=BATCH, today=today, zone=TOKYO
        )
        if not batch.ids:
            break
        evaluation = evaluate_plans([(0, segment, issuer)], batch.columns)
        found.extend(batch.families[p] for p, _ in evaluation.results.get(0, ()))
        if 0 in evaluation.fallbacks:
            fallback = evaluation.fallbacks[0].reason
            evaluations += evaluation.fallbacks[0].evaluations
        after = batch.ids[-1]
    if fallback is not None:
        log.info(
            "broadcast segment evaluated per family",
            extra={"issuer": issuer, "reason": fallback, "evaluations": evaluations},
        )
    return found


async def create_broadcast(
    session: AsyncSession,
    *,
    issuer: str,
    title: dict[str, Any] | None,
    text: dict[str, Any],
    segment: str,
    rule: CompiledRule,
    send_at: datetime,
    now: datetime,
    today: date,
    dry_run: bool = False,
) -> BroadcastResult:
    """Count (dry run) or store a broadcast and record its notices; the caller commits."""
    families = await matching_families(session, issuer, rule, today)
    if dry_run:
        return BroadcastResult(id=None, recipients=len(families), new=0, status="dry_run")
    row = Broadcast(
        issuer=issuer,
        message={"title": title, "text": text},
        segment=segment,
        send_at=send_at,
        status="scheduled",
        recipients=len(families),
        created_at=now,
    )
    session.add(row)
    await session.flush()
    assert row.id is not None
    new = await record_broadcast_notices(session, row, families, now=now)
    log.info(
        "broadcast recorded",
        extra={"broadcast": row.id, "issuer": issuer, "recipients": len(families), "new": new},
    )
    return BroadcastResult(id=row.id, recipients=len(families), new=new, status=row.status)


async def record_broadcast_notices(
    session: AsyncSession, broadcast: Broadcast, families: Sequence[Recipient], *, now: datetime
) -> int:
    """One notice per family (a repeat records nothing new); how many were new."""
    assert broadcast.id is not None
    subject = subject_for_broadcast(broadcast.id)
    message = broadcast.message or {}
    payload = broadcast_payload(message.get("title"), message.get("text") or {})
    due_at = broadcast.send_at.astimezone(UTC)
    status = "scheduled" if due_at > now else "pending"
    drafts = [
        NoticeDraft(
            family_id=family.id,
            subject=subject,
            program_id=None,
            child_key="",
            kind=KIND,
            cycle=str(broadcast.id),
            issuer=broadcast.issuer,
            category=CATEGORY,
            channel=family.channel,
            deadline=None,
            due_at=due_at,
            status=status,
            payload=payload,
        )
        for family in families
    ]
    new = await record_notices(session, drafts)
    notice = Notice.__table__  # type: ignore[attr-defined]
    connection = await session.connection()
    await connection.execute(
        update(notice)
        .where(notice.c.subject == subject, notice.c.broadcast_id.is_(None))
        .values(broadcast_id=broadcast.id)
    )
    return new
