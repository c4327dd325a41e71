"""The composition root of the web process: `create_app(settings)`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import text

from hagukumi.metrics import Metrics
from hagukumi.resources import make_redis
from hagukumi.settings import Settings
from registry import api as registry_api
from registry.auth import RateLimiter, find_key, retry_after_header
from registry.db import create_engine, session_factory
from registry.eligibility import Catalog
from registry.migrate import ensure_current
from registry.web import MAX_BODY, RouteTable, build_openapi, error_middleware, error_response

log = logging.getLogger(__name__)

SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
REDIS: web.AppKey[Any] = web.AppKey("redis", object)
ENGINE: web.AppKey[Any] = web.AppKey("engine", object)
METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
LIMITER: web.AppKey[RateLimiter] = web.AppKey("limiter", RateLimiter)
OPENAPI: web.AppKey[dict[str, Any]] = web.AppKey("openapi", dict)

API_TABLES: list[RouteTable] = [registry_api.routes]
VERSION = "0.1.0"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Find the API key of `/api/v1` requests and rate-limit per key (or per address)."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    header = request.headers.get("Authorization")
    identity = f"ip:{request.remote}"
    if header is not None:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 200:
            return error_response(
                401,
                "unauthorized",
                "use `Authorization: Bearer KEY`",
                headers={"WWW-Authenticate": "Bearer"},
            )
        async with request.app[registry_api.SESSIONS]() as session:
            key = await find_key(session, token)
        if key is None:
            return error_response(
                401,
                "unauthorized",
                "unknown or revoked API key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        request["api_key"] = key
        identity = f"key:{key.id}"
    wait = await request.app[LIMITER].hit(identity)
    if wait > 0:
        request.app[METRICS].rate_limited.inc()
        return error_response(
            429,
            "rate_limited",
            f"too many requests: try again in {wait:.2f} s",
            headers={"Retry-After": retry_after_header(wait)},
        )
    return await handler(request)


async def _resources(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = create_engine(settings.database_url)
    await ensure_current(engine)
    redis = make_redis(settings.redis_url)
    app[ENGINE] = engine
    app[REDIS] = redis
    app[registry_api.SESSIONS] = session_factory(engine)
    rate, burst = settings.rate_limit
    app[LIMITER] = RateLimiter(redis, rate, burst)
    yield
    await redis.aclose()
    await engine.dispose()


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


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text."""
    return request.app[METRICS].render()


async def openapi(request: web.Request) -> web.Response:
    """OpenAPI 3.1 of every `/api/v1` route."""
    return web.json_response(request.app[OPENAPI])


def create_app(settings: Settings, *, today: Callable[[], Any] | None = None) -> web.Application:
    """Assemble the web app: every door, with its resources opened in cleanup_ctx."""
    app_metrics = Metrics()
    app = web.Application(
        middlewares=[app_metrics.middleware(), error_middleware, auth_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[METRICS] = app_metrics
    app[MAX_BODY] = settings.max_body_bytes
    app[registry_api.CATALOG] = Catalog()
    app[registry_api.TODAY] = today or (lambda: datetime.now(settings.zone).date())
    app[OPENAPI] = build_openapi(API_TABLES, title="Hagukumi API", version=VERSION)
    app.cleanup_ctx.append(_resources)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi)
    for table in API_TABLES:
        table.install(app)
    return app
