"""The composition root of the web process: `create_app(settings)`."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from bot import api as bot_api
from bot.webhook import line_webhook
from hagukumi.metrics import Metrics
from hagukumi.models import load_models
from hagukumi.resources import make_redis
from hagukumi.settings import Settings
from integrations.daycare import api as daycare_api
from integrations.daycare import applications_api as daycare_applications_api
from integrations.daycare import points_api as daycare_points_api
from integrations.daycare import rounds_api as daycare_rounds_api
from integrations.daycare import search_api as daycare_search_api
from integrations.daycare import tours_api as daycare_tours_api
from notifier import api as notifier_api
from notifier import staff_api
from notifier.audience import count_audience
from registry import api as registry_api
from registry.auth import RateLimiter, find_key, hash_key, retry_after_header
from registry.db import create_engine, session_factory
from registry.eligibility import Catalog
from registry.events import Events
from registry.http import (
    API_KEY,
    BACKGROUND,
    CATALOG,
    CLOCK,
    EVENTS,
    MAX_BODY,
    SESSIONS,
    TODAY,
    URL_POLICY,
    ApiError,
    BackgroundTasks,
    ErrorResponse,
    RouteTable,
    build_openapi,
    error_middleware,
    error_response,
    json_dumps,
)
from registry.migrate import ensure_current
from registry.rule_checks import RuleChecker
from registry.web import pages as web_pages
from registry.web import programs as web_programs
from registry.web.kit import TEMPLATES, WEB, WebConfig, make_templates, pages_middleware

log = logging.getLogger(__name__)

SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
REDIS: web.AppKey[Any] = web.AppKey("redis", object)
ENGINE: web.AppKey[Any] = web.AppKey("engine", object)
METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
LIMITER: web.AppKey[RateLimiter] = web.AppKey("limiter", RateLimiter)
OPENAPI: web.AppKey[dict[str, Any]] = web.AppKey("openapi", dict)

API_TABLES: list[RouteTable] = [
    registry_api.routes,
    # The facility search before any `/api/v1/facilities/{id}` route could take "search".
    daycare_search_api.routes,
    daycare_tours_api.routes,
    bot_api.routes,
    notifier_api.routes,
    staff_api.routes,
    daycare_api.routes,
    daycare_applications_api.routes,
    daycare_points_api.routes,
    daycare_rounds_api.routes,
]


# The web pages (not in the OpenAPI description): the console's, and the public /quality.
def _page_tables() -> list[web.RouteTableDef]:
    from bot import quality
    from integrations.daycare import console as daycare_console
    from notifier import console as notifier_console

    return [
        web_pages.routes,
        web_programs.routes,
        daycare_console.routes,
        notifier_console.routes,
        quality.routes,
    ]


# Each package keeps its page templates in its own `templates/` folder.
TEMPLATE_PACKAGES = ("registry.web", "notifier", "integrations.daycare", "bot")
SANDBOX_LINE_PREFIX = "/_line"
SUBSCRIBER_PATHS = ("/api/v1/app/inbox",)
EMULATOR_SECRET = "emulator-secret"
EMULATOR_TOKEN = "emulator-token"
RICH_MENU_TASK: web.AppKey[Any] = web.AppKey("rich_menu_task", object)
NOTICES: web.AppKey[Any] = web.AppKey("notices", object)
RUN_WORKERS: web.AppKey[bool] = web.AppKey("run_workers", bool)
VERSION = "0.1.0"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _rate_limited(wait: float) -> web.Response:
    return error_response(
        429,
        "rate_limited",
        f"too many requests: try again in {wait:.2f} s",
        headers={"Retry-After": retry_after_header(wait)},
    )


# A credential that worked lately is let through to its lookup even when its address is over
# the limit of wrong ones (a guesser sharing the office's address cannot lock the office out);
# the lookup itself still decides, so a revoked key stops at once.
KNOWN_CREDENTIAL_SECONDS = 3600


def _known_credential(header: str) -> str:
    return f"hagukumi:known-credential:{hash_key(header)[:32]}"


def _unauthorized(message: str) -> web.Response:
    return error_response(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Find the API key of `/api/v1` requests and rate-limit per key (or per address).

    Wrong keys and subscriber tokens count against their address, at the anonymous rate: once
    an address is over it, its attempts get 429 without a database lookup.
    """
    if not request.path.startswith("/api/"):
        return await handler(request)
    limiter = request.app[LIMITER]
    address = f"ip:{request.remote}"
    failures = f"unknown-credential:{address}"
    header = request.headers.get("Authorization")
    if header is not None and not header.isascii():
        # Non-ASCII (or non-UTF-8) bytes are no key; never hashed, looked up or logged.
        wait = await limiter.hit(failures)
        if wait > 0:
            return _rate_limited(wait)
        return _unauthorized("use `Authorization: Bearer KEY` (keys are ASCII)")
    # Remembered only until it is seen: a credential already known costs one EXISTS a request.
    known = _known_credential(header) if header is not None else None
    if known is not None and await request.app[REDIS].exists(known):
        known = None
    if known is not None:
        wait = await limiter.wait(failures)
        if wait > 0:
            request.app[METRICS].rate_limited.inc()
            return _rate_limited(wait)
    if request.path.startswith(SUBSCRIBER_PATHS):
        # The app inbox authenticates with a subscriber token, not an API key (its handlers
        # check it); it is still rate-limited, per token, and an unknown token per address.
        wait = await limiter.hit(f"inbox:{hash_key(header or '')[:16]}")
        if wait > 0:
            return _rate_limited(wait)
        try:
            response = await handler(request)
        except ApiError as exc:
            if exc.status == 401:
                await limiter.hit(failures)
            raise
        if known is not None:
            await request.app[REDIS].set(known, 1, ex=KNOWN_CREDENTIAL_SECONDS)
        return response
    identity = address
    if header is not None:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 200:
            await limiter.hit(failures)
            return _unauthorized("use `Authorization: Bearer KEY`")
        async with request.app[SESSIONS]() as session:
            key = await find_key(session, token)
        if key is None:
            await limiter.hit(failures)
            return _unauthorized("unknown or revoked API key")
        request[API_KEY] = key
        identity = f"key:{key.id}"
        if known is not None:
            await request.app[REDIS].set(known, 1, ex=KNOWN_CREDENTIAL_SECONDS)
    wait = await limiter.hit(identity)
    if wait > 0:
        request.app[METRICS].rate_limited.inc()
        return _rate_limited(wait)
    return await handler(request)


