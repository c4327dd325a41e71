"""The emulated channel's state: users, deliveries, tokens, retry keys, budget, limits, logs."""

from __future__ import annotations

import dataclasses
import random
import re
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from integrations.line_emulator.config import RATE_WINDOWS, EmulatorConfig
from integrations.line_emulator.limits import check_request
from integrations.line_emulator.richmenus import RichMenuStore
from integrations.line_emulator.ulid import UlidFactory
from integrations.line_emulator.validation import Detail, build_validator

JST = ZoneInfo("Asia/Tokyo")  # LINE's monthly budget follows the Japanese calendar month
REPLY_TOKEN_TTL = timedelta(seconds=60)
RETRY_KEY_TTL = timedelta(hours=24)
MAX_DETAILS = 50

RATE_LIMITED = "The API rate limit has been exceeded. Try again later."
MONTHLY_LIMIT = "You have reached your monthly limit."
INVALID_REPLY_TOKEN = "Invalid reply token"
RETRY_KEY_ACCEPTED = "The retry key is already accepted"
AUTH_FAILED = (
    "Authentication failed. Confirm that the access token in the authorization header is valid."
)

RETRY_KEY = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
QUOTABLE = {"text", "textV2", "sticker", "image", "video"}

REQUEST_SCHEMAS = {
    "reply": "ReplyMessageRequest",
    "push": "PushMessageRequest",
    "multicast": "MulticastRequest",
    "broadcast": "BroadcastRequest",
    "narrowcast": "NarrowcastRequest",
    "richmenu_create": "RichMenuRequest",
    "richmenu_validate": "RichMenuRequest",
    "loading": "ShowLoadingAnimationRequest",
}


# (seq, via, time, requestId, message id, message) of one message in one user's chat
Delivery = tuple[int, str, str, str, str, dict[str, Any]]


