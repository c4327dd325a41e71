"""Settings, read once from the environment by the composition root and passed down."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from registry.urls import UrlPolicy

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB = PROJECT_ROOT / "var" / "hagukumi.sqlite3"


class Settings(BaseSettings):
    """Every knob of the service; names follow ARCHITECTURE.md."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    database_url: str = Field(f"sqlite:///{DEFAULT_DB}", alias="HAGUKUMI_DATABASE_URL")
    redis_url: str = Field("memory://", alias="HAGUKUMI_REDIS_URL")
    tz: str = Field("Asia/Tokyo", alias="HAGUKUMI_TZ")
    quiet_hours: str = Field("20:00-08:00", alias="HAGUKUMI_QUIET_HOURS")
    digest_at: str = Field("09:00", alias="HAGUKUMI_DIGEST_AT")
    api_rate_limit: str = Field(
        "50/200",
        alias="HAGUKUMI_API_RATE_LIMIT",
        description="requests a second per key and the burst, as RATE/BURST (e.g. 50/200)",
    )
    max_body_bytes: int = Field(1_000_000, alias="HAGUKUMI_MAX_BODY_BYTES")
    rule_time_limit: float = Field(
        2.0,
        gt=0,
        le=60,
        alias="HAGUKUMI_RULE_TIME_LIMIT",
        description="seconds a rule check (validate, create, change, publish) may run",
    )
    rule_workers: int = Field(
        2,
        ge=1,
        le=64,
        alias="HAGUKUMI_RULE_WORKERS",
        description="worker processes that check rules sent by callers, off the event loop",
    )
    line_channel_secret: str | None = Field(None, alias="LINE_CHANNEL_SECRET")
    line_channel_access_token: str | None = Field(None, alias="LINE_CHANNEL_ACCESS_TOKEN")
    line_api_base_url: str | None = Field(
        None, alias="LINE_API_BASE_URL", description="default https://api.line.me"
    )
    public_url: str = Field(
        "http://127.0.0.1:8080",
        alias="HAGUKUMI_PUBLIC_URL",
        description="where this server is reached (the sandbox emulator posts webhooks here)",
    )
    callback_allow: str = Field(
        "",
        alias="HAGUKUMI_CALLBACK_ALLOW",
        description=(
            "hosts (comma-separated) that app callbacks and parents' links may reach over http "
            "or at private addresses: for tests and on-premises backends"
        ),
    )
    shared_dir: Path = Field(PROJECT_ROOT.parent / "shared", alias="HAGUKUMI_SHARED_DIR")
    log_level: str = Field("INFO", alias="HAGUKUMI_LOG_LEVEL")

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        ZoneInfo(value)
        return value

    @field_validator("api_rate_limit")
    @classmethod
    def _rate_form(cls, value: str) -> str:
        parse_rate_limit(value)
        return value

    @model_validator(mode="after")
    def _line_whole(self) -> Settings:
        problem = self.line_problem()
        if problem:
            raise ValueError(problem)
        return self

    def line_problem(self) -> str | None:
        """Why the LINE credentials are half there (one without the other), or None."""
        secret, token = bool(self.line_channel_secret), bool(self.line_channel_access_token)
        if secret == token:
            return None
        given, missing = (
            ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN")
            if secret
            else ("LINE_CHANNEL_ACCESS_TOKEN", "LINE_CHANNEL_SECRET")
        )
        # Half a channel must not quietly become the sandbox: the operator meant real LINE.
        return (
            f"{given} is set but {missing} is not: set both to talk to LINE, or neither "
            "for the sandbox (the built-in LINE emulator)"
        )

    @property
    def sandbox(self) -> bool:
        """No LINE credentials: the built-in LINE platform emulator stands in for LINE."""
        return not (self.line_channel_secret and self.line_channel_access_token)

    @property
    def url_policy(self) -> UrlPolicy:
        """Which callback and link hosts are allowed beyond public https ones."""
        return UrlPolicy.parse(self.callback_allow)

    @property
    def zone(self) -> ZoneInfo:
        """The zone people live in."""
        return ZoneInfo(self.tz)

    @property
    def rate_limit(self) -> tuple[float, int]:
        """(requests per second, burst)."""
        return parse_rate_limit(self.api_rate_limit)


def parse_rate_limit(value: str) -> tuple[float, int]:
    """Parse `RATE/BURST` or `RATE` (burst = 4 × rate) into numbers."""
    rate_text, _, burst_text = value.partition("/")
    rate = float(rate_text)
    burst = int(burst_text) if burst_text else max(1, int(rate * 4))
    if rate <= 0 or burst < 1:
        raise ValueError("HAGUKUMI_API_RATE_LIMIT must be RATE/BURST with positive numbers")
    return rate, burst


def load_settings(**overrides: object) -> Settings:
    """Read the environment once (the only place that does)."""
    return Settings(**overrides)  # type: ignore[arg-type]
