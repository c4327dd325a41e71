"""How long to wait before trying a send again: one back-off for the worker and the send loop.

Exponential (1 s, 2 s, 4 s, ... by default), capped; a wait the other side asked for (LINE's or
an app backend's `Retry-After`) wins over the back-off.
"""

from __future__ import annotations

BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 300.0


def backoff(attempt: int, *, base: float = BACKOFF_BASE_S, cap: float = BACKOFF_CAP_S) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, 3, ...): 1 s, 2 s, 4 s, ... capped."""
    return float(min(cap, base * 2 ** max(0, attempt - 1)))


def retry_delay(
    attempt: int,
    retry_after: float | None = None,
    *,
    base: float = BACKOFF_BASE_S,
    cap: float = BACKOFF_CAP_S,
) -> float:
    """Seconds to wait before retry number `attempt`: `retry_after` when given, else the
    back-off."""
    return retry_after if retry_after is not None else backoff(attempt, base=base, cap=cap)
