"""Staff broadcasts: one message to the families of a municipality that match a segment rule.

A broadcast is recorded once, with one `broadcast` notice per matching family (subject
`broadcast:<id>`, cycle the id), through the ledger's idempotent insert; the notices then go
out through the normal delivery (`notifier.planning.plan`). A notice due later is recorded as
`scheduled` with `due_at` = the send time, because `plan` takes every `pending` notice at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from notifier.ledger import NoticeDraft, record_notices
from notifier.models import Broadcast, Notice
from notifier.sweep import FamilyView, read_batch
from registry.models import Family
from rules.language import CompiledRule

log = logging.getLogger(__name__)

KIND = "broadcast"
CATEGORY = "broadcast"
BATCH = 1000
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
) -> list[FamilyView]:
    """Consented, active families of municipality `issuer` for which `rule` definitely holds."""
    where = [
        col(Family.state) == "active",
        col(Family.consented_at).is_not(None),
        col(Family.municipality) == issuer,
    ]
    found: list[FamilyView] = []
    after = 0
    while True:
        batch = await read_batch(session, where, after=after, limit=BATCH, today=today, zone=TOKYO)
        if not batch.ids:
            return found
        found.extend(view for view in batch.families if rule.evaluate(view.context))
        after = batch.ids[-1]


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
    session: AsyncSession, broadcast: Broadcast, families: list[FamilyView], *, now: datetime
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
            family_id=view.id,
            subject=subject,
            program_id=None,
            child_key="",
            kind=KIND,
            cycle=str(broadcast.id),
            issuer=broadcast.issuer,
            category=CATEGORY,
            channel=view.channel,
            deadline=None,
            due_at=due_at,
            status=status,
            payload=payload,
        )
        for view in families
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
