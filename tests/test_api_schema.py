"""Schemathesis over `/openapi.json`: no input may cause a 5xx or an answer off the schema."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hagukumi.settings import Settings
from tests.conftest import SHARED, TODAY, fresh_database, prepare_redis_url


class LiveServer:
    """The whole app served on a free port in a thread of its own."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.base_url = ""
        self.key = ""
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.started.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        from aiohttp import web

        from hagukumi.app import create_app
        from hagukumi.demo import load_demo
        from registry.db import create_engine, session_factory

        engine = create_engine(self.settings.database_url)
        key_file = Path(self.settings.database_url.split("///")[-1]).parent / "key.txt"
        if self.settings.database_url.startswith("postgresql"):
            key_file = Path("/tmp") / f"hagukumi-schema-key-{id(self)}.txt"
        await load_demo(
            session_factory(engine),
            key_file=key_file,
            registry_dir=None,
            progress=lambda _line: None,
        )
        self.key = key_file.read_text().strip()
        await engine.dispose()
        self.runner = web.AppRunner(create_app(self.settings, today=lambda: TODAY))
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        self.thread.start()
        assert self.started.wait(60), "the live server did not start"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def live_server(
    template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("schema")
    with fresh_database(template_database, folder) as url:
        settings = Settings(  # type: ignore[call-arg]
            HAGUKUMI_DATABASE_URL=url,
            HAGUKUMI_REDIS_URL=prepare_redis_url(),
            HAGUKUMI_API_RATE_LIMIT="100000/100000",
            HAGUKUMI_SHARED_DIR=SHARED,
        )
        server = LiveServer(settings)
        server.start()
        yield server
        server.stop()


@pytest.fixture(scope="module")
def api_schema(live_server: LiveServer) -> Any:
    import requests

    spec = requests.get(f"{live_server.base_url}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(spec)
    schema.config.update(base_url=live_server.base_url)
    return schema


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_no_server_errors_and_answers_follow_the_schema(
    api_schema: Any, live_server: LiveServer
) -> None:
    headers = {"Authorization": f"Bearer {live_server.key}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=40,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case: Any) -> None:
            for auth in (headers, {}):
                response = case.call(headers=auth)
                case.validate_response(response, checks=CHECKS)

        check()