class LineError(Exception):
    """An answer in LINE's error shape: `{"message", "details"}` and a status."""

    def __init__(
        self,
        status: int,
        message: str,
        details: list[Detail] | None = None,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        """The JSON body LINE would send."""
        body: dict[str, Any] = {"message": self.message}
        if self.details:
            body["details"] = self.details
        body.update(self.extra)
        return body


@dataclass
class User:
    """Someone playing a LINE user: a follower, someone who blocked, or a stranger who wrote."""

    user_id: str
    display_name: str
    status: str  # "follower", "blocked" or "stranger"
    since: datetime

    def as_json(self) -> dict[str, Any]:
        """For `/_emulator/users`."""
        return {
            "userId": self.user_id,
            "displayName": self.display_name,
            "status": self.status,
            "since": self.since.isoformat(),
        }


@dataclass
class TokenBucket:
    """A per-endpoint rate limit: `rate` tokens a second, holding at most `capacity`."""

    rate: float
    capacity: float
    tokens: float
    updated: float

    def take(self, now: float) -> bool:
        """Spend one token if there is one."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def burst(rate: float, window: float = 1.0) -> float:
    """The bucket size: one window's worth of requests (LINE states limits per second or hour)."""
    return max(1.0, rate * window)


@dataclass
class AcceptedRetry:
    """A request accepted under an `X-Line-Retry-Key`."""

    request_id: str
    accepted_at: datetime
    sent_messages: list[dict[str, str]] | None


@dataclass
class ReplyToken:
    """A reply token: one use, within a minute of the event."""

    user_id: str
    issued_at: datetime


class Emulator:
    """The state of one emulated channel, shared by its routes and open to tests."""

    def __init__(self, config: EmulatorConfig, clock: Callable[[], datetime]) -> None:
        self.config = dataclasses.replace(config)  # runtime changes stay on our copy
        self.clock = clock
        self.validator = build_validator(config.spec_path, sorted(set(REQUEST_SCHEMAS.values())))
        self.session: aiohttp.ClientSession | None = None
        self.reset()

    def reset(self) -> None:
        """Forget every user, message, token, key, menu and log (the config stays)."""
        seed = self.config.seed
        # Faults draw from their own generator so the ids a test makes do not shift them.
        self._faults = random.Random(seed)
        self._ids = random.Random(None if seed is None else seed + 1)
        self._ulids = UlidFactory(self._ids)
        self.users: dict[str, User] = {}
        # Tuples, not dicts: a multicast stores 500 × messages of them, so they stay small.
        self.deliveries: dict[str, list[Delivery]] = defaultdict(list)
        self.request_log: deque[dict[str, Any]] = deque(maxlen=self.config.request_log_limit)
        self.events: dict[str, tuple[str, dict[str, Any]]] = {}
        self.reply_tokens: dict[str, ReplyToken] = {}
        self.retry_keys: dict[str, AcceptedRetry] = {}
        self.narrowcasts: dict[str, dict[str, Any]] = {}
        self.rich_menus = RichMenuStore()
        self.usage: Counter[str] = Counter()
        self.status_counts: dict[str, Counter[str]] = defaultdict(Counter)
        self.webhook_counts: Counter[str] = Counter()
        self.delivered_by_via: Counter[str] = Counter()
        self._buckets: dict[str, TokenBucket] = {}
        self._request_seq = 0
        self._delivery_seq = 0

    # -- time and ids ---------------------------------------------------------------------

    def now(self) -> datetime:
        """The injectable clock's time (always timezone-aware)."""
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the emulator's clock must return timezone-aware datetimes")
        return now

    def new_hex(self, digits: int = 32) -> str:
        """Random lowercase hex (reply tokens, rich menu ids)."""
        return f"{self._ids.getrandbits(digits * 4):0{digits}x}"

    def new_request_id(self) -> str:
        """A LINE request id (a UUID)."""
        h = self.new_hex(32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"

    def new_message_id(self) -> str:
        """A LINE message id: a decimal number as a string."""
        return str(self._ids.randrange(10**17, 10**18))

    def new_ulid(self) -> str:
        """A webhook event id."""
        return self._ulids.new(self.now())

    # -- configuration at runtime -----------------------------------------------------------

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change fail_rate, latency_ms, monthly_limit, webhook_url or rate_limits."""
        allowed = {"fail_rate", "latency_ms", "monthly_limit", "webhook_url", "rate_limits"}
        unknown = set(changes) - allowed
        if unknown:
            raise LineError(400, f"unknown setting(s): {', '.join(sorted(unknown))}")
        for name, value in changes.items():
            setattr(self.config, name, value)
        if "rate_limits" in changes:
            self._buckets.clear()
        return self.settings()

    def settings(self) -> dict[str, Any]:
        """The settings that may change at runtime."""
        config = self.config
        return {
            "fail_rate": config.fail_rate,
            "latency_ms": config.latency_ms,
            "monthly_limit": config.monthly_limit,
            "webhook_url": config.webhook_url,
            "rate_limits": config.rate_limits,
            "validator": self.validator.source,
            "bot_user_id": config.bot_user_id,
        }

    # -- the gate every API request passes ---------------------------------------------------

    def check_token(self, authorization: str | None) -> None:
        """`Authorization: Bearer <channel access token>` or 401."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.config.channel_access_token:
            raise LineError(401, AUTH_FAILED)

    def take_rate(self, operation: str) -> None:
        """One request against the endpoint's token bucket, or 429."""
        now = self.now().timestamp()
        bucket = self._buckets.get(operation)
        if bucket is None:
            rate = self.config.rate_limit(operation)
            size = burst(rate, RATE_WINDOWS.get(operation, 1.0))
            bucket = TokenBucket(rate, size, size, now)
            self._buckets[operation] = bucket
        if not bucket.take(now):
            raise LineError(429, RATE_LIMITED)

    def inject_fault(self) -> None:
        """Fail this request with a 500 at the configured rate (seeded, so reproducible)."""
        if self._faults.random() < self.config.fail_rate:
            raise LineError(500, "Internal server error (injected by the LINE emulator)")

    def validate(self, operation: str, body: Any, raw_size: int | None = None) -> None:
        """The body against LINE's schema, then LINE's documented limits, or 400."""
        errors = self.validator.check(REQUEST_SCHEMAS[operation], body)
        if not errors:
            errors = check_request(operation, body, raw_size)
        if errors:
            raise LineError(
                400, f"The request body has {len(errors)} error(s)", errors[:MAX_DETAILS]
            )

    def check_retry_key(self, key: str | None) -> None:
        """A retry key must be a UUID; one already accepted within 24 h answers 409."""
        if key is None:
            return
        if not RETRY_KEY.match(key):
            raise LineError(400, "The value of the X-Line-Retry-Key header is not a valid UUID")
        self._forget_old_retry_keys()
        accepted = self.retry_keys.get(key)
        if accepted is not None:
            extra = {"sentMessages": accepted.sent_messages} if accepted.sent_messages else {}
            raise LineError(
                409,
                RETRY_KEY_ACCEPTED,
                headers={"x-line-accepted-request-id": accepted.request_id},
                extra=extra,
            )

    def accept_retry_key(
        self, key: str | None, request_id: str, sent: list[dict[str, str]] | None
    ) -> None:
        """Remember an accepted request's key for 24 hours."""
        if key is not None:
            self.retry_keys[key] = AcceptedRetry(request_id, self.now(), sent)

    def _forget_old_retry_keys(self) -> None:
        cutoff = self.now() - RETRY_KEY_TTL
        while self.retry_keys:
            oldest = next(iter(self.retry_keys))
            if self.retry_keys[oldest].accepted_at > cutoff:
                break
            del self.retry_keys[oldest]

    # -- reply tokens ---------------------------------------------------------------------

    def issue_reply_token(self, user_id: str) -> str:
        """A fresh reply token for an event of `user_id`."""
        now = self.now()
        while self.reply_tokens:
            oldest = next(iter(self.reply_tokens))
            if now - self.reply_tokens[oldest].issued_at <= REPLY_TOKEN_TTL:
                break
            del self.reply_tokens[oldest]
        token = self.new_hex(32)
        self.reply_tokens[token] = ReplyToken(user_id, now)
        return token

    def use_reply_token(self, token: str) -> str:
        """Spend a reply token and name its user, or 400 if used, expired or unknown."""
        issued = self.reply_tokens.pop(token, None)
        if issued is None or self.now() - issued.issued_at > REPLY_TOKEN_TTL:
            raise LineError(400, INVALID_REPLY_TOKEN)
        return issued.user_id

    # -- monthly budget -------------------------------------------------------------------

    def month(self) -> str:
        """The budget's month, `YYYY-MM` in Japan."""
        return self.now().astimezone(JST).strftime("%Y-%m")

    def budget_used(self) -> int:
        """Messages counted against this month's budget."""
        return self.usage[self.month()]

    def charge(self, count: int) -> None:
        """Count `count` messages, or 429 (and count nothing) if the budget cannot cover them."""
        limit = self.config.monthly_limit
        month = self.month()
        if limit is not None and self.usage[month] + count > limit:
            raise LineError(429, MONTHLY_LIMIT)
        self.usage[month] += count

    # -- users ------------------------------------------------------------------------------

    def user(self, user_id: str) -> User:
        """The user, registered on first sight."""
        found = self.users.get(user_id)
        if found is None:
            number = len(self.users) + 1
            found = User(user_id, f"Parent {number:02d}", "stranger", self.now())
            self.users[user_id] = found
        return found

    def can_receive(self, user_id: str) -> bool:
        """LINE accepts pushes to users who blocked the account but delivers nothing."""
        found = self.users.get(user_id)
        return found is None or found.status != "blocked"

    def followers(self) -> list[str]:
        """Users who follow the account, in the order they first appeared."""
        return [u.user_id for u in self.users.values() if u.status == "follower"]

    # -- deliveries -----------------------------------------------------------------------

    def sent_messages(self, messages: list[dict[str, Any]]) -> list[dict[str, str]]:
        """Ids (and quote tokens, for quotable types) of messages accepted in one request."""
        sent = []
        for message in messages:
            entry = {"id": self.new_message_id()}
            if message.get("type") in QUOTABLE:
                entry["quoteToken"] = self.new_hex(32)
            sent.append(entry)
        return sent

    def deliver(
        self,
        user_ids: list[str],
        via: str,
        messages: list[dict[str, Any]],
        sent: list[dict[str, str]],
        request_id: str,
    ) -> int:
        """Put messages in each reachable user's chat; the number of messages delivered."""
        time = self.now().isoformat()
        delivered = 0
        pairs = [(ids["id"], message) for message, ids in zip(messages, sent, strict=True)]
        for user_id in user_ids:
            if not self.can_receive(user_id):
                continue
            chat = self.deliveries[user_id]
            for message_id, message in pairs:
                self._delivery_seq += 1
                chat.append((self._delivery_seq, via, time, request_id, message_id, message))
                delivered += 1
        self.delivered_by_via[via] += delivered
        return delivered

    # -- inspection -----------------------------------------------------------------------

    @property
    def last_request_seq(self) -> int:
        """The sequence number of the latest logged API request (0 before any)."""
        return self._request_seq

    def record(self, entry: dict[str, Any], operation: str) -> None:
        """Log one API request with its answer."""
        self._request_seq += 1
        entry["seq"] = self._request_seq
        self.request_log.append(entry)
        self.status_counts[operation][str(entry["status"])] += 1

    def requests(
        self, path: str | None = None, since: int = 0, status: int | None = None
    ) -> list[dict[str, Any]]:
        """Logged API requests after `since`, optionally of one path and status."""
        return [
            entry
            for entry in self.request_log
            if entry["seq"] > since
            and (path is None or entry["path"] == path)
            and (status is None or entry["status"] == status)
        ]

    def messages_for(self, user_id: str, since: int = 0) -> list[dict[str, Any]]:
        """Everything delivered to a user, in order, after delivery `since`."""
        return [
            {
                "seq": seq,
                "via": via,
                "time": time,
                "requestId": request_id,
                "id": mid,
                "message": m,
            }
            for seq, via, time, request_id, mid, m in self.deliveries.get(user_id, ())
            if seq > since
        ]

    def stats(self) -> dict[str, Any]:
        """Counts by endpoint and status, deliveries, budget and users."""
        statuses = Counter(u.status for u in self.users.values())
        return {
            "requests": {op: dict(counts) for op, counts in self.status_counts.items()},
            "requests_total": sum(sum(c.values()) for c in self.status_counts.values()),
            "delivered": {"total": sum(self.delivered_by_via.values()), **self.delivered_by_via},
            "budget": {
                "month": self.month(),
                "limit": self.config.monthly_limit,
                "used": self.budget_used(),
            },
            "users": {"total": len(self.users), **statuses},
            "webhooks": dict(self.webhook_counts),
            "validator": self.validator.source,
        }
