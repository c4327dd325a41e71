"""The service as an operator sees it: health, metrics, OpenAPI, migrations, settings."""

from __future__ import annotations

from typing import Any

import pytest

from hagukumi.settings import Settings, parse_rate_limit


async def test_healthz_checks_database_and_redis(client: Any) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


async def test_metrics_are_prometheus_text(client: Any) -> None:
    await client.get("/api/v1/programs")
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    assert (
        'hagukumi_http_requests_total{method="GET",route="/api/v1/programs",status="200"}' in text
    )


async def test_openapi_describes_every_api_route(client: Any) -> None:
    spec = await (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    paths = spec["paths"]
    for path, method in [
        ("/api/v1/programs", "post"),
        ("/api/v1/programs", "get"),
        ("/api/v1/programs/{id}", "patch"),
        ("/api/v1/programs/{id}/publish", "post"),
        ("/api/v1/programs/validate", "post"),
        ("/api/v1/eligibility", "post"),
    ]:
        assert method in paths[path], (path, method)
    created = paths["/api/v1/programs"]["post"]
    assert created["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ProgramIn"
    )
    schemas = spec["components"]["schemas"]
    assert "eligibility" in schemas["ProgramIn"]["properties"]
    assert "FamilyInput" in schemas


async def test_server_refuses_a_database_behind_its_migrations(
    tmp_path: Any, aiohttp_client: Any
) -> None:
    from hagukumi.app import create_app
    from registry.migrate import DatabaseBehind

    settings = Settings(  # type: ignore[call-arg]
        HAGUKUMI_DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        HAGUKUMI_REDIS_URL="memory://",
    )
    with pytest.raises(DatabaseBehind, match="hagukumi migrate"):
        await aiohttp_client(create_app(settings))


def test_database_urls_get_their_async_driver() -> None:
    from registry.db import DatabaseURLError, async_url

    assert async_url("sqlite:///var/x.sqlite3") == "sqlite+aiosqlite:///var/x.sqlite3"
    assert async_url("postgresql://me@db/h") == "postgresql+asyncpg://me@db/h"
    with pytest.raises(DatabaseURLError):
        async_url("mysql://me@db/h")


def test_rate_limit_setting() -> None:
    assert parse_rate_limit("50/200") == (50.0, 200)
    assert parse_rate_limit("10") == (10.0, 40)
    with pytest.raises(ValueError):
        Settings(HAGUKUMI_API_RATE_LIMIT="fast")  # type: ignore[call-arg]
