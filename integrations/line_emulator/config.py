"""What the emulated LINE channel looks like: credentials, webhook, budget, limits, faults."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# LINE's documented rate limits, per channel and per endpoint, in requests a second.
# https://developers.line.biz/en/reference/messaging-api/#rate-limits
DEFAULT_RATE_LIMITS: dict[str, float] = {
    "reply": 2000.0,
    "push": 2000.0,
    "multicast": 200.0,
    "broadcast": 60 / 3600,  # 60 requests an hour
    "narrowcast": 60 / 3600,  # 60 requests an hour
    "richmenu_create": 100 / 3600,  # 100 requests an hour (creating and deleting rich menus)
    "richmenu_delete": 100 / 3600,
    "default": 2000.0,  # "other API endpoints"
}

# The window LINE states each limit over (seconds); a bucket holds one window's worth.
RATE_WINDOWS: dict[str, float] = {
    "broadcast": 3600,
    "narrowcast": 3600,
    "richmenu_create": 3600,
    "richmenu_delete": 3600,
}

# Any id of the right shape: the bot's own user id is the `destination` of every webhook.
DEFAULT_BOT_USER_ID = "U4a1b0c2d3e4f5a6b7c8d9e0f1a2b3c4d"


@dataclass
class EmulatorConfig:
    """One emulated LINE Messaging API channel."""

    channel_access_token: str = "emulator-token"
    channel_secret: str = "emulator-secret"
    webhook_url: str | None = None
    monthly_limit: int | None = None  # messages a month; None = unlimited
    fail_rate: float = 0.0  # fraction of API requests answered 500
    latency_ms: int = 0
    rate_limits: dict[str, float] | None = None  # requests a second per endpoint, over defaults
    spec_path: Path | None = None  # messaging-api.yml; None or missing = line-bot-sdk models
    seed: int | None = None  # makes fault injection and generated ids reproducible
    bot_user_id: str = DEFAULT_BOT_USER_ID
    bot_display_name: str = "はぐくみ"
    bot_basic_id: str = "@hagukumi"
    webhook_timeout: float = 2.0  # seconds; LINE gives up on a webhook after about 2 s
    request_log_limit: int = 100_000  # API requests kept for inspection (oldest dropped)

    def rate_limit(self, operation: str) -> float:
        """Requests a second allowed for an operation (its own limit or the default)."""
        limits = {**DEFAULT_RATE_LIMITS, **(self.rate_limits or {})}
        return limits.get(operation, limits["default"])
