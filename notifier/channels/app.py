"""The app channel: each notice POSTed to the subscriber's callback, signed like LINE webhooks.

The body is signed with the subscription's secret (base64 HMAC-SHA256 in `x-hagukumi-signature`,
the scheme LINE uses for `x-line-signature`), so the app backend can check that the notice came
from us. `x-hagukumi-delivery-id` carries the request's retry key: a retry after a lost answer
sends the same id, and the backend can drop the duplicate as LINE drops a reused retry key.
A subscriber without a callback reads its notices from the inbox: delivery is then immediate.
The URL is checked again before each send, and the channel's own HTTP session resolves names
through a guarded resolver, so a callback host that later resolves to a private address (DNS
rebinding) is refused, not reached (see registry.urls).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar

import aiohttp
from aiohttp.abc import AbstractResolver
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from notifier.channels.base import (
    Channel,
    PermanentSendError,
    RetryableSendError,
    Sendable,
    SendOutcome,
)
from registry.models import AppSubscription
from registry.subscriptions import SIGNATURE_HEADER, sign
from registry.urls import STRICT, GuardedResolver, RefusedAddress, UrlPolicy, check_callback_url

TIMEOUT = 10.0  # seconds a backend gets to answer
DELIVERY_HEADER = "x-hagukumi-delivery-id"
# Busy or slow backends ask to be tried again; other 4xx will never succeed.
RETRYABLE_4XX = frozenset({408, 429})


def encode(payload: dict[str, Any]) -> bytes:
    """The exact bytes posted (and signed): compact, key-sorted UTF-8 JSON, the same each try."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


class AppChannel(Channel):
    """Signed POSTs of notices to municipality app backends."""

    name: ClassVar[str] = "app"

    def __init__(
        self,
        http: Callable[[], aiohttp.ClientSession] | None,
        sessions: async_sessionmaker[AsyncSession],
        *,
        timeout: float = TIMEOUT,
        policy: UrlPolicy = STRICT,
        resolver: AbstractResolver | None = None,
    ) -> None:
        """`http`: a shared session (its connector should resolve through `GuardedResolver`);
        `policy`: the hosts the operator allows; `resolver`: the DNS underneath (tests)."""
        self._http_factory = http
        self._own: aiohttp.ClientSession | None = None
        self.sessions = sessions
        self.timeout = timeout
        self.policy = policy
        self._resolver = resolver

    async def open(self) -> None:
        """Open an HTTP session of our own when none is shared with us."""
        if self._http_factory is None and self._own is None:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.policy, self._resolver))
            self._own = aiohttp.ClientSession(connector=connector)

    async def close(self) -> None:
        """Close our own HTTP session (a shared one belongs to its owner)."""
        if self._own is not None:
            await self._own.close()
            self._own = None

    def _http(self) -> aiohttp.ClientSession:
        if self._http_factory is not None:
            return self._http_factory()
        if self._own is None:
            raise RuntimeError("AppChannel.open() must be awaited first")
        return self._own

    async def _secret(self, family_id: int) -> str | None:
        async with self.sessions() as session:
            result = await session.exec(
                select(AppSubscription.secret).where(AppSubscription.family_id == family_id)
            )
            return result.first()

    async def send(self, request: Sendable) -> SendOutcome:
        """POST the stored payload to the stored callback URL (nothing to do without one)."""
        body = request.body
        if body.get("kind") != "app":
            raise PermanentSendError(f"not an app request body: kind {body.get('kind')!r}")
        url = body.get("url")
        if not url:
            return SendOutcome()
        try:
            check_callback_url(url, self.policy)
        except ValueError as exc:
            raise PermanentSendError(f"callback refused: {exc}") from exc
        secret = await self._secret(int(body["family_id"]))
        if secret is None:
            raise PermanentSendError("the app subscription no longer exists")
        raw = encode(body["payload"])
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(secret, raw),
            DELIVERY_HEADER: request.retry_key,
        }
        try:
            async with self._http().post(
                url,
                data=raw,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                # A signed notice goes only where the subscriber registered, never onwards.
                allow_redirects=False,
            ) as response:
                status = response.status
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, RefusedAddress):
                raise PermanentSendError(f"callback refused: {exc.os_error}") from exc
            raise RetryableSendError(f"callback unreachable: {type(exc).__name__}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise RetryableSendError(f"callback unreachable: {type(exc).__name__}") from exc
        if 200 <= status < 300:
            return SendOutcome()
        if status >= 500 or status in RETRYABLE_4XX:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            raise RetryableSendError(f"callback answered {status}", retry_after=retry_after)
        # The backend's answer body stays out of the reason: it may echo the notice's content.
        raise PermanentSendError(f"callback answered {status}")


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
