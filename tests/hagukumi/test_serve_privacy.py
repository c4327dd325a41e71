"""What `hagukumi serve` writes to its output and log: no LINE user IDs, no operator key with LINE.

Each test runs the real server as a process on a free port of 127.0.0.1, as an operator would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest

from bot.state import user_key

USER = "U" + "c0ffee" * 5 + "01"
KEY = "hgk_test_operator_key_not_for_logs"
# Runs the console script's `main` with the demo key file moved to the test's folder, so that
# a developer's own var/demo-api-key.txt is neither read nor overwritten.
LAUNCH = (
    "import sys; from pathlib import Path; import hagukumi.cli as cli; "
    "cli.DEMO_KEY_FILE = Path(sys.argv[1]); sys.exit(cli.main(sys.argv[2:]))"
)


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(
    tmp_path: Path, database_url: str, redis_url: str, **env: str
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`hagukumi serve` on a free port until the block ends; its base URL and process."""
    key_file = tmp_path / "demo-api-key.txt"
    key_file.write_text(KEY + "\n")
    port = free_port()
    environment = {
        **os.environ,
        "HAGUKUMI_DATABASE_URL": database_url,
        "HAGUKUMI_REDIS_URL": redis_url,
        "HAGUKUMI_LOG_LEVEL": "INFO",
        **env,
    }
    for name in ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN", "HAGUKUMI_PUBLIC_URL"):
        if name not in env:
            environment.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, str(key_file), "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def wait_healthy(base: str, process: subprocess.Popen[str]) -> None:
    """Until /healthz answers 200 (the server is up), or the process ended."""
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[1]
            try:
                async with session.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await _pause()
    pytest.fail("the server did not answer /healthz within a minute")


async def _pause() -> None:
    import asyncio

    await asyncio.sleep(0.2)


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Stop the server as Ctrl-C does; what it printed and logged."""
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    return out, err


async def test_sandbox_access_log_carries_no_line_user_ids(
    tmp_path: Path, database_url: str, redis_url: str
) -> None:
    with serving(tmp_path, database_url, redis_url) as (base, process):
        await wait_healthy(base, process)
        page = f"{base}/_line/_emulator/?user={USER}"
        async with aiohttp.ClientSession(headers={"Referer": page}) as session:
            async with session.get(page) as response:
                assert response.status == 200
            async with session.get(
                f"{base}/_line/_emulator/users/{USER}/messages?since=0"
            ) as response:
                assert response.status == 200
            async with session.post(
                f"{base}/_line/_emulator/users/{USER}/events", json={"type": "follow"}
            ) as response:
                assert response.status == 200
        out, err = stop(process)
    log = out + err
    assert "/_emulator/users/" in log, "the access log shows the requests"
    assert USER not in log
    assert "~" + user_key(USER) in log, "the same pseudonym as the bot's own log lines"
    assert KEY in out, "a sandbox start shows the demo key to the developer"


async def test_a_start_with_line_credentials_does_not_print_the_operator_key(
    tmp_path: Path, database_url: str, redis_url: str
) -> None:
    with serving(
        tmp_path,
        database_url,
        redis_url,
        LINE_CHANNEL_SECRET="secret",
        LINE_CHANNEL_ACCESS_TOKEN="token",
        # Nothing listens here: the rich menu set-up fails quietly in the background.
        LINE_API_BASE_URL="http://127.0.0.1:9",
    ) as (base, process):
        await wait_healthy(base, process)
        out, err = stop(process)
    assert "demo API key in" in out and "demo-api-key.txt" in out
    assert KEY not in out + err
