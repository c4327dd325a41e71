"""When and how notices go out: plan requests (preferences, quiet hours, digest), then deliver.

`plan` turns due notices into SendRequests: it suppresses what a family must not get, holds
what is too early (quiet hours, the daily digest, one push a day), bundles each family's notices
into one Flex carousel, groups identical LINE bodies into multicasts, and commits every request
with its retry key BEFORE anything is sent. `deliver` sends one stored request with that same
key and body, as often as the worker asks, and records what happened; the exception type of
the channel decides between retrying, failing for good and stopping for the month.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, false, insert, or_, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from notifier import ledger
from notifier.channels.base import (
    Channel,
    Outgoing,
    PermanentSendError,
    QuotaExhausted,
    RetryableSendError,
)
from notifier.messages import app_payload, deadline_of, notice_message
from notifier.models import Notice, SendRequest
from registry.models import AppSubscription, Family

log = logging.getLogger(__name__)

Sessions = async_sessionmaker[AsyncSession]
T = TypeVar("T")
ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

URGENT_DAYS = 2  # a deadline this near is never held for the digest or the daily limit
MULTICAST_MAX = 500  # LINE: at most 500 user IDs a multicast
IN_CHUNK = 1000  # ids per IN (...): far below SQLite's and asyncpg's bind-parameter limits
NO_QUIET = frozenset({"", "none", "off"})
MAX_ERROR = 500  # SendRequest.last_error
MAX_REASON = 200  # Notice.reason


# -- time rules -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window (local time) in which nothing is pushed; may run over midnight."""

    start: time
    end: time

    def end_if_inside(self, local: datetime) -> datetime | None:
        """When the window that `local` falls in ends, or None when `local` is outside."""
        now, today = local.time().replace(tzinfo=None), local.date()
        zone = local.tzinfo
        if self.start < self.end:
            inside = self.start <= now < self.end
            return datetime.combine(today, self.end, tzinfo=zone) if inside else None
        if now >= self.start:
            return datetime.combine(today + timedelta(days=1), self.end, tzinfo=zone)
        if now < self.end:
            return datetime.combine(today, self.end, tzinfo=zone)
        return None


def _clock(value: str) -> time:
    hours, _, minutes = value.strip().partition(":")
    return time(int(hours), int(minutes or 0))


def parse_quiet_hours(value: str | None) -> QuietHours | None:
    """`20:00-08:00` → a window; empty, `none` or `off` (or start = end) → no quiet hours."""
    if value is None or value.strip().lower() in NO_QUIET:
        return None
    start, sep, end = value.partition("-")
    if not sep:
        raise ValueError(f"quiet hours must look like 20:00-08:00, not {value!r}")
    try:
        window = QuietHours(_clock(start), _clock(end))
    except ValueError as exc:
        raise ValueError(f"quiet hours must look like 20:00-08:00, not {value!r}") from exc
    return None if window.start == window.end else window


def parse_digest_at(value: str | None) -> time | None:
    """`09:00` → the daily digest time; `off` (or empty) → each notice as soon as allowed."""
    if value is None or value.strip().lower() in {"", "off", "none"}:
        return None
    try:
        return _clock(value)
    except ValueError as exc:
        raise ValueError(f"the digest time must look like 09:00 or be off, not {value!r}") from exc


def family_quiet_hours(family: Family, default: QuietHours | None) -> QuietHours | None:
    """The family's own quiet hours (`none` for none), else the operator's default."""
    chosen = (family.preferences or {}).get("quiet_hours")
    # The bot stores `none` for "no quiet hours"; empty or absent means the operator's default.
    if not isinstance(chosen, str) or not chosen.strip():
        return default
    try:
        return parse_quiet_hours(chosen)
    except ValueError:
        log.warning("unreadable quiet hours preference", extra={"family": family.id})
        return default


def family_channel(family: Family) -> str:
    """`line` or `app`: the family's choice, else LINE for LINE followers."""
    chosen = (family.preferences or {}).get("channel")
    if chosen in {"line", "app"}:
        return str(chosen)
    return "line" if family.line_user_id else "app"


def categories_off(family: Family) -> set[str]:
    """Categories the family turned off."""
    off = (family.preferences or {}).get("categories_off")
    return {c for c in off if isinstance(c, str)} if isinstance(off, list) else set()


def allowed_from(moment: datetime, quiet: QuietHours | None) -> datetime:
    """The first moment at or after `moment` (local) outside quiet hours."""
    end = quiet.end_if_inside(moment) if quiet else None
    return end or moment


