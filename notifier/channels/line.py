"""The LINE channel: push and multicast through line-bot-sdk v3, with `X-Line-Retry-Key`.

Status mapping (LINE Messaging API reference, "Retrying an API request" and "Status codes"):
a reused retry key answers 409 with `x-line-accepted-request-id` (already sent); 429 is either
the rate limit (wait and retry) or "You have reached your monthly limit." (stop); 5xx and
time-outs may be retried with the same key and body; any other 4xx will never succeed.
"""

from __future__ import annotations

import json
import logging
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
    SendOutcome,
)
from registry.models import SendRequest

log = logging.getLogger(__name__)

REAL_API = "https://api.line.me"
TIMEOUT = 10.0  # seconds; LINE answers pushes in well under a second
RATE_LIMIT_WAIT = 1.0  # LINE sends no Retry-After; its limits are per second
AUTH_WAIT = 60.0  # a refused token is the operator's to fix, not the notice's fault
MONTHLY_LIMIT = "monthly limit"
MAX_REASON = 500  # SendRequest.last_error holds 500 characters


_PATHS = {"push": "/v2/bot/message/push", "multicast": "/v2/bot/message/multicast"}
_ERRORS = {status: "ErrorResponse" for status in ("400", "403", "409", "429")}
_RESPONSE_TYPES = {
    "push": {"200": "PushMessageResponse", **_ERRORS},
    "multicast": {"200": "object", **_ERRORS},
}


class LineChannel(Channel):
    """LINE Messaging API pushes and multicasts (SDK clients created in the running loop)."""

    name: ClassVar[str] = "line"

    def __init__(
        self, base_url: str | None, access_token: str, *, timeout: float = TIMEOUT
    ) -> None:
        # The SDK joins host and path itself: a trailing slash would double it.
        self.base_url = (base_url or REAL_API).rstrip("/")
        self.access_token = access_token
        self.timeout = timeout
        self._client: AsyncApiClient | None = None
        self._api: AsyncMessagingApi | None = None

    async def open(self) -> None:
        """Create the SDK client (inside the running loop, as the SDK requires)."""
        if self._client is None:
            self._client = AsyncApiClient(
                Configuration(host=self.base_url, access_token=self.access_token)
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

    async def send(self, request: SendRequest) -> SendOutcome:
        """Push or multicast the stored body under the stored retry key."""
        body = request.body
        kind = body.get("kind")
        if kind not in _PATHS or not isinstance(body.get("messages"), list):
            raise PermanentSendError(f"not a LINE request body: kind {kind!r}")
        client = self.api.api_client
        # The body was built by notifier.messages within LINE's limits and stored as JSON; the
        # SDK's client sends it as it is. Rebuilding SDK models from it (pydantic v1) would
        # validate and serialise every Flex node twice per request: at LINE's push rate that,
        # not LINE, would be the limit.
        call = client.call_api(
            _PATHS[kind],
            "POST",
            {},
            [],
            {
                "X-Line-Retry-Key": request.retry_key,
                "Accept": "application/json",
                "Content-Type": "application/json",
            },
            body={"to": body["to"], "messages": body["messages"]},
            post_params=[],
            files={},
            response_types_map=_RESPONSE_TYPES[kind],
            auth_settings=["Bearer"],
            _request_timeout=self._timeout(),
            collection_formats={},
        )
        try:
            response = await call
        except ApiException as exc:
            return _outcome_of(exc)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise RetryableSendError(f"LINE unreachable: {type(exc).__name__}") from exc
        headers = response.headers or {}
        return SendOutcome(accepted_request_id=headers.get("x-line-request-id"))

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


def _enum_value(value: Any) -> str:
    return str(getattr(value, "value", value))


def _clip(text: str) -> str:
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"
