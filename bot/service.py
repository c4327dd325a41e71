"""The bot's event pipeline: de-duplicate, order per user, handle, reply.

The webhook only verifies and hands events here; each event is then handled in a tracked
background task, one user's events strictly in order (also across processes, by a Redis lock),
and every task is drained on shutdown.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from linebot.v3.messaging import TextMessage
from linebot.v3.webhooks import (
    FollowEvent,
    LocationMessageContent,
    MessageEvent,
    PostbackEvent,
    TextMessageContent,
    UnfollowEvent,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.dispatch import Dispatcher, Turn, parse_postback
from bot.models import WebhookEvent
from bot.state import ConversationStore, user_key
from notifier.channels.line_api import LineApi
from registry import families
from registry.db import transaction
from registry.eligibility import Catalog
from registry.events import Events, FamilyChanged
from registry.offices import Office, load_offices

log = logging.getLogger(__name__)

DEDUP_TTL_SECONDS = 7 * 24 * 3600
SORRY = (
    "ごめんなさい、うまく処理できませんでした。少し時間をおいてもう一度お試しください。\n"
    "Sorry, something went wrong. Please try again in a moment."
)
# Events handled at once: beyond this, more concurrency only adds database contention and
# delays the acknowledgements that share the event loop.
CONCURRENT_EVENTS = 4
LOCK_TTL_MS = 30_000


@dataclass
class BotDeps:
    """What handlers may use."""

    sessions: async_sessionmaker[AsyncSession]
    redis: Any
    line: LineApi
    catalog: Catalog
    conversations: ConversationStore
    zone: Any
    clock: Callable[[], datetime]
    municipalities: list[tuple[str, str, str, str]]  # code, name_ja, name_en, kana
    public_url: str
    # The operator's default quiet hours (a family's own preference wins): a tour reminder
    # that quiet hours would hold past the tour's start is not recorded.
    quiet_hours: str = "20:00-08:00"
    count_event: Callable[[str, str], None] = lambda kind, outcome: None
    # False with in-process fakeredis: one process only, so no lock across processes needed.
    shared_redis: bool = True
    # The one event hook: after the turn's data is saved, "family changed" is announced when an
    # onboarded family changed or was shown its programs (the notifier's trigger subscribes).
    events: Events | None = None
    # Ward and city offices (position, web site, phone): a shared location picks the
    # municipality, and help says how to reach the family's office.
    offices: list[Office] = field(default_factory=load_offices)


def event_kind(event: Any) -> str:
    """follow, unfollow, text, postback, location or other."""
    if isinstance(event, FollowEvent):
        return "follow"
    if isinstance(event, UnfollowEvent):
        return "unfollow"
    if isinstance(event, PostbackEvent):
        return "postback"
    if isinstance(event, MessageEvent):
        if isinstance(event.message, TextMessageContent):
            return "text"
        if isinstance(event.message, LocationMessageContent):
            return "location"
    return "other"


def _user_id(event: Any) -> str | None:
    source = getattr(event, "source", None)
    return getattr(source, "user_id", None) if source is not None else None


class _AlreadyHandled(Exception):
    """The database already holds this webhook event."""


class BotService:
    """Handles webhook events in the background, in order per user, once each."""

    def __init__(self, deps: BotDeps, dispatcher: Dispatcher) -> None:
        self.deps = deps
        self.dispatcher = dispatcher
        self._tasks: set[asyncio.Task[None]] = set()
        self._chains: dict[str, asyncio.Task[None]] = {}
        self.handled = 0
        self._slots = asyncio.Semaphore(CONCURRENT_EVENTS)

    def accept(self, events: Iterable[Any]) -> None:
        """Queue events for handling; returns at once."""
        for event in events:
            user = _user_id(event) or "-"
            previous = self._chains.get(user)
            task = asyncio.get_running_loop().create_task(self._after(previous, event))
            self._chains[user] = task
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._done, user=user))

    def _done(self, task: asyncio.Task[None], user: str) -> None:
        self._tasks.discard(task)
        if self._chains.get(user) is task:
            del self._chains[user]

    async def _after(self, previous: asyncio.Task[None] | None, event: Any) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        try:
            await self.handle(event)
        except Exception:
            log.exception(
                "webhook event failed", extra={"event_type": getattr(event, "type", "?")}
            )

    def _family_changed(self, family_id: int, changed: bool, told: bool) -> None:
        if self.deps.events is not None:
            self.deps.events.publish(FamilyChanged(family_id, changed, told))

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for every event in hand (on shutdown)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def idle(self) -> None:
        """Wait until nothing is in hand (for tests)."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    async def _claim(self, event_id: str) -> bool:
        """Claim an event in Redis (fast, shared by every process); False when taken."""
        return bool(
            await self.deps.redis.set(
                f"hagukumi:webhook:{event_id}", "1", nx=True, ex=DEDUP_TTL_SECONDS
            )
        )

    async def _release(self, event_id: str) -> None:
        # The event failed: let LINE's redelivery of it be handled.
        await self.deps.redis.delete(f"hagukumi:webhook:{event_id}")

    async def _lock(self, user: str) -> str:
        if not self.deps.shared_redis:
            return ""  # the per-user chain in this process already keeps the order
        token = secrets.token_hex(8)
        key = f"hagukumi:userlock:{user_key(user)}"
        for _ in range(600):
            if await self.deps.redis.set(key, token, nx=True, px=LOCK_TTL_MS):
                return token
            await asyncio.sleep(0.05)
        return token  # a stuck lock expires by itself; go on rather than drop the event

    async def _unlock(self, user: str, token: str) -> None:
        if not token:
            return
        key = f"hagukumi:userlock:{user_key(user)}"
        if await self.deps.redis.get(key) == token:
            await self.deps.redis.delete(key)

    async def handle(self, event: Any) -> None:
        """Handle one event: once, never in standby, replies sent after the data is saved."""
        kind = event_kind(event)
        event_id = getattr(event, "webhook_event_id", None)
        user = _user_id(event)
        pseudonym = user_key(user) if user else "-"
        count = self.deps.count_event
        if event_id and not await self._claim(event_id):
            log.info("duplicate webhook event ignored", extra={"user": pseudonym, "kind": kind})
            count(kind, "duplicate")
            return
        reply_token = getattr(event, "reply_token", None)
        try:
            replies = await self._handle_claimed(event, kind, event_id, user)
        except Exception:
            # Nothing of the turn was saved; a redelivery may try again, and the parent hears
            # that something went wrong instead of silence.
            log.exception("webhook event failed", extra={"user": pseudonym, "kind": kind})
            count(kind, "failed")
            if event_id:
                await self._release(event_id)
            if reply_token:
                await self.deps.line.reply(reply_token, [TextMessage(text=SORRY)])
            return
        if replies is None:
            return
        self.handled += 1
        count(kind, "handled")
        if replies and reply_token:
            if len(replies) > 5:
                log.warning("reply cut to 5 messages", extra={"count": len(replies)})
            await self.deps.line.reply(reply_token, replies[:5])

    async def _handle_claimed(
        self, event: Any, kind: str, event_id: str | None, user: str | None
    ) -> list[Any] | None:
        """The replies for an event, or None when it is not to be answered."""
        pseudonym = user_key(user) if user else "-"
        count = self.deps.count_event
        if getattr(event, "mode", "active") == "standby":
            log.info("standby event not answered", extra={"user": pseudonym, "kind": kind})
            count(kind, "standby")
            return None
        if kind == "other" or user is None:
            log.info("event ignored", extra={"type": getattr(event, "type", "?"), "kind": kind})
            count(kind, "ignored")
            return None
        token = await self._lock(user)
        try:
            replies = await self._run_turn(event, kind, user, event_id)
        except _AlreadyHandled:
            log.info("event handled before (database)", extra={"user": pseudonym, "kind": kind})
            count(kind, "duplicate")
            return None
        finally:
            await self._unlock(user, token)
        return replies

    async def _run_turn(self, event: Any, kind: str, user: str, event_id: str | None) -> list[Any]:
        conversations = self.deps.conversations
        state = await conversations.load(user)
        changed_family: tuple[int, bool, bool] | None = None
        async with transaction(self.deps.sessions) as session:
            if event_id:
                # The durable half of de-duplication, in the turn's own transaction: the
                # record and the turn's changes are saved together or not at all.
                session.add(WebhookEvent(event_id=event_id))
                try:
                    await session.flush()
                except IntegrityError as exc:
                    raise _AlreadyHandled from exc
            family = await families.get_or_create_line_family(session, user)
            turn = Turn(
                event=event,
                kind=kind,
                user_id=user,
                family=family,
                session=session,
                state=state,
                deps=self.deps,
                now=self.deps.clock().astimezone(UTC),
            )
            if kind == "text":
                turn.text = event.message.text.strip()
            elif kind == "postback":
                turn.postback = parse_postback(event.postback.data)
                turn.postback_params = dict(event.postback.params or {})
            before = (family.updated_at, family.state)
            handled = await self.dispatcher.dispatch(turn)
            if not handled:
                log.info("no handler", extra={"kind": kind, "user": user_key(user)})
            changed = (family.updated_at, family.state) != before
            if (
                (changed or turn.told_programs)
                and family.id is not None
                and family.state == "active"
                and family.onboarded_at is not None
            ):
                changed_family = (family.id, changed, turn.told_programs)
        if changed_family is not None:
            self._family_changed(*changed_family)
        if turn.state.get("_clear"):
            await conversations.clear(user)
        else:
            await conversations.save(user, turn.state)
        return turn.replies


def now_utc() -> datetime:
    """The real clock."""
    return datetime.now(UTC)
