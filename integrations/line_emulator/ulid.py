"""ULIDs, the format of LINE's `webhookEventId`: 26 Crockford base32 characters, time-ordered."""

from __future__ import annotations

import random
from datetime import datetime

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80


def encode(value: int) -> str:
    """A 128-bit integer as 26 Crockford base32 characters."""
    return "".join(CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def timestamp_ms(ulid: str) -> int:
    """The millisecond time in the first 10 characters of a ULID."""
    value = 0
    for char in ulid[:10]:
        value = value * 32 + CROCKFORD.index(char)
    return value


class UlidFactory:
    """Makes ULIDs that sort by time, and stay sorted within one millisecond."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._last_ms = -1
        self._last_random = 0

    def new(self, now: datetime) -> str:
        """A ULID for the instant `now`."""
        ms = int(now.timestamp() * 1000)
        if ms <= self._last_ms:
            # Same millisecond (or a clock set back in a test): the spec's monotonic rule,
            # increment the random part so the order of issue is kept.
            ms, randomness = self._last_ms, self._last_random + 1
            if randomness >> _RANDOM_BITS:
                ms, randomness = ms + 1, 0
        else:
            randomness = self._rng.getrandbits(_RANDOM_BITS)
        self._last_ms, self._last_random = ms, randomness
        return encode((ms << _RANDOM_BITS) | randomness)
