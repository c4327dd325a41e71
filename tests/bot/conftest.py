"""A world with LINE in it: the app and the LINE platform emulator on real ports.

Tests act as parents through the emulator (which signs and posts webhook events like LINE);
the bot answers through line-bot-sdk over real HTTP to the emulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from hagukumi.settings import Settings
from tests.conftest import TODAY

SECRET = "test-channel-secret"
TOKEN = "test-channel-token"
# The bot's clock: noon in Tokyo on the fixed test date.
NOW = datetime(TODAY.year, TODAY.month, TODAY.day, 3, 0, tzinfo=UTC)


class LineWorld:
    """The app, the emulator, and helpers to act as a parent."""

    def __init__(self, app: Any, emulator_app: Any, emulator_url: str, sessions: Any) -> None:
        from integrations.line_emulator import EMULATOR

        self.app = app
        self.emulator_app = emulator_app
        self.emulator = emulator_app[EMULATOR]
        self.emulator_url = emulator_url
        self.sessions = sessions
        self.webhook_url = ""
        # Every test ends checking that LINE refused nothing the bot sent, unless it sets this.
        self.allow_rejections = False
        self.http = aiohttp.ClientSession()

    async def close(self) -> None:
        await self.http.close()

    async def idle(self) -> None:
        """Wait until the bot has handled everything it received."""
        from bot.webhook import BOT
        from registry.http import BACKGROUND

        await self.app[BOT].idle()
        await self.app[BACKGROUND].drain()

    async def send(self, user_id: str, event: dict[str, Any]) -> dict[str, Any]:
        """Have the emulator post one event from this user, then wait for the bot."""
        async with self.http.post(
            f"{self.emulator_url}/_emulator/users/{user_id}/events", json=event
        ) as response:
            body = await response.json()
            assert response.status == 200, body
        await self.idle()
        return body

    async def raw(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """One webhook delivery carrying several events (the emulator builds and signs it)."""
        async with self.http.post(
            f"{self.emulator_url}/_emulator/webhook/raw", json={"events": events}
        ) as response:
            body = await response.json()
            assert response.status == 200, body
        return body

    async def follow(self, user_id: str, **extra: Any) -> dict[str, Any]:
        return await self.send(user_id, {"type": "follow", **extra})

    async def unfollow(self, user_id: str) -> dict[str, Any]:
        return await self.send(user_id, {"type": "unfollow"})

    async def text(self, user_id: str, text: str) -> dict[str, Any]:
        return await self.send(user_id, {"type": "message", "text": text})

    async def postback(
        self, user_id: str, data: str, params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        event: dict[str, Any] = {"type": "postback", "data": data}
        if params:
            event["params"] = params
        return await self.send(user_id, event)

    async def _get(self, path: str) -> Any:
        async with self.http.get(f"{self.emulator_url}{path}") as response:
            assert response.status == 200
            return await response.json()

    async def messages(self, user_id: str) -> list[dict[str, Any]]:
        """Every message delivered to this user, in order."""
        entries = await self._get(f"/_emulator/users/{user_id}/messages")
        return [entry["message"] for entry in _items(entries)]

    async def last(self, user_id: str) -> list[dict[str, Any]]:
        """The messages of the most recent reply or push to this user."""
        entries = _items(await self._get(f"/_emulator/users/{user_id}/messages"))
        if not entries:
            return []
        last_request = entries[-1]["requestId"]
        return [e["message"] for e in entries if e["requestId"] == last_request]

    async def requests(self) -> list[dict[str, Any]]:
        """Every API request the emulator received."""
        return _items(await self._get("/_emulator/requests"))

    async def rejected(self) -> list[dict[str, Any]]:
        """Requests the emulator refused with a 4xx (must stay empty)."""
        return [r for r in await self.requests() if 400 <= int(r.get("status", 0)) < 500]


def _items(payload: Any) -> list[dict[str, Any]]:
    if isinstance(payload, dict):
        for key in ("items", "messages", "requests"):
            if key in payload:
                return list(payload[key])
    return list(payload)


@pytest.fixture
async def line_world(settings: Settings, sessions: Any) -> AsyncIterator[LineWorld]:
    """The app with the bot, and the emulator playing LINE, both on real loopback ports."""
    from hagukumi.app import create_app
    from hagukumi.demo import demo_programs
    from integrations.line_emulator import EmulatorConfig, create_emulator_app
    from registry import programs as repo
    from registry.db import transaction

    async with transaction(sessions) as session:
        for data in demo_programs():
            row = await repo.create_program(session, data, source="demo")
            await repo.set_status(session, row, "published")

    emulator_app = create_emulator_app(
        EmulatorConfig(
            channel_access_token=TOKEN,
            channel_secret=SECRET,
            webhook_url=None,
            spec_path=settings.shared_dir / "line-openapi" / "messaging-api.yml",
        ),
        clock=lambda: NOW,
    )
    emulator_server = TestServer(emulator_app, host="127.0.0.1")
    await emulator_server.start_server()
    emulator_url = str(emulator_server.make_url("")).rstrip("/")
    app_settings = settings.model_copy(
        update={
            "line_channel_secret": SECRET,
            "line_channel_access_token": TOKEN,
            "line_api_base_url": emulator_url,
            # App backends in these tests listen on loopback http (issue 8, point 10).
            "callback_allow": "127.0.0.1",
        }
    )
    app = create_app(app_settings, today=lambda: TODAY, clock=lambda: NOW)
    app_server = TestServer(app, host="127.0.0.1")
    await app_server.start_server()
    webhook = str(app_server.make_url("/line/webhook"))
    from integrations.line_emulator import EMULATOR

    emulator_app[EMULATOR].config.webhook_url = webhook
    world = LineWorld(app, emulator_app, emulator_url, sessions)
    world.webhook_url = webhook
    # The rich menu is set up in the background at start-up; let it finish.
    from hagukumi.app import RICH_MENU_TASK

    await asyncio.wait_for(asyncio.shield(app[RICH_MENU_TASK]), 30)
    try:
        yield world
        if not world.allow_rejections:
            assert await world.rejected() == [], "the emulator refused requests the bot sent"
    finally:
        await world.close()
        await app_server.close()
        await emulator_server.close()