def is_urgent(notice: Notice, today: date) -> bool:
    """A deadline within two days: sent at the next allowed moment, never held for a digest."""
    deadline = deadline_of(notice)
    return deadline is not None and deadline <= today + timedelta(days=URGENT_DAYS)


def _zone(zone: tzinfo | str) -> tzinfo:
    return ZoneInfo(zone) if isinstance(zone, str) else zone


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def _chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- plan -------------------------------------------------------------------------------------


@dataclass
class _Bundle:
    """What one request will carry to one family (or, grouped, to many)."""

    channel: str
    family_id: int
    notices: list[Notice]
    body: dict[str, Any]
    to: str | None = None
    deadline: date = date.max

    @property
    def first_id(self) -> int:
        return min(n.id or 0 for n in self.notices)


@dataclass
class _Request:
    channel: str
    body: dict[str, Any]
    notices: list[Notice] = field(default_factory=list)
    deadline: date = date.max
    first_id: int = 0


async def _due_notices(session: AsyncSession, now: datetime) -> list[Notice]:
    statement = (
        select(Notice)
        .where(
            col(Notice.send_id).is_(None),
            or_(
                col(Notice.status) == "pending",
                and_(col(Notice.status) == "scheduled", col(Notice.due_at) <= now),
            ),
        )
        .order_by(col(Notice.family_id), col(Notice.id))
        # Two planners (a lease hand-over) must never put one notice in two requests.
        .with_for_update(skip_locked=True)
    )
    return list((await session.exec(statement)).all())


async def _lock_for_planning(session: AsyncSession) -> None:
    """Make two planners (a lease hand-over, a slow pass) take turns.

    PostgreSQL locks the due rows (FOR UPDATE SKIP LOCKED). SQLite ignores that, and its
    driver begins a transaction only at the first write, so a planner could read due notices,
    stall, and then overwrite what another planner sent meanwhile. A write that changes nothing
    takes SQLite's write lock at once (like BEGIN IMMEDIATE): the next planner waits for this
    one to commit and then reads what is really still due.
    """
    connection = await session.connection()
    if connection.dialect.name == "sqlite":
        request_table = SendRequest.__table__  # type: ignore[attr-defined]
        await connection.execute(
            update(request_table).where(false()).values(status=request_table.c.status)
        )


async def _pending_line_cost(session: AsyncSession) -> int:
    """Budget messages that LINE requests planned but not yet sent will use (per recipient)."""
    request_table = SendRequest.__table__  # type: ignore[attr-defined]
    rows = await session.execute(
        select(request_table.c.body).where(  # type: ignore[call-overload]
            request_table.c.channel == "line", request_table.c.status == "pending"
        )
    )
    cost = 0
    for (body,) in rows.all():
        to = body.get("to") if isinstance(body, dict) else None
        recipients = len(to) if isinstance(to, list) else 1
        cost += recipients * len((body or {}).get("messages") or [])
    return cost


async def _held_notices(
    session: AsyncSession, family_ids: Sequence[int], now: datetime
) -> list[Notice]:
    """Notices held for later, so that a push going out now can carry them along.

    Broadcasts wait for their own send time: staff chose it, a push going out earlier must not
    take them along.
    """
    found: list[Notice] = []
    for chunk in _chunks(family_ids):
        statement = (
            select(Notice)
            .where(
                col(Notice.family_id).in_(list(chunk)),
                col(Notice.status) == "scheduled",
                col(Notice.send_id).is_(None),
                col(Notice.due_at) > now,
                col(Notice.kind) != "broadcast",
            )
            .with_for_update(skip_locked=True)
        )
        found.extend((await session.exec(statement)).all())
    return found


async def _families(session: AsyncSession, family_ids: Sequence[int]) -> dict[int, Family]:
    found: dict[int, Family] = {}
    for chunk in _chunks(family_ids):
        rows = await session.exec(select(Family).where(col(Family.id).in_(list(chunk))))
        found.update({f.id: f for f in rows.all() if f.id is not None})
    return found


async def _subscriptions(
    session: AsyncSession, family_ids: Sequence[int]
) -> dict[int, AppSubscription]:
    found: dict[int, AppSubscription] = {}
    for chunk in _chunks(family_ids):
        rows = await session.exec(
            select(AppSubscription).where(col(AppSubscription.family_id).in_(list(chunk)))
        )
        found.update({s.family_id: s for s in rows.all()})
    return found


