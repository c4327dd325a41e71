"""The LINE emulator on a real port, for tests of the channels that talk to it over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp.test_utils import TestServer

from integrations.line_emulator import EMULATOR, Emulator, EmulatorConfig, create_emulator_app
from tests.conftest import SHARED


@asynccontextmanager
async def emulator_on_a_port(
    token: str, secret: str, seed: int
) -> AsyncIterator[tuple[Emulator, str]]:
    """The emulator (LINE's OpenAPI document when ../shared has it) and its base URL."""
    spec = SHARED / "line-openapi" / "messaging-api.yml"
    app = create_emulator_app(
        EmulatorConfig(
            channel_access_token=token,
            channel_secret=secret,
            spec_path=spec if spec.exists() else None,
            seed=seed,
        )
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield app[EMULATOR], str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
