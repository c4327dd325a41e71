"""The LINE channel: push and multicast through line-bot-sdk v3, with `X-Line-Retry-Key`.

Status mapping (LINE Messaging API reference, "Retrying an API request" and "Status codes"):
a reused retry key answers 409 with `x-line-accepted-request-id` (already sent); 429 is either
the rate limit (wait and retry) or "You have reached your monthly limit." (stop); 5xx and
time-outs may be retried with the same key and body; any other 4xx will never succeed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
import urllib.request
from typing import Any, ClassVar

import aiohttp
from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
)
from linebot.v3.messaging.exceptions import ApiException

from notifier.channels.base import (
    Channel,
    PermanentSendError,
    QuotaExhausted,
    RetryableSendError,
    Sendable,
    SendOutcome,
)
from notifier.channels.line_api import REAL_API

log = logging.getLogger(__name__)

TIMEOUT = 10.0  # seconds; LINE answers pushes in well under a second
RATE_LIMIT_WAIT = 1.0  # LINE sends no Retry-After; its limits are per second
AUTH_WAIT = 60.0  # a refused token is the operator's to fix, not the notice's fault
CONNECTIONS = 64  # HTTP connections kept open to LINE
MONTHLY_LIMIT = "monthly limit"
MAX_REASON = 500  # SendRequest.last_error holds 500 characters


_PATHS = {"push": "/v2/bot/message/push", "multicast": "/v2/bot/message/multicast"}
RATE_LIMITS = {"push": 2000.0, "multicast": 200.0}  # requests a second (DOMAIN.md, LINE's docs)


class Pacer:
    """Spaces calls evenly at `rate` a second, so a large send runs at LINE's limit, not into it.

    Requests beyond the limit would come back 429 and wait a whole second to retry. This is per
    process; several workers still meet LINE's 429s, which back off as before.
    """

    def __init__(self, rate: float, clock: Any = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("a rate must be positive")
        self.interval = 1.0 / rate
        self.clock = clock
        self._next = 0.0

    async def wait(self) -> None:
        """Return at this call's slot: at once when the rate allows, else after a short sleep."""
        now = self.clock()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


