"""The notice ledger: one row per thing to tell one family, written so that repeats are no-ops.

A notice is keyed by (family, subject, child, kind, cycle) under the unique constraint
`uq_notice`; every writer goes through `record_notices`, an INSERT ... ON CONFLICT DO NOTHING, so
running any trigger twice creates nothing new. Functions take a session; the caller owns the
transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, Date, Integer, case, func, literal_column, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from notifier.models import Notice
from registry.models import Child, utcnow

STATUSES = ("pending", "scheduled", "sent", "failed", "suppressed")
SUPPRESSION_REASONS = ("preference", "blocked", "quota", "expired")
KINDS = ("eligible", "deadline-7", "deadline-2", "broadcast")

TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"scheduled", "sent", "failed", "suppressed"}),
    # Back to pending when a schedule is dropped (quiet hours or the digest time moved).
    "scheduled": frozenset({"pending", "sent", "failed", "suppressed"}),
    # A failed send is retried by scheduling it again, with the same retry key.
    "failed": frozenset({"scheduled", "suppressed"}),
    "sent": frozenset(),
    "suppressed": frozenset(),
}
"""Allowed status changes; sent and suppressed are final."""

CHUNK = 500
"""Rows per INSERT: 500 rows of ~20 columns stay far below the bind-parameter limits of SQLite
(32,766) and asyncpg (32,767)."""

NoticeKey = tuple[int, str, str, str, str]
"""(family_id, subject, child_key, kind, cycle): the unique key of a notice."""


class InvalidTransition(ValueError):
    """A status change the notice lifecycle does not allow."""


@dataclass(slots=True)
class NoticeDraft:
    """A notice about to be recorded (plain data: no ORM object per row)."""

    family_id: int
    subject: str
    program_id: int | None
    child_key: str
    kind: str
    cycle: str
    issuer: str
    category: str
    channel: str
    deadline: date | None
    due_at: datetime
    status: str = "pending"
    reason: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> NoticeKey:
        """The ledger's unique key of this notice."""
        return (self.family_id, self.subject, self.child_key, self.kind, self.cycle)

    def row(self, stamp: datetime) -> dict[str, Any]:
        """The row to insert; `stamp` is the creation time."""
        return {
            "family_id": self.family_id,
            "subject": self.subject,
            "program_id": self.program_id,
            "broadcast_id": None,
            "child_key": self.child_key,
            "kind": self.kind,
            "cycle": self.cycle,
            "issuer": self.issuer,
            "category": self.category,
            "status": self.status,
            "reason": self.reason,
            "channel": self.channel,
            "deadline": self.deadline,
            "due_at": self.due_at,
            "attempts": 0,
            "retry_key": None,
            "send_id": None,
            "payload": self.payload,
            "created_at": stamp,
            "updated_at": stamp,
        }


def subject_for_program(program_id: int) -> str:
    """The subject of notices about a program."""
    return f"program:{program_id}"


def child_key(child: Child | date) -> str:
    """The key of a child in the ledger: the birth date in ISO form.

    A child has no identity we could keep across re-registration (the bot replaces the children
    on every profile edit), but the birth date survives it, so a re-entered child is not told
    twice. Twins share the key and therefore one notice, which names "your child born <month>"
    and so fits both. The key is personal data:
    `notifier.privacy.clear_notice_personal_fields` removes it.
    """
    birth = child if isinstance(child, date) else child.birth_date
    return birth.isoformat()


def _insert(session: AsyncSession) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else ""
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"the notice ledger needs SQLite or PostgreSQL, not {dialect!r}")


async def record_new(session: AsyncSession, rows: Sequence[NoticeDraft]) -> list[NoticeKey]:
    """Insert drafts, skipping any whose key is already recorded; the keys that were new."""
    if not rows:
        return []
    table = Notice.__table__  # type: ignore[attr-defined]
    statement = (
        _insert(session)(table)
        .on_conflict_do_nothing(
            index_elements=["family_id", "subject", "child_key", "kind", "cycle"]
        )
        # RETURNING lists only the rows actually inserted, on both databases.
        .returning(
            table.c.family_id, table.c.subject, table.c.child_key, table.c.kind, table.c.cycle
        )
    )
    await session.flush()
    connection = await session.connection()
    stamp = utcnow()
    new: list[NoticeKey] = []
    for start in range(0, len(rows), CHUNK):
        chunk = [draft.row(stamp) for draft in rows[start : start + CHUNK]]
        # One statement, compiled once, many parameter sets: SQLAlchemy's "insertmanyvalues"
        # sends them as multi-row INSERTs (compiling a 500-row VALUES clause per chunk instead
        # costs more than the database's own work).
        result = await connection.execute(statement, chunk)
        new.extend(tuple(r) for r in result.all())  # type: ignore[misc]
    return new


async def record_notices(session: AsyncSession, rows: Sequence[NoticeDraft]) -> int:
    """Insert many notices at once (ON CONFLICT DO NOTHING); how many were new."""
    return len(await record_new(session, rows))


EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
CODE_SHIFT = 1 << 20
"""An eligibility notice as one integer: family_id * CODE_SHIFT + the ordinal of the child's
birth date (`date.toordinal`; 0 for a household notice). Ordinals stay below 2**20 until the
year 2871."""


async def recorded_eligible(
    session: AsyncSession, first: int, last: int, *, subjects: Sequence[str] | None, cycle: str
) -> dict[str, np.ndarray]:
    """The eligibility notices of `cycle` recorded for families with ids from `first` to
    `last` (optionally about some subjects only), as sorted codes (`CODE_SHIFT`) per subject.

    The database computes the codes and aggregates them per subject (an array on PostgreSQL,
    a comma-separated text on SQLite): a daily sweep reads every key it would write, millions
    of them, and one value per subject costs nothing per notice. A child key that is no date
    (erased) can match no notice to draft and is left out."""
    notice = Notice.__table__  # type: ignore[attr-defined]
    dialect = session.bind.dialect.name if session.bind is not None else ""
    key = notice.c.child_key
    if dialect == "postgresql":
        # Days since 1970-01-01 plus that day's ordinal (a date bound as a parameter would
        # travel as -infinity for year 1).
        ordinal = func.cast(key, Date) - literal_column("DATE '1970-01-01'") + EPOCH_ORDINAL
    else:
        ordinal = func.cast(func.julianday(key) - 1721424.5, Integer)
    code = func.cast(notice.c.family_id, BigInteger) * CODE_SHIFT + case(
        (key == "", 0), else_=ordinal
    )
    aggregate = func.array_agg(code) if dialect == "postgresql" else func.group_concat(code)
    statement = (
        select(notice.c.subject, aggregate)
        .where(
            notice.c.family_id >= first,
            notice.c.family_id <= last,
            notice.c.kind == "eligible",
            notice.c.cycle == cycle,
            or_(key == "", key.like("____-__-__")),
        )
        .group_by(notice.c.subject)
    )
    if subjects is not None:
        statement = statement.where(notice.c.subject.in_(list(subjects)))
    connection = await session.connection()
    found: dict[str, np.ndarray] = {}
    for subject, codes in (await connection.execute(statement)).all():
        if isinstance(codes, str):
            values = np.array(codes.split(","), dtype=np.int64)
        else:
            values = np.asarray(codes or [], dtype=np.int64)
        found[subject] = np.sort(values)
    return found


async def recorded_keys(
    session: AsyncSession,
    first: int,
    last: int,
    *,
    subjects: Sequence[str] | None = None,
    cycles: Sequence[str] | None = None,
) -> set[NoticeKey]:
    """The keys already recorded for families with ids from `first` to `last` (optionally
    about some subjects, of some cycles only), read on the core: a daily sweep reads every
    key it would write."""
    notice = Notice.__table__  # type: ignore[attr-defined]
    statement = select(  # type: ignore[call-overload]
        notice.c.family_id, notice.c.subject, notice.c.child_key, notice.c.kind, notice.c.cycle
    ).where(notice.c.family_id >= first, notice.c.family_id <= last)
    if subjects is not None:
        statement = statement.where(notice.c.subject.in_(list(subjects)))
    if cycles is not None:
        statement = statement.where(notice.c.cycle.in_(list(cycles)))
    connection = await session.connection()
    return set(map(tuple, (await connection.execute(statement)).all()))  # type: ignore[arg-type]


def mark(notice: Notice, status: str, reason: str | None = None) -> Notice:
    """Move a notice to a new status; suppression needs one of SUPPRESSION_REASONS."""
    if status not in STATUSES:
        raise InvalidTransition(f"unknown notice status {status!r}")
    if status not in TRANSITIONS.get(notice.status, frozenset()):
        raise InvalidTransition(f"a {notice.status} notice cannot become {status}")
    if status == "suppressed" and reason not in SUPPRESSION_REASONS:
        raise InvalidTransition(
            f"suppression needs a reason among {', '.join(SUPPRESSION_REASONS)}, got {reason!r}"
        )
    now = utcnow()
    notice.status = status
    # The column holds 200 characters; a failure message may be longer.
    notice.reason = reason[:200] if reason else None
    notice.updated_at = now
    if status == "sent":
        notice.sent_at = now
    return notice


async def notices_of(session: AsyncSession, family_id: int) -> list[Notice]:
    """A family's notices, oldest first."""
    result = await session.exec(
        select(Notice)
        .where(Notice.family_id == family_id)
        .order_by(col(Notice.created_at), col(Notice.id))
    )
    return list(result.all())


async def mark_told_in_chat(session: AsyncSession, family_id: int, now: datetime) -> int:
    """The family was just shown its programs in the chat: its pending "eligible" notices
    count as sent, so the same news is not pushed again; how many."""
    notice = Notice.__table__  # type: ignore[attr-defined]
    connection = await session.connection()
    result = await connection.execute(
        update(notice)
        .where(
            notice.c.family_id == family_id,
            notice.c.kind == "eligible",
            notice.c.status == "pending",
            notice.c.send_id.is_(None),
        )
        .values(status="sent", reason="shown in chat", sent_at=now, updated_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
