"""Console users: creation, Argon2id passwords, sign-in with lockout, and the audit trail.

Functions that touch the database take a session; the caller owns the transaction. Failed
sign-ins are counted in Redis per account and per address: after MAX_FAILURES within
LOCKOUT_SECONDS the account is locked for the rest of that window, whatever password comes.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from registry.models import ConsoleAudit, ConsoleUser, Municipality, utcnow
from rules.lgcode import is_valid_lgcode

Role = Literal["editor", "viewer", "operator"]
ROLES: tuple[str, ...] = ("editor", "viewer", "operator")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MAX_FAILURES = 5
LOCKOUT_SECONDS = 15 * 60
# An address that fails this often in the window is refused for every account (a guesser
# trying many accounts), without a hash being computed.
MAX_ADDRESS_FAILURES = 30
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")

# Argon2id (RFC 9106's second recommended option: 64 MiB, 3 passes, 4 lanes) is memory-hard;
# a parameter change later re-hashes on the next sign-in.
HASHER = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)
_DUMMY_HASH = HASHER.hash("a password nobody has, to spend the same time on unknown emails")


class UserError(ValueError):
    """A user cannot be created or changed as asked."""


def normalise_email(email: str) -> str:
    """Lower-cased and trimmed; accounts are found by this form."""
    return email.strip().lower()


def check_password(password: str) -> None:
    """Refuse passwords too short to resist guessing (NIST SP 800-63B: length, not rules)."""
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password has at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"a password has at most {MAX_PASSWORD} characters")


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    issuer: str,
    password: str,
    role: str = "editor",
    name: str = "",
) -> ConsoleUser:
    """Store a new console user with a hashed password."""
    email = normalise_email(email)
    if not _EMAIL.match(email) or len(email) > 254:
        raise UserError(f"{email!r} is not an email address")
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    if not is_valid_lgcode(issuer):
        raise UserError(
            f"{issuer!r} is not a local government code (6 digits with a valid check digit)"
        )
    if await session.get(Municipality, issuer) is None:
        raise UserError(f"unknown issuer {issuer!r}: not a local government this service serves")
    check_password(password)
    existing = await find_user(session, email)
    if existing is not None:
        raise UserError(f"a user {email} already exists")
    user = ConsoleUser(
        email=email, issuer=issuer, role=role, name=name[:100], password_hash=HASHER.hash(password)
    )
    session.add(user)
    await session.flush()
    return user


async def find_user(session: AsyncSession, email: str) -> ConsoleUser | None:
    """The user with this email (any letter case), or None."""
    result = await session.exec(
        select(ConsoleUser).where(col(ConsoleUser.email) == normalise_email(email))
    )
    return result.first()


async def list_users(session: AsyncSession, issuer: str | None = None) -> list[ConsoleUser]:
    """Users, of one issuer or all, by email."""
    query = select(ConsoleUser).order_by(col(ConsoleUser.email))
    if issuer is not None:
        query = query.where(col(ConsoleUser.issuer) == issuer)
    return list((await session.exec(query)).all())


async def set_password(session: AsyncSession, user: ConsoleUser, password: str) -> None:
    """Replace a user's password."""
    check_password(password)
    user.password_hash = HASHER.hash(password)
    session.add(user)
    await session.flush()


async def disable_user(session: AsyncSession, user: ConsoleUser) -> None:
    """Disable a user: sign-in refused, open sessions end at their next request."""
    if user.disabled_at is None:
        user.disabled_at = utcnow()
        session.add(user)
        await session.flush()


@dataclass
class SignIn:
    """The outcome of a sign-in attempt."""

    user: ConsoleUser | None
    locked_seconds: int = 0


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _account_key(email: str) -> str:
    return f"hagukumi:console:failures:account:{_digest(normalise_email(email))}"


def _address_key(address: str) -> str:
    return f"hagukumi:console:failures:address:{_digest(address)}"


async def _locked_for(redis: Any, key: str, limit: int) -> int:
    count = int(await redis.get(key) or 0)
    if count < limit:
        return 0
    ttl = int(await redis.ttl(key))
    return max(ttl, 1)


