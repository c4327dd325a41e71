"""Channels that carry notices to families: LINE and municipality apps, behind one base."""

from notifier.channels.base import (
    Channel,
    PermanentSendError,
    QuotaExhausted,
    RetryableSendError,
    SendError,
    SendOutcome,
)

__all__ = [
    "Channel",
    "PermanentSendError",
    "QuotaExhausted",
    "RetryableSendError",
    "SendError",
    "SendOutcome",
]
