"""App subscriptions: families registered by a municipality app backend instead of LINE.

A subscription holds the family's inbox token (stored hashed, like API keys) and the secret
that signs callbacks to the backend. Every function takes a session; the caller owns the
transaction.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Final

from pydantic import AfterValidator, AwareDatetime, Field
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from registry import families, urls
from registry.auth import hash_key
from registry.models import AppSubscription, Family, utcnow
from rules.profile import ChildInput, FamilyInput

TOKEN_PREFIX = "hgs_"  # tells a subscriber token from an API key (hgk_) at a glance
SIGNATURE_HEADER = "x-hagukumi-signature"
MAX_INT32 = 2**31 - 1  # integer columns are 32-bit in PostgreSQL
# Consent given before the service existed is a typo, and very old dates overflow once
# shifted to UTC; a few minutes ahead are tolerated for the backend's clock drift.
EARLIEST_CONSENT = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(minutes=5)


class _Keep:
    """Marker: leave a value as it is."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()


class SubscriberProfile(FamilyInput):
    """The profile input, bounded to what the family table can hold."""

    household_income: int | None = Field(
        default=None,
        ge=0,
        le=MAX_INT32,
        description="Household income in yen a year (世帯所得); null when not told.",
    )


def new_token() -> str:
    """A fresh inbox token (shown once; only its hash is stored)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_secret() -> str:
    """A fresh callback signing secret (43 characters)."""
    return secrets.token_urlsafe(32)


def sign(secret: str, body: bytes) -> str:
    """The callback signature: base64(HMAC-SHA256(secret, body)), as LINE signs webhooks."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def check_consented_at(value: datetime, now: datetime | None = None) -> datetime:
    """A consent time must be timezone-aware, not in the future and not absurdly old."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("consented_at must carry a timezone offset, e.g. 2026-11-01T10:00+09:00")
    try:
        in_utc = value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ValueError("consented_at is out of range") from exc
    if in_utc < EARLIEST_CONSENT:
        raise ValueError("consented_at is before 2000-01-01")
    if in_utc > (now or utcnow()) + CLOCK_SKEW:
        raise ValueError("consented_at is in the future")
    return in_utc


ConsentTime = Annotated[AwareDatetime, AfterValidator(check_consented_at)]
"""A consent time in input models: aware, not in the future (handed on in UTC)."""

CallbackUrl = Annotated[str, Field(max_length=2000), AfterValidator(urls.callback_url_validator)]
"""A callback URL in input models: https to a public host (see registry.urls)."""


def unborn_children(children: Sequence[ChildInput], today: date) -> list[int]:
    """Indexes of children born after `today` (an expected child is pregnant/due_date)."""
    return [i for i, child in enumerate(children) if child.birth_date > today]


def household_fields(profile: FamilyInput) -> dict[str, Any]:
    """The household columns of a profile (due_date only while pregnant)."""
    fields = {name: getattr(profile, name) for name in families.PROFILE_FIELDS}
    if not profile.pregnant:
        fields["due_date"] = None
    return fields


def child_rows(family_id: int, children: Sequence[ChildInput]) -> list[dict[str, Any]]:
    """Child columns for a bulk insert."""
    now = utcnow()
    return [
        {
            "family_id": family_id,
            "birth_date": c.birth_date,
            "disability": c.disability,
            "daycare": c.daycare,
            "created_at": now,
        }
        for c in children
    ]


async def create_subscriber(
    session: AsyncSession,
    *,
    issuer: str,
    profile: FamilyInput,
    consented_at: datetime,
    callback_url: str | None,
) -> tuple[Family, AppSubscription, str, str]:
    """Register a consenting family for an app; returns (family, subscription, token, secret).

    The token and secret are returned in clear text this once; only the token's hash is kept.
    """
    now = utcnow()
    family = Family(
        state="active",
        consented_at=consented_at,
        # The backend sent a complete profile: nothing is left to ask, as after onboarding.
        onboarded_at=now,
        preferences={"channel": "app"},
        created_at=now,
        updated_at=now,
        **household_fields(profile),
    )
    session.add(family)
    await session.flush()
    await families.replace_children(session, family, profile.children)
    assert family.id is not None
    token, secret = new_token(), new_secret()
    subscription = AppSubscription(
        family_id=family.id,
        issuer=issuer,
        token_hash=hash_key(token),
        secret=secret,
        callback_url=callback_url,
        created_at=now,
    )
    session.add(subscription)
    await session.flush()
    return family, subscription, token, secret


async def update_subscriber(
    session: AsyncSession,
    subscription: AppSubscription,
    *,
    fields: Mapping[str, Any] | None = None,
    children: Sequence[ChildInput] | None = None,
    callback_url: str | None | _Keep = KEEP,
) -> Family:
    """Change household fields, replace the children (when given) and set the callback URL."""
    family = await family_of(session, subscription, lock=True)
    if fields:
        await families.update_profile(session, family, **fields)
    if children is not None:
        await families.replace_children(session, family, children)
    if not isinstance(callback_url, _Keep):
        subscription.callback_url = callback_url
        session.add(subscription)
        await session.flush()
    return family


async def delete_subscriber(session: AsyncSession, subscription: AppSubscription) -> None:
    """Delete the family's personal data for good and the subscription (its token dies)."""
    family = await family_of(session, subscription, lock=True)
    await session.delete(subscription)
    await session.flush()
    await families.delete_personal_data(session, family)


async def find_by_token(session: AsyncSession, token: str) -> AppSubscription | None:
    """The subscription whose inbox token this is, if any."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    result = await session.exec(
        select(AppSubscription).where(AppSubscription.token_hash == hash_key(token))
    )
    return result.first()


async def get(
    session: AsyncSession, subscription_id: int, *, lock: bool = False
) -> AppSubscription | None:
    """One subscription by id."""
    statement = select(AppSubscription).where(AppSubscription.id == subscription_id)
    if lock:
        statement = statement.with_for_update()
    return (await session.exec(statement)).first()


async def has_subscription(session: AsyncSession, family_id: int) -> bool:
    """Whether an app backend registered this family (so the app channel can reach it)."""
    statement = select(AppSubscription.id).where(AppSubscription.family_id == family_id)
    return (await session.exec(statement)).first() is not None


async def family_of(
    session: AsyncSession, subscription: AppSubscription, *, lock: bool = False
) -> Family:
    """The subscribed family (a subscription always has one: family_id is a foreign key)."""
    statement = select(Family).where(Family.id == subscription.family_id)
    if lock:
        statement = statement.with_for_update()
    family = (await session.exec(statement)).first()
    assert family is not None
    return family