async def pushed_since(
    session: AsyncSession, family_ids: Sequence[int], since: datetime
) -> set[int]:
    """Families that got a push since `since`, or have one planned and not yet sent."""
    found: set[int] = set()
    for chunk in _chunks(family_ids):
        statement = (
            select(Notice.family_id)
            .join(SendRequest, col(SendRequest.id) == col(Notice.send_id))
            .where(
                col(Notice.family_id).in_(list(chunk)),
                or_(
                    and_(col(Notice.status) == "sent", col(Notice.sent_at) >= since),
                    and_(
                        col(Notice.status) == "scheduled",
                        col(SendRequest.status) == "pending",
                        col(SendRequest.created_at) >= since,
                    ),
                ),
            )
            .distinct()
        )
        found.update((await session.exec(statement)).all())
    return found


def _hold(notices: Iterable[Notice], until: datetime, now: datetime) -> int:
    held = 0
    due_at = until.astimezone(UTC)
    for notice in notices:
        if notice.status == "scheduled" and notice.due_at == due_at:
            continue
        notice.status = "scheduled"
        notice.due_at = due_at
        notice.updated_at = now
        held += 1
    return held


def _suppress(notices: Iterable[Notice], reason: str) -> int:
    count = 0
    for notice in notices:
        ledger.mark(notice, "suppressed", reason)
        count += 1
    return count


