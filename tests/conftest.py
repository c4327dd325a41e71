"""Fixtures shared by every test: a fresh database and Redis per test, on either shape.

HAGUKUMI_TEST_SHAPE=embedded (default): a SQLite file copied from a migrated template and
in-process fakeredis. HAGUKUMI_TEST_SHAPE=services: a PostgreSQL database created fresh from a
migrated template for each test and dropped after, and Redis database 15, flushed per test.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from hagukumi.models import load_models
from hagukumi.settings import Settings

load_models()  # as every process does: the registry hooks find every package's tables

SHAPE = os.environ.get("HAGUKUMI_TEST_SHAPE", "embedded")
PG_URL = os.environ.get("HAGUKUMI_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_SERVER = os.environ.get("HAGUKUMI_TEST_REDIS_SERVER", "redis://127.0.0.1:6379/15")
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TODAY = date(2026, 11, 26)


def shared_path(*parts: str) -> Path:
    """A file under ../shared, or a skip that says why it is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared data sits beside the repo in CI")
    return path


def _in_thread(coro_factory: Any) -> Any:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(coro_factory())).result()


async def _pg_admin(statement: str) -> None:
    import asyncpg

    url = make_url(PG_URL)
    connection = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, database=url.database
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _pg_url(name: str) -> str:
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def template_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database to copy per test (SQLite file path or PostgreSQL database name)."""
    from hagukumi.models import MODEL_MODULES
    from registry.migrate import upgrade

    if SHAPE == "services":
        name = f"hagukumi_tmpl_{uuid.uuid4().hex[:10]}"
        _in_thread(lambda: _pg_admin(f'CREATE DATABASE "{name}"'))
        try:
            _in_thread(lambda: upgrade(_pg_url(name), models=MODEL_MODULES))
            yield name
        finally:
            _in_thread(lambda: _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        path = tmp_path_factory.mktemp("template") / "template.sqlite3"
        _in_thread(lambda: upgrade(f"sqlite:///{path}", models=MODEL_MODULES))
        yield str(path)


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all (for migration tests), dropped after."""
    if SHAPE == "services":
        name = f"hagukumi_m_{uuid.uuid4().hex[:12]}"
        _in_thread(lambda: _pg_admin(f'CREATE DATABASE "{name}"'))
        try:
            yield _pg_url(name)
        finally:
            _in_thread(lambda: _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"


@contextmanager
def fresh_database(template: str, folder: Path) -> Iterator[str]:
    """A new database copied from the migrated template, dropped when the block ends."""
    if SHAPE == "services":
        name = f"hagukumi_t_{uuid.uuid4().hex[:12]}"
        _in_thread(lambda: _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        try:
            yield _pg_url(name)
        finally:
            _in_thread(lambda: _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        path = folder / f"hagukumi-{uuid.uuid4().hex[:8]}.sqlite3"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"


@pytest.fixture
def database_url(template_database: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for one test, dropped after."""
    with fresh_database(template_database, tmp_path) as url:
        yield url


def prepare_redis_url() -> str:
    """memory:// on the embedded shape; a flushed real Redis database on the services shape."""
    if SHAPE != "services":
        return "memory://"
    import redis

    client = redis.Redis.from_url(REDIS_SERVER)
    client.flushdb()
    client.close()
    return REDIS_SERVER


@pytest.fixture
def redis_url() -> str:
    """The test's Redis (see prepare_redis_url)."""
    return prepare_redis_url()


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    """Settings for one test: its own database and Redis, generous rate limit."""
    return Settings(  # type: ignore[call-arg]
        HAGUKUMI_DATABASE_URL=database_url,
        HAGUKUMI_REDIS_URL=redis_url,
        HAGUKUMI_API_RATE_LIMIT="1000/5000",
        HAGUKUMI_SHARED_DIR=SHARED,
        HAGUKUMI_RULE_WORKERS=1,  # rule checks run in worker processes: spare the CPU
    )


@pytest.fixture
async def client(settings: Settings, aiohttp_client: Any) -> Any:
    """A test client of the whole app, with today fixed to TODAY."""
    from hagukumi.app import create_app

    return await aiohttp_client(create_app(settings, today=lambda: TODAY))


@pytest.fixture
async def sessions(settings: Settings) -> Any:
    """A session factory on the test's database (for arranging and checking state)."""
    from registry.db import create_engine, session_factory

    engine = create_engine(settings.database_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
def make_key(sessions: Any) -> Any:
    """Create an API key: `await make_key("131130")` → Authorization headers."""
    from registry.auth import create_key
    from registry.db import transaction

    async def make(issuer: str = "131130", role: str = "municipality") -> dict[str, str]:
        async with transaction(sessions) as session:
            _, text = await create_key(session, issuer=issuer, role=role)
        return {"Authorization": f"Bearer {text}"}

    return make
