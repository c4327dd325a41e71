"""Which notices go now, to whom and how: plan due notices into stored SendRequests.

`plan` turns due notices into SendRequests: it suppresses what a family must not get, holds
what is too early (the time rules of `notifier.timing`: quiet hours, the daily digest, one push
a day), bundles each family's notices into one Flex carousel, keeps LINE's budget (nearest
deadlines first), groups identical LINE bodies into multicasts, and commits every request with
its retry key BEFORE anything is sent. `notifier.delivering` then sends them.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any, TypeVar

from sqlalchemy import and_, bindparam, false, insert, or_, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from notifier import ledger
from notifier.messages import app_payload, deadline_of, notice_message
from notifier.models import Notice, SendRequest
from notifier.timing import (
    as_utc,
    as_zone,
    family_quiet_hours,
    is_urgent,
    parse_digest_at,
    parse_quiet_hours,
    release_at,
)
from registry.models import AppSubscription, Family

log = logging.getLogger(__name__)

Sessions = async_sessionmaker[AsyncSession]
T = TypeVar("T")

MULTICAST_MAX = 500  # LINE: at most 500 user IDs a multicast
IN_CHUNK = 1000  # ids per IN (...): far below SQLite's and asyncpg's bind-parameter limits


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


def chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterable[Sequence[T]]:
    """`items` in slices of at most `size` (ids for one IN (...))."""
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
    for chunk in chunks(family_ids):
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
    for chunk in chunks(family_ids):
        rows = await session.exec(select(Family).where(col(Family.id).in_(list(chunk))))
        found.update({f.id: f for f in rows.all() if f.id is not None})
    return found


async def _subscriptions(
    session: AsyncSession, family_ids: Sequence[int]
) -> dict[int, AppSubscription]:
    found: dict[int, AppSubscription] = {}
    for chunk in chunks(family_ids):
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
    for chunk in chunks(family_ids):
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
        for chunk in chunks(members, MULTICAST_MAX):
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
    now = as_utc(now)
    zone = as_zone(zone)
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
            until = release_at(
                local,
                family_quiet_hours(family, default_quiet),
                digest,
                urgent=any(is_urgent(n, today) for n in keep),
                pushed_today=family_id in pushed,
            )
            if until is not None:
                tally["held"] += _hold(due_kept, until, now)
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
