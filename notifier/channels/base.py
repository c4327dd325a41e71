"""What every channel is: one `send` of a stored SendRequest, and errors that say what to do next.

As in GOV.UK Notify's provider clients, the exception type decides: a RetryableSendError is tried
again later with the same retry key and body, a PermanentSendError fails the notices for good,
and QuotaExhausted (LINE's monthly limit) stops the channel until the next budget.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol


class SendError(Exception):
    """A channel could not take a request."""


class RetryableSendError(SendError):
    """Worth trying again later with the same key and body (5xx, time-out, rate limit)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentSendError(SendError):
    """The channel refused the request for good; `reason` says why (kept on the notice)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class QuotaExhausted(PermanentSendError):
    """LINE's monthly message budget is spent: nothing more can be pushed this month."""


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """A request the channel accepted, now or (already_sent) on an earlier try."""

    accepted_request_id: str | None = None
    already_sent: bool = False


class Sendable(Protocol):
    """What a channel reads of a stored request (a SendRequest row or its Outgoing copy)."""

    @property
    def id(self) -> int | None: ...

    @property
    def retry_key(self) -> str: ...

    @property
    def body(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A stored request as it goes out: id, channel, retry key, body and the attempt's number.

    A plain copy, so a channel reads it after the database session is gone (and making one
    costs nothing next to a SendRequest model).
    """

    id: int
    channel: str
    retry_key: str
    body: dict[str, Any]
    attempts: int = 1


class Channel(ABC):
    """A way to reach families (LINE, a municipality app); one request at a time."""

    name: ClassVar[str]

    async def open(self) -> None:  # noqa: B027 - optional hook, most channels need nothing
        """Create clients inside the running loop."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients."""

    @abstractmethod
    async def send(self, request: Sendable) -> SendOutcome:
        """Send one stored request with its own retry key and body."""