async def _resources(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = create_engine(settings.database_url)
    await ensure_current(engine)
    redis = make_redis(settings.redis_url)
    app[ENGINE] = engine
    app[REDIS] = redis
    app[SESSIONS] = session_factory(engine)
    app[WEB].redis = redis
    rate, burst = settings.rate_limit
    app[LIMITER] = RateLimiter(redis, rate, burst)
    yield
    await app[BACKGROUND].drain()
    await app[registry_api.RULE_CHECKER].close()
    await redis.aclose()
    await engine.dispose()


def line_endpoint(settings: Settings) -> tuple[str, str]:
    """Where the Messaging API is and the token for it (the built-in emulator in sandbox)."""
    from notifier.channels.line_api import REAL_API

    if settings.sandbox:
        return settings.public_url.rstrip("/") + SANDBOX_LINE_PREFIX, EMULATOR_TOKEN
    return settings.line_api_base_url or REAL_API, settings.line_channel_access_token or ""


async def _notifier(app: web.Application) -> AsyncIterator[None]:
    """The notifier: channels, triggers on program and family changes, embedded workers."""
    from integrations.daycare.notices import tour_reminder_pass
    from notifier.runtime import Notices

    settings = app[SETTINGS]
    base_url, token = line_endpoint(settings)
    metrics = app[METRICS]
    notices = Notices(
        settings,
        app[SESSIONS],
        app[REDIS],
        line_base_url=base_url,
        line_token=token,
        catalog=app[CATALOG],
        clock=app[CLOCK],
        on_quota_exhausted=lambda _report: metrics.line_quota_exhausted.inc(),
        # Daycare tour reminders, recorded the day before (the scheduler's reminder job).
        remind=partial(tour_reminder_pass, quiet_hours=settings.quiet_hours),
    )
    await notices.open()
    app[NOTICES] = notices
    app[EVENTS].subscribe(notices.on_event)
    try:
        if app[RUN_WORKERS]:
            from notifier.worker import default_consumer

            async with notices.background_workers(holder=default_consumer()):
                yield
        else:
            yield
    finally:
        app[EVENTS].unsubscribe(notices.on_event)
        await notices.close()


async def _bot(app: web.Application) -> AsyncIterator[None]:
    """The LINE side: SDK clients, the event pipeline, drained on shutdown."""
    from sqlmodel import select

    from bot.handlers import dispatcher
    from bot.service import BotDeps, BotService
    from bot.state import ConversationStore
    from bot.webhook import BOT, CHANNEL_SECRET
    from notifier.channels.line_api import LineApi
    from registry.models import Municipality

    settings = app[SETTINGS]
    base_url, token = line_endpoint(settings)
    line = LineApi(base_url, token)
    await line.open()
    sessions = app[SESSIONS]
    async with sessions() as session:
        rows = (await session.exec(select(Municipality))).all()
    municipalities = [
        (m.code, m.name_ja, m.name_en, m.kana)
        for m in rows
        if m.kind in {"ward", "city", "town", "village"}
    ]
    deps = BotDeps(
        sessions=sessions,
        redis=app[REDIS],
        line=line,
        catalog=app[CATALOG],
        conversations=ConversationStore(app[REDIS]),
        zone=settings.zone,
        clock=app[CLOCK],
        municipalities=sorted(municipalities),
        public_url=settings.public_url,
        quiet_hours=settings.quiet_hours,
        shared_redis=not settings.redis_url.startswith("memory://"),
        events=app[EVENTS],
        count_event=lambda kind, outcome: app[METRICS].bot_events.labels(kind, outcome).inc(),
    )
    service = BotService(deps, dispatcher())
    app[BOT] = service
    app[CHANNEL_SECRET] = (
        EMULATOR_SECRET if settings.sandbox else settings.line_channel_secret or ""
    )
    rich_menu_task = asyncio.get_running_loop().create_task(_rich_menu(line, settings.sandbox))
    app[RICH_MENU_TASK] = rich_menu_task
    yield
    await service.drain()
    if not rich_menu_task.done():
        rich_menu_task.cancel()
    await line.close()


async def _rich_menu(line: Any, sandbox: bool) -> None:
    from bot.richmenu import ensure_rich_menu

    # In the sandbox the emulator answers on this very server, which is only listening once
    # start-up is over: try again for a while rather than fail the start.
    for attempt in range(20):
        try:
            await ensure_rich_menu(line)
            return
        except Exception as exc:
            if attempt == 19:
                log.error("rich menu not set up", extra={"error": repr(exc)})
                return
            await asyncio.sleep(0.5 if sandbox else 5)


async def _settle_garbage_collector(app: web.Application) -> None:
    """After start-up, move what start-up built out of the collector's way.

    A full collection walks every live object; with the imported libraries, the catalog and
    the SDK models that is long enough to show in the webhook's answer times (LINE waits at
    most 2 s). Frozen objects are never walked again, and a larger first generation makes
    collections rarer.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


service_routes = RouteTable()
"""The routes outside `/api/v1`: health, metrics, the spec and the LINE webhook."""


class Health(BaseModel):
    """Whether the database and Redis answer."""

    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(description="`ok` or `error: <kind>` per dependency")


class WebhookBody(BaseModel):
    """A LINE webhook request (LINE's schema; see LINE's Messaging API reference)."""

    model_config = ConfigDict(extra="allow")

    destination: str = Field(description="the bot's user ID")
    events: list[dict[str, Any]] = Field(description="webhook events; empty = connection check")


class Acknowledged(BaseModel):
    """An empty object: received (events are handled in the background)."""


service_routes.add(
    "POST",
    "/line/webhook",
    summary="LINE webhook: verified by x-line-signature, answered at once, handled after",
    tag="line",
    body=WebhookBody,
    parameters=[
        {
            "name": "x-line-signature",
            "in": "header",
            "required": True,
            "description": "base64 HMAC-SHA256 of the raw body with the channel secret",
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9+/]+={0,2}$"},
        }
    ],
    responses={200: Acknowledged, 400: ErrorResponse, 401: ErrorResponse, 413: ErrorResponse},
    errors=frozenset(),
)(line_webhook)


@service_routes.add(
    "GET",
    "/healthz",
    summary="Health: the database and Redis both answer (503 when one does not)",
    tag="service",
    responses={200: Health, 503: Health},
    errors=frozenset(),
)
async def healthz(request: web.Request) -> web.Response:
    """Database and Redis both answer."""
    checks: dict[str, str] = {}
    try:
        async with request.app[ENGINE].connect() as connection:
            await asyncio.wait_for(connection.execute(text("SELECT 1")), 5)
        checks["database"] = "ok"
    except Exception as exc:  # a health check reports, it does not raise
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        await asyncio.wait_for(request.app[REDIS].ping(), 5)
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return web.json_response(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )


@service_routes.add(
    "GET",
    "/metrics",
    summary="Prometheus text: requests, notices, delivery backlog, scheduler leader, LINE quota",
    tag="service",
    responses={200: None},
    content={"text/plain": {"schema": {"type": "string"}}},
    errors=frozenset(),
)
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text: the process's counters, and the deployment's notices, delivery
    backlog, scheduler leader and LINE quota read from the database and Redis now."""
    from notifier.ops import read_ops

    app = request.app
    ops = await read_ops(app[SESSIONS], app[REDIS], app[CLOCK]())
    return app[METRICS].render(ops)


@service_routes.add(
    "GET",
    "/openapi.json",
    summary="This description (OpenAPI 3.1) of every route",
    tag="service",
    responses={200: None},
    content={"application/json": {"schema": {"type": "object"}}},
    errors=frozenset(),
)
async def openapi(request: web.Request) -> web.Response:
    """OpenAPI 3.1 of every route."""
    return web.json_response(request.app[OPENAPI], dumps=json_dumps)


def create_app(
    settings: Settings,
    *,
    today: Callable[[], Any] | None = None,
    clock: Callable[[], datetime] | None = None,
    settle_gc: bool = False,
    run_workers: bool = False,
) -> web.Application:
    """Assemble the web app: every door, with its resources opened in cleanup_ctx."""
    load_models()
    problem = settings.line_problem()
    if problem:  # settings copied with changes skip their validators
        raise ValueError(problem)
    app_metrics = Metrics()
    app = web.Application(
        middlewares=[
            app_metrics.middleware(),
            error_middleware,
            auth_middleware,
            pages_middleware,
        ],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[METRICS] = app_metrics
    app[MAX_BODY] = settings.max_body_bytes
    app[URL_POLICY] = settings.url_policy
    app[CATALOG] = Catalog()
    app[TEMPLATES] = make_templates(TEMPLATE_PACKAGES)
    app[WEB] = WebConfig(
        zone=settings.zone, secure_cookies=settings.public_url.startswith("https://")
    )
    app[registry_api.RULE_CHECKER] = RuleChecker(settings.rule_workers, settings.rule_time_limit)
    app[TODAY] = today or (lambda: datetime.now(settings.zone).date())
    app[OPENAPI] = build_openapi(
        [service_routes, *API_TABLES], title="Hagukumi API", version=VERSION
    )
    app[CLOCK] = clock or (lambda: datetime.now(UTC))
    app[BACKGROUND] = BackgroundTasks()
    app[EVENTS] = Events(app[BACKGROUND])
    app[RUN_WORKERS] = run_workers
    # The console's "who would be told" preview counts with the notifier's sweep machinery.
    audience: web_programs.Counter = partial(count_audience, zone=settings.zone)
    app[web_programs.AUDIENCE] = audience
    app.cleanup_ctx.append(_resources)
    app.cleanup_ctx.append(_notifier)
    app.cleanup_ctx.append(_bot)
    if settle_gc:
        app.on_startup.append(_settle_garbage_collector)
    if settings.sandbox:
        from integrations.line_emulator import EmulatorConfig, create_emulator_app

        emulator = create_emulator_app(
            EmulatorConfig(
                channel_access_token=EMULATOR_TOKEN,
                channel_secret=EMULATOR_SECRET,
                webhook_url=settings.public_url.rstrip("/") + "/line/webhook",
                spec_path=settings.shared_dir / "line-openapi" / "messaging-api.yml",
            )
        )
        app.add_subapp(SANDBOX_LINE_PREFIX, emulator)
    for table in [service_routes, *API_TABLES]:
        table.install(app)
    for page_table in _page_tables():
        app.router.add_routes(page_table)
    return app
