"""Starting the service: half-configured LINE refuses to start; the sandbox's emulator doors."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request
from pydantic import ValidationError

from hagukumi.cli import main
from hagukumi.settings import Settings
from integrations.line_emulator.control import from_loopback
from tests.conftest import TODAY

SECRET_VALUE = "s3cr3t-channel-value"
USER = "U" + "ab" * 16


@pytest.fixture
def env(database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The test's database and Redis in the environment, no LINE credentials."""
    monkeypatch.setenv("HAGUKUMI_DATABASE_URL", database_url)
    monkeypatch.setenv("HAGUKUMI_REDIS_URL", redis_url)
    monkeypatch.delenv("LINE_CHANNEL_SECRET", raising=False)
    monkeypatch.delenv("LINE_CHANNEL_ACCESS_TOKEN", raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN"),
        ("LINE_CHANNEL_ACCESS_TOKEN", "LINE_CHANNEL_SECRET"),
    ],
)
def test_half_configured_line_refuses_to_start(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], given: str, missing: str
) -> None:
    env.setenv(given, SECRET_VALUE)
    code = main(["serve", "--host", "256.0.0.1"])  # an address nothing can bind: fails fast
    err = capsys.readouterr().err
    assert code == 2
    assert f"{given} is set but {missing} is not" in err
    assert "neither for the sandbox" in err
    assert SECRET_VALUE not in err  # the message names variables, never their values
    assert len(err.strip().splitlines()) == 1


def test_an_empty_credential_counts_as_missing(env: pytest.MonkeyPatch) -> None:
    env.setenv("LINE_CHANNEL_SECRET", "")
    env.setenv("LINE_CHANNEL_ACCESS_TOKEN", SECRET_VALUE)
    with pytest.raises(ValidationError, match="LINE_CHANNEL_SECRET is not"):
        Settings()  # type: ignore[call-arg]


def test_the_console_script_exits_2_on_half_configured_line(database_url: str) -> None:
    environment = {
        **os.environ,
        "HAGUKUMI_DATABASE_URL": database_url,
        "LINE_CHANNEL_SECRET": SECRET_VALUE,
    }
    environment.pop("LINE_CHANNEL_ACCESS_TOKEN", None)
    done = subprocess.run(
        [sys.executable, "-m", "hagukumi.cli", "serve", "--host", "256.0.0.1"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "LINE_CHANNEL_ACCESS_TOKEN is not" in done.stderr
    assert "Traceback" not in done.stderr and SECRET_VALUE not in done.stderr


async def test_create_app_refuses_settings_copied_half_configured(settings: Settings) -> None:
    from hagukumi.app import create_app

    half = settings.model_copy(update={"line_channel_secret": SECRET_VALUE})
    with pytest.raises(ValueError, match="LINE_CHANNEL_ACCESS_TOKEN is not"):
        create_app(half)


async def test_sandbox_emulator_control_answers_loopback_only(
    settings: Settings, aiohttp_client: Any
) -> None:
    from hagukumi.app import create_app

    assert settings.sandbox
    client = await aiohttp_client(create_app(settings, today=lambda: TODAY))
    local = await client.get("/_line/_emulator/users")
    assert local.status == 200
    assert (await client.get("/_line/_emulator/")).status == 200
    proxied = {"X-Forwarded-For": "203.0.113.9"}
    for method, path, body in [
        ("GET", "/_line/_emulator/", None),
        ("GET", "/_line/_emulator/users", None),
        ("GET", f"/_line/_emulator/users/{USER}/messages", None),
        ("POST", f"/_line/_emulator/users/{USER}/events", {"type": "follow"}),
        ("POST", f"/_line/_emulator/users/{USER}/reply-tokens", {"count": 1}),
        ("GET", "/_line/_emulator/config", None),
        ("POST", "/_line/_emulator/config", {"fail_rate": 1}),
        ("POST", "/_line/_emulator/reset", None),
        ("GET", "/_line/_emulator/requests", None),
    ]:
        response = await client.request(method, path, json=body, headers=proxied)
        assert response.status == 403, (method, path)
        assert "only requests from this machine" in (await response.json())["message"]
    # Nothing the refused requests asked for happened.
    config = await (await client.get("/_line/_emulator/config")).json()
    assert config["fail_rate"] == 0
    users = await (await client.get("/_line/_emulator/users")).json()
    assert users["users"] == []


async def test_no_emulator_routes_with_real_line_credentials(
    settings: Settings, aiohttp_client: Any
) -> None:
    from hagukumi.app import create_app

    production = Settings(  # type: ignore[call-arg]
        HAGUKUMI_DATABASE_URL=settings.database_url,
        HAGUKUMI_REDIS_URL=settings.redis_url,
        LINE_CHANNEL_SECRET=SECRET_VALUE,
        LINE_CHANNEL_ACCESS_TOKEN="token",
        # Nothing listens here: the rich menu set-up fails quietly in the background.
        LINE_API_BASE_URL="http://127.0.0.1:9",
    )
    assert not production.sandbox
    client = await aiohttp_client(create_app(production, today=lambda: TODAY))
    for method, path in [
        ("GET", "/_line/_emulator/"),
        ("GET", "/_line/_emulator/users"),
        ("POST", f"/_line/_emulator/users/{USER}/events"),
        ("POST", "/_line/_emulator/config"),
        ("POST", "/_line/v2/bot/message/push"),
    ]:
        response = await client.request(method, path, json={"type": "follow"})
        assert response.status == 404, (method, path)


@pytest.mark.parametrize(
    ("peer", "headers", "local"),
    [
        ("127.0.0.1", {}, True),
        ("127.8.9.10", {}, True),
        ("::1", {}, True),
        ("::ffff:127.0.0.1", {}, True),
        ("203.0.113.9", {}, False),
        ("192.168.1.20", {}, False),
        ("::ffff:203.0.113.9", {}, False),
        ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}, False),
        ("127.0.0.1", {"Forwarded": "for=203.0.113.9"}, False),
    ],
)
def test_loopback_means_this_machine_not_a_proxy(
    peer: str, headers: dict[str, str], local: bool
) -> None:
    class Transport:
        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return (peer, 40000) if name == "peername" else default

        def is_closing(self) -> bool:
            return False

    request = make_mocked_request(
        "GET", "/_emulator/users", headers=headers, transport=Transport()
    )
    assert from_loopback(request) is local


def test_serve_on_a_taken_port_says_so_in_one_line(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        code = main(["serve", "--host", "127.0.0.1", "--port", str(port)])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert f"port {port} on 127.0.0.1 is already in use" in lines[0]
    assert f"make serve PORT={port + 1}" in lines[0] and "--port" in lines[0]
    assert "Hagukumi" not in captured.out, "no banner for a server that cannot start"
