"""What every channel is: one `send` of a stored SendRequest, and errors that say what to do next.

As in GOV.UK Notify's provider clients, the exception type decides: a RetryableSendError is tried
again later with the same retry key and body, a PermanentSendError fails the notices for good,
and QuotaExhausted (LINE's monthly limit) stops the channel until the next budget.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from registry.models import SendRequest


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


class Channel(ABC):
    """A way to reach families (LINE, a municipality app); one request at a time."""

    name: ClassVar[str]

    async def open(self) -> None:  # noqa: B027 - optional hook, most channels need nothing
        """Create clients inside the running loop."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients."""

    @abstractmethod
    async def send(self, request: SendRequest) -> SendOutcome:
        """Send one stored request with its own retry key and body."""
