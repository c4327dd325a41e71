"""The emulator as an aiohttp application, standalone or mounted under a prefix."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
from aiohttp import web

from integrations.line_emulator import api, control
from integrations.line_emulator.api import EMULATOR, MAX_REQUEST_BYTES
from integrations.line_emulator.config import EmulatorConfig
from integrations.line_emulator.logs import PrivateAccessLogger, redact_line_ids
from integrations.line_emulator.state import Emulator, LineError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Errors as LINE shapes them, `{"message": ...}`, for the control routes too."""
    try:
        return await handler(request)
    except LineError as exc:
        return web.json_response(exc.body(), status=exc.status, headers=exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return web.json_response({"message": exc.reason}, status=exc.status)
    except Exception:
        log.exception("LINE emulator bug", extra={"path": redact_line_ids(request.path)})
        return web.json_response(
            {"message": "emulator error (a bug: it has been logged)"}, status=500
        )


def _http_client(emulator: Emulator) -> Callable[[web.Application], AsyncIterator[None]]:
    async def open_client(app: web.Application) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=emulator.config.webhook_timeout)
        emulator.session = aiohttp.ClientSession(timeout=timeout)
        yield
        await emulator.session.close()
        emulator.session = None

    return open_client


def create_emulator_app(
    config: EmulatorConfig, *, clock: Callable[[], datetime] | None = None
) -> web.Application:
    """A LINE platform stand-in: Messaging API at LINE's paths, `/_emulator/*` to drive it."""
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_REQUEST_BYTES)
    emulator = Emulator(config, clock or (lambda: datetime.now(UTC)))
    app[EMULATOR] = emulator
    app.cleanup_ctx.append(_http_client(emulator))
    control.install(app)
    api.install(app)
    return app


async def run_emulator(config: EmulatorConfig, host: str = "127.0.0.1", port: int = 8081) -> None:
    """Serve the emulator until cancelled, saying once where it listens."""
    runner = web.AppRunner(create_emulator_app(config), access_log_class=PrivateAccessLogger)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0] if runner.addresses else (host, port)
        base = f"http://{host}:{bound[1]}"
        print(  # the CLI prints this one line
            f"LINE emulator on {base} (LINE_API_BASE_URL={base}; chat page {base}/_emulator/; "
            f"webhook → {config.webhook_url or 'none'})",
            flush=True,
        )
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
