"""API keys: creation, hashing, lookup, scopes, and a per-key rate limit in Redis."""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from typing import Any, Literal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from registry.models import ApiKey, Municipality, utcnow
from rules.lgcode import is_valid_lgcode

Role = Literal["municipality", "prefecture", "operator"]
ROLES: tuple[str, ...] = ("municipality", "prefecture", "operator")
KEY_PREFIX = "hgk_"


class KeyError_(ValueError):
    """A key cannot be created as asked."""


def hash_key(key: str) -> str:
    """SHA-256 of the key: keys are high-entropy, so a plain hash suffices."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key_text() -> str:
    """A fresh random key."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def create_key(
    session: AsyncSession, *, issuer: str, role: str = "municipality", name: str = ""
) -> tuple[ApiKey, str]:
    """Store a new key (hashed) and return it with its clear text, which is shown once."""
    if role not in ROLES:
        raise KeyError_(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    if not is_valid_lgcode(issuer):
        raise KeyError_(
            f"{issuer!r} is not a local government code (6 digits with a valid check digit)"
        )
    municipality = await session.get(Municipality, issuer)
    if municipality is None:
        raise KeyError_(f"unknown issuer {issuer!r}: not a known local government code")
    if role == "municipality" and municipality.kind in {"prefecture", "nation"}:
        hint = "prefecture" if municipality.kind == "prefecture" else "operator"
        raise KeyError_(f"{issuer} is a {municipality.kind}: use --role {hint}")
    if role == "prefecture" and municipality.kind != "prefecture":
        raise KeyError_(f"{issuer} is not a prefecture")
    text = new_key_text()
    key = ApiKey(key_hash=hash_key(text), prefix=text[:10], issuer=issuer, role=role, name=name)
    session.add(key)
    await session.flush()
    return key, text


async def list_keys(session: AsyncSession) -> list[ApiKey]:
    """Every key, newest last."""
    return list((await session.exec(select(ApiKey).order_by(col(ApiKey.id)))).all())


async def revoke_key(session: AsyncSession, key_id: int) -> ApiKey | None:
    """Revoke a key; it answers 401 from then on."""
    key = await session.get(ApiKey, key_id)
    if key is None:
        return None
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
    return key


async def find_key(session: AsyncSession, text: str) -> ApiKey | None:
    """The live key with this clear text, if any."""
    result = await session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(text)))
    key = result.first()
    if key is None or key.revoked_at is not None:
        return None
    return key


def can_manage(key: ApiKey, issuer: str) -> bool:
    """Whether a key may manage programs of `issuer`.

    A municipality key manages its own code; a prefecture key its own and its
    municipalities' (the code's first two digits are the prefecture); an operator all.
    """
    if key.role == "operator":
        return True
    if key.role == "prefecture":
        return issuer[:2] == key.issuer[:2] and issuer != "000000"
    return issuer == key.issuer


def manageable_issuers_filter(key: ApiKey | None, all_codes: list[str]) -> list[str] | None:
    """The issuers whose unpublished programs a key may see (None = all)."""
    if key is None:
        return []
    if key.role == "operator":
        return None
    return [code for code in all_codes if can_manage(key, code)]


# GCRA (generic cell rate algorithm) in one atomic script: one key in Redis per API key,
# holding the theoretical arrival time; allows `burst` requests at once, `rate` a second after.
_GCRA_START = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', key) or now)
if tat < now then tat = now end
local allow_at = tat - interval * burst
"""
_GCRA = (
    _GCRA_START
    + """if now < allow_at + interval then
  return {0, tostring(allow_at + interval - now)}
end
local new_tat = tat + interval
redis.call('SET', key, tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
return {1, '0'}
"""
)


# The same arithmetic, only looking: how long until the next request would be allowed.
_GCRA_PEEK = (
    _GCRA_START
    + """if now < allow_at + interval then
  return tostring(allow_at + interval - now)
end
return '0'
"""
)


class RateLimiter:
    """Per-key request rate limit shared by every web process through Redis."""

    def __init__(self, redis: Any, rate: float, burst: int) -> None:
        self.redis = redis
        self.interval = 1.0 / rate
        self.burst = burst
        self._script = redis.register_script(_GCRA)
        self._peek = redis.register_script(_GCRA_PEEK)

    async def hit(self, identity: str) -> float:
        """Count one request; 0 when allowed, else the seconds to wait."""
        allowed, wait = await self._script(
            keys=[f"hagukumi:ratelimit:{identity}"],
            args=[f"{time.time():.6f}", f"{self.interval:.9f}", str(self.burst)],
        )
        if int(allowed) == 1:
            return 0.0
        return max(float(wait), 0.001)

    async def wait(self, identity: str) -> float:
        """The seconds until a request of `identity` would be allowed, counting nothing."""
        wait = await self._peek(
            keys=[f"hagukumi:ratelimit:{identity}"],
            args=[f"{time.time():.6f}", f"{self.interval:.9f}", str(self.burst)],
        )
        return max(float(wait), 0.0)


def retry_after_header(wait: float) -> str:
    """Retry-After in whole seconds (at least 1)."""
    return str(max(1, math.ceil(wait)))
