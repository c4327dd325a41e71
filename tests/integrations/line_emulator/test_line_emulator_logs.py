"""The standalone emulator's access log keeps LINE user IDs out (pseudonyms instead)."""

from __future__ import annotations

import asyncio
import logging
import socket

import aiohttp
import pytest

from bot.state import user_key
from integrations.line_emulator import EmulatorConfig, redact_line_ids, run_emulator

USER = "U" + "0123456789abcdef" * 2


def test_line_ids_become_the_bots_pseudonyms() -> None:
    group = "C" + "f" * 32
    text = f"GET /v2/bot/profile/{USER}?x=1 /users/{USER}/messages ref=?user={USER} {group}"
    redacted = redact_line_ids(text)
    assert USER not in redacted and group not in redacted
    assert redacted.count("~" + user_key(USER)) == 3
    # Not an ID: wrong length, upper-case hex, or part of a longer word.
    for other in ["U" + "a" * 31, "U" + "A" * 32, "XU" + "a" * 32, "U" + "a" * 33]:
        assert redact_line_ids(other) == other


async def test_standalone_emulator_access_log_has_no_user_ids(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    task = asyncio.create_task(run_emulator(EmulatorConfig(), "127.0.0.1", port))
    base = f"http://127.0.0.1:{port}"
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    try:
        async with aiohttp.ClientSession(
            headers={"Referer": f"{base}/_emulator/?user={USER}"}
        ) as session:
            for _ in range(100):
                try:
                    async with session.get(f"{base}/_emulator/users/{USER}/messages") as answer:
                        assert answer.status == 200
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            async with session.get(
                f"{base}/v2/bot/profile/{USER}",
                headers={"Authorization": "Bearer emulator-token"},
            ) as answer:
                assert answer.status in {200, 404}
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    records = [r for r in caplog.records if r.name == "aiohttp.access"]
    assert len(records) >= 2
    for record in records:
        line = record.getMessage() + repr(record.__dict__)
        assert USER not in line
    assert any("~" + user_key(USER) in r.getMessage() for r in records)
    assert "LINE emulator on" in capsys.readouterr().out