async def _count_attempt(redis: Any, key: str) -> int:
    count = int(await redis.incr(key))
    if count == 1 or int(await redis.ttl(key)) < 0:
        # A window starts with the first attempt (and never stays open for good).
        await redis.expire(key, LOCKOUT_SECONDS)
    return count


async def authenticate(
    session: AsyncSession, redis: Any, email: str, password: str, address: str
) -> SignIn:
    """Check an email and password; count failures and lock out repeated ones.

    An unknown email costs as much as a wrong password (a hash is verified either way) and
    answers the same, so the form does not tell which accounts exist. Each attempt is counted
    before its hash is verified, so that guesses sent all at once are counted too, and the
    verification runs outside the event loop (Argon2id takes a while and 64 MiB).
    """
    account, by_address = _account_key(email), _address_key(address)
    locked = max(
        await _locked_for(redis, account, MAX_FAILURES),
        await _locked_for(redis, by_address, MAX_ADDRESS_FAILURES),
    )
    if locked:
        return SignIn(None, locked)
    tries = await _count_attempt(redis, account)
    address_tries = await _count_attempt(redis, by_address)
    if tries > MAX_FAILURES or address_tries > MAX_ADDRESS_FAILURES:
        # Other attempts, sent at the same time, used up the window first.
        return SignIn(
            None,
            max(
                await _locked_for(redis, account, MAX_FAILURES),
                await _locked_for(redis, by_address, MAX_ADDRESS_FAILURES),
            ),
        )
    user = await find_user(session, email) if len(email) <= 254 else None
    hashed = user.password_hash if user else _DUMMY_HASH
    try:
        ok: bool = await asyncio.to_thread(HASHER.verify, hashed, password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None or user.disabled_at is not None:
        return SignIn(None, await _locked_for(redis, account, MAX_FAILURES))
    await redis.delete(account)
    await redis.decr(by_address)  # a success is no failure of the address
    if HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = await asyncio.to_thread(HASHER.hash, password)
    user.last_sign_in_at = utcnow()
    session.add(user)
    await session.flush()
    return SignIn(user)


async def record_audit(
    session: AsyncSession,
    user: ConsoleUser | None,
    action: str,
    *,
    issuer: str | None = None,
    target: str = "",
    summary: str = "",
    summary_en: str = "",
    detail: dict[str, Any] | None = None,
) -> ConsoleAudit:
    """Write who did what, to what, now (never personal data of families).

    `summary` is read on Japanese pages, `summary_en` (kept as `detail["summary_en"]`) on
    English ones; the history names the action itself from its code."""
    detail = dict(detail or {})
    if summary_en:
        detail["summary_en"] = summary_en[:500]
    entry = ConsoleAudit(
        user_id=user.id if user else None,
        email=user.email if user else "",
        issuer=issuer or (user.issuer if user else ""),
        action=action,
        target=target[:200],
        summary=summary[:500],
        detail=detail,
    )
    session.add(entry)
    await session.flush()
    return entry


async def audit_trail(
    session: AsyncSession,
    *,
    issuer: str | None,
    action: str | None = None,
    target: str | None = None,
    before: datetime | None = None,
    limit: int = 100,
    hide: Collection[str] = (),
) -> list[ConsoleAudit]:
    """The newest entries first, of one issuer (None: all), optionally of one action prefix
    or one target, without the actions in `hide` (e.g. sign-ins)."""
    query = select(ConsoleAudit).order_by(col(ConsoleAudit.at).desc(), col(ConsoleAudit.id).desc())
    if issuer is not None:
        query = query.where(col(ConsoleAudit.issuer) == issuer)
    if action:
        query = query.where(col(ConsoleAudit.action).startswith(action))
    if hide:
        query = query.where(col(ConsoleAudit.action).not_in(list(hide)))
    if target:
        query = query.where(col(ConsoleAudit.target) == target)
    if before is not None:
        query = query.where(col(ConsoleAudit.at) < before)
    return list((await session.exec(query.limit(limit))).all())
