"""SQLModel tables of the registry, and the UTC timestamp column every package's tables use.

Other packages own their tables (`notifier.models`, `bot.models`); the composition root lists
every model module (`hagukumi.models.MODEL_MODULES`). Timestamps are stored in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Now, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always hands back aware UTC datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store timezone-aware datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def timestamp_field(**kwargs: Any) -> Any:
    """A required UTC timestamp column that defaults to now."""
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False), **kwargs)


_ts = timestamp_field


class Municipality(SQLModel, table=True):
    """A local government: Tokyo's 62, Tokyo itself (130001) and the nation (000000)."""

    __tablename__ = "municipality"

    code: str = Field(primary_key=True, max_length=6)
    name_ja: str
    name_en: str
    kana: str = ""
    kind: str  # ward, city, town, village, prefecture, nation
    prefecture: str | None = Field(default=None, max_length=6)


class ApiKey(SQLModel, table=True):
    """An API key, stored as a SHA-256 hash; the key itself is shown once."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    key_hash: str = Field(index=True, unique=True, max_length=64)
    prefix: str = Field(max_length=16)
    issuer: str = Field(max_length=6, foreign_key="municipality.code")
    role: str = Field(max_length=16)
    name: str = ""
    created_at: datetime = _ts()
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class Program(SQLModel, table=True):
    """The current version of a support program; `body` holds the program input."""

    __tablename__ = "program"
    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_program_source"),
        Index("ix_program_issuer_status", "issuer", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    issuer: str = Field(max_length=6, foreign_key="municipality.code")
    status: str = Field(default="draft", max_length=16)
    source: str = Field(default="api", max_length=32)
    source_id: str | None = Field(default=None, max_length=128)
    version: int = 1
    needs_review: bool = False
    review_notes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    name_ja: str = ""
    search_text: str = ""
    categories: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Mirrors body["push"]: on_request programs are shown when asked, never pushed.
    push: str = Field(default="proactive", max_length=16)
    # The issuer set `push` itself: a registry re-import keeps it.
    push_explicit: bool = False
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    published_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class ProgramVersion(SQLModel, table=True):
    """A frozen earlier (or current) version of a program, readable for good."""

    __tablename__ = "program_version"
    __table_args__ = (UniqueConstraint("program_id", "version", name="uq_program_version"),)

    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="program.id", index=True)
    version: int
    status: str = Field(max_length=16)
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts()


class Family(SQLModel, table=True):
    """A household that follows the service (LINE) or was registered by an app backend.

    Before consent only the LINE user ID is stored; personal fields stay empty.
    """

    __tablename__ = "family"

    id: int | None = Field(default=None, primary_key=True)
    line_user_id: str | None = Field(default=None, max_length=64, unique=True, index=True)
    state: str = Field(default="new", max_length=16)  # new, active, blocked, deleted
    consented_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    onboarded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    blocked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    deleted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    municipality: str | None = Field(default=None, max_length=6)
    pregnant: bool = False
    due_date: date | None = None
    single_parent: bool | None = None
    household_income: int | None = None
    resident_tax_exempt: bool | None = None
    public_assistance: bool | None = None
    language: str = Field(default="ja", max_length=2)
    preferences: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class Child(SQLModel, table=True):
    """A child of a family (personal data: deleted with the family's data)."""

    __tablename__ = "child"

    id: int | None = Field(default=None, primary_key=True)
    family_id: int = Field(foreign_key="family.id", index=True)
    birth_date: date
    disability: bool = False
    daycare: str = Field(default="none", max_length=16)
    created_at: datetime = _ts()


class ProgramAction(SQLModel, table=True):
    """Something a family did about a program, e.g. "I applied" (stops its reminders)."""

    __tablename__ = "program_action"
    __table_args__ = (
        UniqueConstraint("family_id", "program_id", "kind", name="uq_program_action"),
    )

    id: int | None = Field(default=None, primary_key=True)
    family_id: int = Field(foreign_key="family.id", index=True)
    program_id: int = Field(foreign_key="program.id", index=True)
    kind: str = Field(default="applied", max_length=16)
    created_at: datetime = _ts()


class AppSubscription(SQLModel, table=True):
    """A family registered by a municipality app backend: its inbox token and callback."""

    __tablename__ = "app_subscription"

    id: int | None = Field(default=None, primary_key=True)
    family_id: int = Field(foreign_key="family.id", unique=True)
    issuer: str = Field(max_length=6, foreign_key="municipality.code")
    token_hash: str = Field(max_length=64, unique=True, index=True)
    secret: str = Field(max_length=64)  # signs callbacks; the backend holds the same secret
    callback_url: str | None = Field(default=None, max_length=2000)
    created_at: datetime = _ts()


class ConsoleUser(SQLModel, table=True):
    """A person who signs in to the web console: a municipality's editor or viewer, or an
    operator. The password is kept only as an Argon2id hash."""

    __tablename__ = "console_user"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)  # stored lower-cased
    issuer: str = Field(max_length=6, foreign_key="municipality.code")
    role: str = Field(max_length=16)  # editor, viewer, operator
    name: str = Field(default="", max_length=100)
    password_hash: str = Field(max_length=200)
    created_at: datetime = _ts()
    last_sign_in_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    disabled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class ConsoleAudit(SQLModel, table=True):
    """One change made in the console (or a sign-in event): who, when, what."""

    __tablename__ = "console_audit"
    __table_args__ = (Index("ix_console_audit_issuer_at", "issuer", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts()
    user_id: int | None = Field(default=None, foreign_key="console_user.id", index=True)
    email: str = Field(default="", max_length=254)  # kept as written when the user goes
    issuer: str = Field(max_length=6)
    action: str = Field(max_length=64)  # e.g. program.publish, facility.import, user.sign_in
    target: str = Field(default="", max_length=200)  # e.g. "program 12"
    summary: str = Field(default="", max_length=500)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