class LineChannel(Channel):
    """LINE Messaging API pushes and multicasts (SDK clients created in the running loop)."""

    name: ClassVar[str] = "line"

    def __init__(
        self,
        base_url: str | None,
        access_token: str,
        *,
        timeout: float = TIMEOUT,
        connections: int = CONNECTIONS,
        rate_limits: dict[str, float] | None = None,
    ) -> None:
        # The SDK joins host and path itself: a trailing slash would double it.
        self.base_url = (base_url or REAL_API).rstrip("/")
        self.access_token = access_token
        self.timeout = timeout
        self.connections = connections
        limits = RATE_LIMITS if rate_limits is None else rate_limits
        self._pacers = {kind: Pacer(rate) for kind, rate in limits.items()}
        self._client: AsyncApiClient | None = None
        self._api: AsyncMessagingApi | None = None

    async def open(self) -> None:
        """Create the SDK client (inside the running loop, as the SDK requires)."""
        if self._client is None:
            configuration = Configuration(host=self.base_url, access_token=self.access_token)
            # A proxy from the environment is looked up once, here: the SDK's session trusts
            # the environment, which makes aiohttp look up the proxy and ~/.netrc in a thread
            # for every request. At LINE's push rate those hops cost more than the request.
            configuration.proxy = _env_proxy(self.base_url)
            self._client = AsyncApiClient(configuration)
            rest = self._client.rest_client
            await rest.pool_manager.close()
            # The SDK's default pool is 5 connections a CPU (10 here), far below what LINE's
            # push limit (2,000 requests/s) needs in flight.
            rest.pool_manager = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self.connections, ssl=ssl.create_default_context()
                ),
                trust_env=False,
            )
            self._api = AsyncMessagingApi(self._client)

    async def close(self) -> None:
        """Close the SDK client."""
        if self._client is not None:
            await self._client.close()
        self._client = None
        self._api = None

    async def __aenter__(self) -> LineChannel:
        await self.open()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    @property
    def api(self) -> AsyncMessagingApi:
        """The SDK's messaging API (after `open`)."""
        if self._api is None:
            raise RuntimeError("LineChannel.open() must be awaited first")
        return self._api

    async def send(self, request: Sendable) -> SendOutcome:
        """Push or multicast the stored body under the stored retry key."""
        body = request.body
        kind = body.get("kind")
        if kind not in _PATHS or not isinstance(body.get("messages"), list):
            raise PermanentSendError(f"not a LINE request body: kind {kind!r}")
        client = self.api.api_client
        pacer = self._pacers.get(kind)
        if pacer is not None:
            await pacer.wait()
        # The body was built by notifier.messages within LINE's limits and stored as JSON; the
        # SDK's REST client sends it as it is. The SDK's generated layers above it would
        # rebuild and re-walk every Flex node (pydantic v1) and parse the answer into a model
        # nobody reads: at LINE's push rate that, not LINE, would be the limit.
        call = client.request(
            "POST",
            self.base_url + _PATHS[kind],
            headers={
                **client.default_headers,
                "X-Line-Retry-Key": request.retry_key,
                "Accept": "application/json",
                "Content-Type": "application/json",
            },
            body={"to": body["to"], "messages": body["messages"]},
            _request_timeout=self._timeout(),
        )
        try:
            response = await call
        except ApiException as exc:
            return _outcome_of(exc)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise RetryableSendError(f"LINE unreachable: {type(exc).__name__}") from exc
        return SendOutcome(accepted_request_id=response.getheader("x-line-request-id"))

    async def remaining_quota(self) -> int | None:
        """Messages LINE still accepts this month (quota − consumption); None = unlimited."""
        try:
            quota = await self.api.get_message_quota(_request_timeout=self._timeout())
            if _enum_value(quota.type) != "limited" or quota.value is None:
                return None
            used = await self.api.get_message_quota_consumption(_request_timeout=self._timeout())
        except ApiException as exc:
            raise RetryableSendError(f"LINE quota unreadable: {exc.status}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise RetryableSendError(f"LINE unreachable: {type(exc).__name__}") from exc
        return max(0, int(quota.value) - int(used.total_usage or 0))

    def _timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=self.timeout)


def _outcome_of(exc: ApiException) -> SendOutcome:
    """What an error answer means: already sent, or which SendError to raise."""
    status = int(exc.status or 0)
    headers = exc.headers or {}
    body = _json(exc.body)
    message = str(body.get("message") or exc.reason or "")
    if status == 409:
        return SendOutcome(
            accepted_request_id=headers.get("x-line-accepted-request-id"), already_sent=True
        )
    if status == 429:
        if MONTHLY_LIMIT in message.lower():
            raise QuotaExhausted(_clip(f"429 {message}"))
        raise RetryableSendError(
            f"429 {message}", retry_after=_retry_after(headers) or RATE_LIMIT_WAIT
        )
    if status >= 500 or status == 0:
        raise RetryableSendError(f"{status} {message}".strip(), retry_after=_retry_after(headers))
    if status == 401:
        # An expired or revoked channel token refuses every request alike; failing the notices
        # for good would lose a day's pushes over a credential the operator can renew.
        log.error("LINE refused the channel access token", extra={"status": status})
        raise RetryableSendError(f"401 {message}", retry_after=AUTH_WAIT)
    raise PermanentSendError(_clip(f"{status} {_reason(message, body)}"))


def _reason(message: str, body: dict[str, Any]) -> str:
    details = body.get("details") or []
    parts = [
        f"{d.get('property')}: {d.get('message')}" if d.get("property") else str(d.get("message"))
        for d in details
        if isinstance(d, dict)
    ]
    return f"{message} ({'; '.join(parts)})" if parts else message


def _json(raw: Any) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except (TypeError, ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _env_proxy(url: str) -> str | None:
    """The proxy that HTTPS_PROXY / HTTP_PROXY (and NO_PROXY) name for `url`, if any."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit(":", 1)[0]
    if urllib.request.proxy_bypass_environment(host):  # type: ignore[attr-defined]
        return None
    return urllib.request.getproxies_environment().get(scheme)


def _enum_value(value: Any) -> str:
    return str(getattr(value, "value", value))


def _clip(text: str) -> str:
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"