def _body_key(messages: list[dict[str, Any]]) -> str:
    return json.dumps(messages, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _group(bundles: Sequence[_Bundle]) -> list[_Request]:
    """LINE bundles with identical messages become multicasts of ≤ 500; the rest, pushes."""
    requests: list[_Request] = []
    groups: dict[str, list[_Bundle]] = defaultdict(list)
    for bundle in bundles:
        if bundle.channel == "line":
            groups[_body_key(bundle.body["messages"])].append(bundle)
        else:
            requests.append(
                _Request("app", bundle.body, bundle.notices, bundle.deadline, bundle.first_id)
            )
    for members in groups.values():
        members.sort(key=lambda b: b.to or "")
        for chunk in _chunks(members, MULTICAST_MAX):
            messages = chunk[0].body["messages"]
            if len(chunk) == 1:
                body = {"kind": "push", "to": chunk[0].to, "messages": messages}
            else:
                body = {"kind": "multicast", "to": [b.to for b in chunk], "messages": messages}
            requests.append(
                _Request(
                    "line",
                    body,
                    [n for b in chunk for n in b.notices],
                    min(b.deadline for b in chunk),
                    min(b.first_id for b in chunk),
                )
            )
    requests.sort(key=lambda r: (r.deadline, r.first_id))
    return requests


def _within_budget(bundles: list[_Bundle], line_budget: int | None) -> list[_Bundle]:
    """Nearest deadlines first while LINE's budget (messages × recipients) lasts."""
    if line_budget is None:
        return bundles
    kept: list[_Bundle] = []
    left = line_budget
    for bundle in sorted(bundles, key=lambda b: (b.deadline, b.first_id)):
        if bundle.channel != "line":
            kept.append(bundle)
            continue
        cost = len(bundle.body["messages"])
        if cost <= left:
            kept.append(bundle)
            left -= cost
    return kept


async def plan(
    sessions: Sessions,
    *,
    now: datetime,
    zone: tzinfo | str,
    quiet_hours: str,
    digest_at: str,
    max_requests: int | None = None,
    line_budget: int | None = None,
    bodies: dict[int, dict[str, Any]] | None = None,
) -> list[int]:
    """Turn due notices into committed SendRequests; their ids, nearest deadline first.

    Notices a family must not get are suppressed (blocked, preference, expired); notices that
    are too early are held (status scheduled, due_at the moment they may go). `max_requests`
    caps the requests made and `line_budget` the LINE messages they count (LINE's monthly
    quota, per recipient); either way nearer deadlines go first and the rest stay as they are.
    `bodies`, when given, receives each new request's body by id, so a caller that sends at
    once need not read them back.
    """
    now = _aware(now)
    zone = _zone(zone)
    default_quiet = parse_quiet_hours(quiet_hours)
    digest = parse_digest_at(digest_at)
    local = now.astimezone(zone)
    today = local.date()
    day_start = datetime.combine(today, time(0), tzinfo=zone).astimezone(UTC)
    tally: Counter[str] = Counter()
    async with sessions() as session, session.begin():
        await _lock_for_planning(session)
        due = await _due_notices(session, now)
        if not due:
            return []
        family_ids = sorted({n.family_id for n in due})
        families = await _families(session, family_ids)
        pushed = await pushed_since(session, family_ids, day_start)
        held_by_family: dict[int, list[Notice]] = defaultdict(list)
        for notice in await _held_notices(session, family_ids, now):
            held_by_family[notice.family_id].append(notice)
        due_by_family: dict[int, list[Notice]] = defaultdict(list)
        for notice in due:
            due_by_family[notice.family_id].append(notice)
        app_families = [fid for fid, f in families.items() if family_channel(f) == "app"]
        subscriptions = await _subscriptions(session, app_families)

        bundles: list[_Bundle] = []
        for family_id in family_ids:
            family = families.get(family_id)
            due_here = due_by_family[family_id]
            held_here = held_by_family.get(family_id, [])
            everything = [*due_here, *held_here]
            channel = family_channel(family) if family is not None else "line"
            if (
                channel == "app"
                and family is not None
                and family.line_user_id
                and family_id not in subscriptions
            ):
                channel = "line"  # chose the app but none is registered: LINE reaches them
            if (
                family is None
                or family.state != "active"
                or family.consented_at is None
                or (channel == "line" and not family.line_user_id)
            ):
                tally["blocked"] += _suppress(everything, "blocked")
                continue
            off = categories_off(family)
            keep: list[Notice] = []
            for notice in everything:
                deadline = deadline_of(notice)
                if notice.category and notice.category in off:
                    tally["preference"] += _suppress([notice], "preference")
                elif deadline is not None and deadline < today:
                    tally["expired"] += _suppress([notice], "expired")
                else:
                    keep.append(notice)
            due_ids = {n.id for n in due_here}
            due_kept = [n for n in keep if n.id in due_ids]
            if not due_kept:
                continue
            quiet = family_quiet_hours(family, default_quiet)
            quiet_end = quiet.end_if_inside(local) if quiet else None
            if quiet_end is not None:
                tally["held"] += _hold(due_kept, quiet_end, now)
                continue
            hold_until: datetime | None = None
            if any(is_urgent(n, today) for n in keep):
                pass  # a near deadline goes now, whatever the digest and the daily limit say
            elif family_id in pushed:
                # One push a day: the rest waits for tomorrow's digest (or tomorrow's start).
                tomorrow = today + timedelta(days=1)
                hold_until = datetime.combine(tomorrow, digest or time(0), tzinfo=zone)
            elif digest is not None and local.time().replace(tzinfo=None) < digest:
                hold_until = datetime.combine(today, digest, tzinfo=zone)
            if hold_until is not None:
                tally["held"] += _hold(due_kept, allowed_from(hold_until, quiet), now)
                continue
            bundles.extend(_bundles_of(family, channel, keep, subscriptions, today))

        if line_budget is not None:
            # What earlier passes planned and has not gone out yet will spend the budget first.
            line_budget = max(0, line_budget - await _pending_line_cost(session))
        bundles = _within_budget(bundles, line_budget)
        requests = _group(bundles)
        if max_requests is not None:
            requests = requests[: max(0, max_requests)]
        ids = await _store_requests(session, requests, now)
        for send_id, planned in zip(ids, requests, strict=True):
            tally[planned.body["kind"]] += 1
            if bodies is not None:
                bodies[send_id] = planned.body
    if tally:
        log.info("notices planned", extra={"counts": dict(tally), "requests": len(ids)})
    return ids


async def _store_requests(
    session: AsyncSession, requests: Sequence[_Request], now: datetime
) -> list[int]:
    """Insert the requests, each with a new retry key, and point their notices at them.

    Plain SQL in two statements (an INSERT … RETURNING and one UPDATE per notice, sent as one
    batch): through the ORM, saving a large send's requests and notices took longer than
    building them.
    """
    if not requests:
        return []
    request_table = SendRequest.__table__  # type: ignore[attr-defined]
    notice_table = Notice.__table__  # type: ignore[attr-defined]
    keys = [str(uuid.uuid4()) for _ in requests]
    connection = await session.connection()
    # Mapped back by retry key (unique): asking SQLAlchemy to keep the parameters' order would
    # make SQLite insert one row a statement.
    inserted = await connection.execute(
        insert(request_table).returning(request_table.c.id, request_table.c.retry_key),
        [
            {
                "channel": planned.channel,
                "retry_key": key,
                "body": planned.body,
                "status": "pending",
                "attempts": 0,
                "created_at": now,
            }
            for planned, key in zip(requests, keys, strict=True)
        ],
    )
    id_of = {key: int(send_id) for send_id, key in inserted.all()}
    ids = [id_of[key] for key in keys]
    changes = [
        {"b_id": notice.id, "b_send": send_id, "b_key": key}
        for planned, send_id, key in zip(requests, ids, keys, strict=True)
        for notice in planned.notices
    ]
    if changes:
        await connection.execute(
            update(notice_table)
            .where(notice_table.c.id == bindparam("b_id"))
            .values(
                status="scheduled",
                send_id=bindparam("b_send"),
                retry_key=bindparam("b_key"),
                updated_at=now,
            ),
            changes,
        )
    return ids


def _bundles_of(
    family: Family,
    channel: str,
    notices: list[Notice],
    subscriptions: Mapping[int, AppSubscription],
    today: date,
) -> list[_Bundle]:
    assert family.id is not None
    lang = family.language if family.language in {"ja", "en"} else "ja"
    deadlines = [d for n in notices if (d := deadline_of(n)) is not None]
    if channel == "line":
        message = notice_message(notices, lang, today=today)
        return [
            _Bundle(
                "line",
                family.id,
                notices,
                {"messages": [message]},
                to=family.line_user_id,
                deadline=min(deadlines, default=date.max),
            )
        ]
    subscription = subscriptions.get(family.id)
    url = subscription.callback_url if subscription is not None else None
    return [
        _Bundle(
            "app",
            family.id,
            [notice],
            {
                "kind": "app",
                "family_id": family.id,
                "notice_id": notice.id,
                "url": url,
                "payload": app_payload(notice, lang),
            },
            deadline=deadline_of(notice) or date.max,
        )
        for notice in notices
    ]


# -- deliver ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuotaReport:
    """LINE's monthly limit was reached: what was stopped (for the operator's log and metric)."""

    send_id: int
    requests: int
    notices: int
    reason: str
    at: datetime


QuotaHook = Callable[[QuotaReport], Awaitable[None] | None]


async def _notices_of(session: AsyncSession, send_ids: Sequence[int]) -> list[Notice]:
    found: list[Notice] = []
    for chunk in _chunks(send_ids):
        rows = await session.exec(select(Notice).where(col(Notice.send_id).in_(list(chunk))))
        found.extend(rows.all())
    return found


Started = tuple[Outgoing | None, str | None]
"""A request to send now (the attempt counted), or None and the status that says why not."""


async def _start_many(
    sessions: Sessions,
    send_ids: Sequence[int],
    channels: Mapping[str, Channel],
    known: Mapping[int, dict[str, Any]] | None = None,
) -> list[Started | LookupError]:
    """Count one more attempt for each request, in one transaction; aligned with `send_ids`.

    A request no longer pending says its status; one whose notices were all withdrawn meanwhile
    (blocked, deleted) is suppressed, as nobody is left to tell. Plain SQL, no ORM objects:
    at LINE's push rate this runs for hundreds of requests every few milliseconds. Bodies in
    `known` (what `plan` just stored) are not read back.
    """
    request_table = SendRequest.__table__  # type: ignore[attr-defined]
    notice_table = Notice.__table__  # type: ignore[attr-defined]
    unique = list(dict.fromkeys(send_ids))
    async with sessions() as session, session.begin():
        connection = await session.connection()
        rows: dict[int, Any] = {}
        read_bodies = known is None
        columns = [
            request_table.c.id,
            request_table.c.channel,
            request_table.c.retry_key,
            request_table.c.status,
            request_table.c.attempts,
        ]
        for chunk in _chunks(unique):
            found = await connection.execute(
                select(  # type: ignore[call-overload]
                    *columns, *([request_table.c.body] if read_bodies else [])
                )
                .where(request_table.c.id.in_(list(chunk)))
                .with_for_update()
            )
            rows.update((row.id, row) for row in found.all())
        body_of: dict[int, dict[str, Any]] = (
            {i: row.body for i, row in rows.items()} if read_bodies else dict(known or {})
        )
        unknown = [i for i in rows if i not in body_of]
        for chunk in _chunks(unknown):
            found = await connection.execute(
                select(request_table.c.id, request_table.c.body).where(  # type: ignore[call-overload]
                    request_table.c.id.in_(list(chunk))
                )
            )
            body_of.update((row.id, row.body) for row in found.all())
        pending = [
            i
            for i in unique
            if i in rows and rows[i].status == "pending" and rows[i].channel in channels
        ]
        live: set[int] = set()
        for chunk in _chunks(pending):
            found = await connection.execute(
                select(notice_table.c.send_id)  # type: ignore[call-overload]
                .where(
                    notice_table.c.send_id.in_(list(chunk)),
                    notice_table.c.status == "scheduled",
                )
                .distinct()
            )
            live.update(found.scalars().all())
        empty = [i for i in pending if i not in live]
        going = [i for i in pending if i in live]
        for chunk in _chunks(empty):
            await connection.execute(
                update(request_table)
                .where(request_table.c.id.in_(list(chunk)))
                .values(status="suppressed", last_error="no notice left to send")
            )
        for chunk in _chunks(going):
            await connection.execute(
                update(request_table)
                .where(request_table.c.id.in_(list(chunk)))
                .values(attempts=request_table.c.attempts + 1)
            )
            await connection.execute(
                update(notice_table)
                .where(
                    notice_table.c.send_id.in_(list(chunk)),
                    notice_table.c.status == "scheduled",
                )
                .values(attempts=notice_table.c.attempts + 1)
            )
    gone = set(empty)
    results: list[Started | LookupError] = []
    for send_id in send_ids:
        row = rows.get(send_id)
        if row is None:
            results.append(LookupError(f"no send request {send_id}"))
        elif row.status != "pending":
            results.append((None, row.status))
        elif row.channel not in channels:
            results.append(
                LookupError(f"no channel {row.channel!r} to deliver send request {send_id}")
            )
        elif send_id in gone:
            results.append((None, "suppressed"))
        else:
            outgoing = Outgoing(
                row.id, row.channel, row.retry_key, body_of[row.id], row.attempts + 1
            )
            results.append((outgoing, None))
    return results


async def _start(sessions: Sessions, send_id: int, channels: Mapping[str, Channel]) -> Started:
    result = (await _start_many(sessions, [send_id], channels))[0]
    if isinstance(result, LookupError):
        raise result
    return result


class MicroBatch(Generic[ItemT, ResultT]):
    """Gathers concurrent calls into one `run` (group commit).

    At LINE's rates (2,000 pushes a second) a transaction per request would make the database,
    not LINE, the limit. A batch starts `max_delay` seconds after its first call, or at once
    when `max_items` are waiting; while a batch runs, the calls arriving meanwhile wait and go
    together in the next one, so the batches grow as the database gets busier instead of
    queueing up one small transaction after another. Each caller still waits for its own
    result: `run` returns one per item, in order, an exception instance meaning "raise this to
    that caller".
    """

    def __init__(
        self,
        run: Callable[[list[ItemT]], Awaitable[Sequence[ResultT | BaseException]]],
        *,
        max_delay: float = 0.005,
        max_items: int = 500,
    ) -> None:
        self.run = run
        self.max_delay = max_delay
        self.max_items = max_items
        self._items: list[tuple[ItemT, asyncio.Future[ResultT]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._running: asyncio.Task[None] | None = None

    async def __call__(self, item: ItemT) -> ResultT:
        """`run`'s result for `item`, once the batch it joined has run."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[ResultT] = loop.create_future()
        self._items.append((item, done))
        if len(self._items) >= self.max_items:
            self._start_run()
        elif self._timer is None and self._running is None:
            self._timer = loop.call_later(self.max_delay, self._start_run)
        return await done

    def _start_run(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._running is not None or not self._items:
            return  # the running batch starts the next one when it ends
        items = self._items[: self.max_items]
        del self._items[: self.max_items]
        task = asyncio.get_running_loop().create_task(self._run(items))
        self._running = task
        task.add_done_callback(self._ended)

    def _ended(self, _task: asyncio.Task[None]) -> None:
        self._running = None
        if self._items:
            self._start_run()

    async def _run(self, items: list[tuple[ItemT, asyncio.Future[ResultT]]]) -> None:
        try:
            results = list(await self.run([item for item, _ in items]))
            if len(results) != len(items):
                raise RuntimeError(f"a batch of {len(items)} got {len(results)} results")
        except BaseException as exc:
            # Nobody may be left waiting: every caller of the batch gets the failure (a
            # cancelled batch, too, as a CancelledError).
            for _, done in items:
                if not done.done():
                    done.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, done), result in zip(items, results, strict=True):
            if done.done():
                continue
            if isinstance(result, BaseException):
                done.set_exception(result)
            else:
                done.set_result(result)


async def _finish_sent(
    sessions: Sessions, send_id: int, accepted: str | None, now: datetime
) -> None:
    await _record_sent(sessions, [(send_id, accepted, now)])


FinishSent = Callable[[tuple[int, str | None, datetime]], Awaitable[None]]
StartFn = Callable[[int], Awaitable[Started]]


async def _record_sent(
    sessions: Sessions, outcomes: Sequence[tuple[int, str | None, datetime]]
) -> list[None]:
    """Mark requests and their notices sent, in one transaction."""
    request_table = SendRequest.__table__  # type: ignore[attr-defined]
    notice_table = Notice.__table__  # type: ignore[attr-defined]
    async with sessions() as session, session.begin():
        await session.execute(
            update(request_table)
            .where(request_table.c.id == bindparam("b_id"))
            .values(
                status="sent",
                sent_at=bindparam("b_now"),
                accepted_request_id=bindparam("b_accepted"),
                last_error=None,
            ),
            [
                {"b_id": send_id, "b_now": now, "b_accepted": (accepted or "")[:64] or None}
                for send_id, accepted, now in outcomes
            ],
        )
        by_time: dict[datetime, list[int]] = defaultdict(list)
        for send_id, _accepted, now in outcomes:
            by_time[now].append(send_id)
        for now, ids in by_time.items():
            for chunk in _chunks(ids):
                # LINE took it: that is the truth, even if a quota stop marked it meanwhile.
                await session.execute(
                    update(notice_table)
                    .where(
                        notice_table.c.send_id.in_(list(chunk)),
                        or_(
                            notice_table.c.status == "scheduled",
                            and_(
                                notice_table.c.status == "suppressed",
                                notice_table.c.reason == "quota",
                            ),
                        ),
                    )
                    .values(status="sent", reason=None, sent_at=now, updated_at=now)
                )
    return [None] * len(outcomes)


async def _finish_failed(sessions: Sessions, send_id: int, reason: str, now: datetime) -> None:
    async with sessions() as session, session.begin():
        request = await session.get(SendRequest, send_id, with_for_update=True)
        assert request is not None
        request.status = "failed"
        request.last_error = reason[:MAX_ERROR]
        for notice in await _notices_of(session, [send_id]):
            if notice.status == "scheduled":
                ledger.mark(notice, "failed", reason[:MAX_REASON])
                notice.updated_at = now


async def _note_error(sessions: Sessions, send_id: int, error: str) -> None:
    async with sessions() as session, session.begin():
        request = await session.get(SendRequest, send_id)
        if request is not None:
            request.last_error = error[:MAX_ERROR]


async def stop_line(sessions: Sessions, reason: str, now: datetime) -> tuple[int, int]:
    """Suppress (reason quota) every LINE request not yet sent; (requests, notices) stopped."""
    async with sessions() as session, session.begin():
        rows = await session.exec(
            select(SendRequest)
            .where(col(SendRequest.channel) == "line", col(SendRequest.status) == "pending")
            .with_for_update()
        )
        requests = list(rows.all())
        ids = [r.id for r in requests if r.id is not None]
        for request in requests:
            request.status = "suppressed"
            request.last_error = reason[:MAX_ERROR]
        stopped = 0
        notice_table = Notice.__table__  # type: ignore[attr-defined]
        for chunk in _chunks(ids):
            result = await session.execute(
                update(notice_table)
                .where(
                    notice_table.c.send_id.in_(list(chunk)),
                    notice_table.c.status == "scheduled",
                )
                .values(status="suppressed", reason="quota", updated_at=now)
            )
            stopped += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return len(ids), stopped


async def _tell(hook: QuotaHook | None, report: QuotaReport) -> None:
    """Call the operator's hook (sync or async); its failure must not undo the stop."""
    if hook is None:
        return
    try:
        result = hook(report)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("the quota hook failed", extra={"send_id": report.send_id})


async def deliver(
    sessions: Sessions,
    send_id: int,
    channels: Mapping[str, Channel],
    *,
    now: datetime,
    on_quota_exhausted: QuotaHook | None = None,
    start: StartFn | None = None,
    finish_sent: FinishSent | None = None,
) -> str:
    """Send one stored request (same key, same body) and record the outcome; its final status.

    Idempotent: a request already sent, failed or suppressed is left alone. A
    RetryableSendError is recorded and re-raised for the worker to retry with back-off.
    `start` and `finish_sent` replace the one-request transactions (a Deliverer's batches).
    """
    now = _aware(now)
    if start is not None:
        request, status = await start(send_id)
    else:
        request, status = await _start(sessions, send_id, channels)
    if request is None:
        return status or "pending"
    channel = channels[request.channel]
    try:
        outcome = await channel.send(request)
    except RetryableSendError as exc:
        await _note_error(sessions, send_id, str(exc))
        log.info(
            "send will be retried",
            extra={"send_id": send_id, "attempts": request.attempts, "error": str(exc)[:120]},
        )
        raise
    except QuotaExhausted as exc:
        requests, notices = await stop_line(sessions, exc.reason, now)
        if requests == 0:
            # Another request in flight met the limit first and stopped the rest (this one
            # included): the operator has been told.
            log.info("LINE monthly limit: sends already stopped", extra={"send_id": send_id})
            return "suppressed"
        report = QuotaReport(send_id, requests, notices, exc.reason, now)
        log.error(
            "LINE monthly limit reached: LINE pushes stopped until the next budget",
            extra={"send_id": send_id, "requests": requests, "notices": notices},
        )
        await _tell(on_quota_exhausted, report)
        return "suppressed"
    except PermanentSendError as exc:
        await _finish_failed(sessions, send_id, exc.reason, now)
        log.warning("send failed for good", extra={"send_id": send_id, "reason": exc.reason[:200]})
        return "failed"
    if finish_sent is not None:
        await finish_sent((send_id, outcome.accepted_request_id, now))
    else:
        await _finish_sent(sessions, send_id, outcome.accepted_request_id, now)
    return "sent"


class Deliverer:
    """`deliver` for many requests at once (a worker's batch, a large send).

    Starting requests (counting the attempt) and recording successes share transactions across
    the requests in flight, so the database keeps up with LINE's push rate; failures, rare, are
    recorded one by one as before.
    """

    def __init__(
        self,
        sessions: Sessions,
        channels: Mapping[str, Channel],
        *,
        on_quota_exhausted: QuotaHook | None = None,
        max_items: int = 500,
        known_bodies: Mapping[int, dict[str, Any]] | None = None,
    ) -> None:
        self.sessions = sessions
        self.channels = channels
        self.on_quota_exhausted = on_quota_exhausted

        async def start_many(ids: list[int]) -> list[Started | LookupError]:
            return await _start_many(sessions, ids, channels, known_bodies)

        async def record_sent(
            outcomes: list[tuple[int, str | None, datetime]],
        ) -> list[None]:
            return await _record_sent(sessions, outcomes)

        self._start: MicroBatch[int, Started] = MicroBatch(
            start_many, max_delay=0.005, max_items=max_items
        )
        self._sent: MicroBatch[tuple[int, str | None, datetime], None] = MicroBatch(
            record_sent, max_delay=0.02, max_items=max_items
        )

    async def __call__(self, send_id: int, *, now: datetime) -> str:
        """Deliver one request as `deliver` does; its final status."""
        return await deliver(
            self.sessions,
            send_id,
            self.channels,
            now=now,
            on_quota_exhausted=self.on_quota_exhausted,
            start=self._start,
            finish_sent=self._sent,
        )


# -- both, inline -------------------------------------------------------------------------------


async def send_due(
    sessions: Sessions,
    channels: Mapping[str, Channel],
    *,
    now: datetime,
    zone: tzinfo | str,
    quiet_hours: str,
    digest_at: str,
    max_requests: int | None = None,
    max_attempts: int = 8,
    backoff: float = 0.5,
    max_backoff: float = 30.0,
    concurrency: int = 8,
    on_quota_exhausted: QuotaHook | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> Counter[str]:
    """Plan, then deliver every new request inline with bounded retries; statuses counted.

    For tests and the embedded shape without a worker. LINE's remaining budget is read first
    (GET quota and quota/consumption) so that, when it cannot cover everything, nearer deadlines
    go first and the rest stays pending for the next budget.
    """
    budget: int | None = None
    line = channels.get("line")
    remaining = getattr(line, "remaining_quota", None)
    if remaining is not None:
        try:
            budget = await remaining()
        except RetryableSendError as exc:
            log.warning(
                "LINE quota unreadable; planning without a budget", extra={"error": str(exc)}
            )
    bodies: dict[int, dict[str, Any]] = {}
    ids = await plan(
        sessions,
        now=now,
        zone=zone,
        quiet_hours=quiet_hours,
        digest_at=digest_at,
        max_requests=max_requests,
        line_budget=budget,
        bodies=bodies,
    )
    told = False

    async def tell_once(report: QuotaReport) -> None:
        nonlocal told
        if not told:
            told = True
            await _tell(on_quota_exhausted, report)

    gate = asyncio.Semaphore(max(1, concurrency))
    deliver_one = Deliverer(sessions, channels, on_quota_exhausted=tell_once, known_bodies=bodies)

    async def one(send_id: int) -> str:
        async with gate:
            for attempt in range(1, max_attempts + 1):
                try:
                    return await deliver_one(send_id, now=now)
                except RetryableSendError as exc:
                    if attempt == max_attempts:
                        break
                    wait = exc.retry_after
                    if wait is None:
                        wait = backoff * 2 ** (attempt - 1)
                    await sleep(min(max_backoff, wait))
            return "pending"

    statuses = await asyncio.gather(*(one(i) for i in ids))
    return Counter(statuses)
