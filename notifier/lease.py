"""A Redis lease: at most one holder at a time, lost by a holder that stops renewing it.

The key holds the holder's name with a time to live. Acquiring is SET NX PX; renewing and
releasing check the name first in a Lua script, so a holder whose lease already expired (and
went to another) can neither extend nor delete the new holder's lease.
"""

from __future__ import annotations

import math
from typing import Any

LEASE_KEY = "hagukumi:scheduler:lease"

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Lease:
    """A named lease in Redis held by `holder` for `ttl_s` seconds at a time."""

    def __init__(
        self, redis: Any, *, holder: str, name: str = LEASE_KEY, ttl_s: float = 30.0
    ) -> None:
        self.redis = redis
        self.holder = holder
        self.name = name
        self.ttl_s = ttl_s

    @property
    def ttl_ms(self) -> int:
        """The time to live in milliseconds."""
        return max(1, math.ceil(self.ttl_s * 1000))

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it; True also when we hold it already (renewed)."""
        if await self.redis.set(self.name, self.holder, nx=True, px=self.ttl_ms):
            return True
        return await self.renew()

    async def renew(self) -> bool:
        """Extend the lease, only if it is still ours."""
        return bool(await self.redis.eval(_RENEW, 1, self.name, self.holder, self.ttl_ms))

    async def release(self) -> bool:
        """Give the lease up, only if it is still ours (a standby takes over at once)."""
        return bool(await self.redis.eval(_RELEASE, 1, self.name, self.holder))

    async def current_holder(self) -> str | None:
        """Who holds the lease now, if anyone."""
        value = await self.redis.get(self.name)
        return None if value is None else str(value)
