"""A running emulator, a webhook server that checks LINE's signature, and a settable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from linebot.v3 import WebhookParser
from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
)

from integrations.line_emulator import EMULATOR, Emulator, EmulatorConfig, create_emulator_app
from tests.conftest import SHARED, shared_path

TOKEN = "test-token"
SECRET = "test-secret"


def user_id(n: int) -> str:
    """A valid LINE user id, distinct per `n`."""
    return f"U{n:032x}"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += timedelta(seconds=seconds)


@dataclass
class Webhook:
    """What the bot's webhook received: raw bodies, headers and the SDK's parsed events."""

    parser: WebhookParser
    bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    status: int = 200

    async def handle(self, request: web.Request) -> web.Response:
        """Verify the signature on the raw body like a real bot, then parse."""
        raw = await request.read()
        self.bodies.append(raw)
        self.headers.append(dict(request.headers))
        signature = request.headers.get("x-line-signature", "")
        try:
            self.events.extend(self.parser.parse(raw.decode("utf-8"), signature))
        except Exception:
            return web.json_response({"error": "bad signature"}, status=400)
        return web.json_response({}, status=self.status)


@dataclass
class Line:
    """The emulator under test and the SDK clients pointed at it."""

    base_url: str
    client: Any  # aiohttp TestClient
    emulator: Emulator
    webhook: Webhook

    @asynccontextmanager
    async def api(self) -> AsyncIterator[AsyncMessagingApi]:
        """`AsyncMessagingApi` created inside the running loop, closed after."""
        async with AsyncApiClient(Configuration(host=self.base_url, access_token=TOKEN)) as client:
            yield AsyncMessagingApi(client)

    @asynccontextmanager
    async def blob(self) -> AsyncIterator[AsyncMessagingApiBlob]:
        """`AsyncMessagingApiBlob` on the same host (the emulator serves both)."""
        async with AsyncApiClient(Configuration(host=self.base_url, access_token=TOKEN)) as client:
            yield AsyncMessagingApiBlob(client)

    async def event(self, user: str, **spec: Any) -> dict[str, Any]:
        """Play one user action; the emulator's answer."""
        response = await self.client.post(f"/_emulator/users/{user}/events", json=spec)
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer

    async def post(self, path: str, body: Any, **headers: str) -> tuple[int, Any, Any]:
        """A raw API call with the right token: status, JSON body, headers."""
        response = await self.client.post(
            path, json=body, headers={"Authorization": f"Bearer {TOKEN}", **headers}
        )
        return response.status, await response.json(), response.headers


@pytest.fixture
def clock() -> Clock:
    """Time that only moves when the test says so."""
    return Clock()


@pytest.fixture
def spec_path() -> Path:
    """LINE's messaging-api.yml, or a skip saying it is absent."""
    return shared_path("line-openapi", "messaging-api.yml")


@pytest.fixture
def make_line(aiohttp_client: Any, aiohttp_server: Any, clock: Clock) -> Callable[..., Any]:
    """Start a webhook server and an emulator posting to it; config fields as keywords."""

    async def start(**changes: Any) -> Line:
        webhook = Webhook(WebhookParser(SECRET))
        hook_app = web.Application()
        hook_app.router.add_post("/callback", webhook.handle)
        hook_server = await aiohttp_server(hook_app)
        settings: dict[str, Any] = {
            "channel_access_token": TOKEN,
            "channel_secret": SECRET,
            "webhook_url": str(hook_server.make_url("/callback")),
            "seed": 7,
            **changes,
        }
        app = create_emulator_app(EmulatorConfig(**settings), clock=clock)
        client = await aiohttp_client(app)
        base_url = str(client.make_url("")).rstrip("/")
        return Line(base_url, client, app[EMULATOR], webhook)

    return start


@pytest.fixture
async def line(make_line: Callable[..., Any]) -> Line:
    """The emulator checking with LINE's OpenAPI document when at hand, else the SDK models."""
    path = SHARED / "line-openapi" / "messaging-api.yml"
    started: Line = await make_line(spec_path=path if path.is_file() else None)
    return started
