"""The LINE channel's pacing, its proxy from the environment, and its own HTTP session.

Pacer runs on a fake clock with `asyncio.sleep` replaced: the tests read the sleeps it asks for
and never wait for real time.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from integrations.line_emulator import Emulator
from notifier.channels.base import Outgoing
from notifier.channels.line import LineChannel, Pacer, _env_proxy
from tests.notifier.emulator import emulator_on_a_port

TOKEN = "pacing-test-token"
SECRET = "pacing-test-secret"
USER = "U" + "2" * 32
TEXT = {"type": "text", "text": "はぐくみからのお知らせ"}
PUSH = "/v2/bot/message/push"


class FakeClock:
    """Monotonic time that moves only when told (or when the fake sleep says so)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@dataclass
class Sleeps:
    """What `asyncio.sleep` was asked for; with `advance`, sleeping moves the fake clock."""

    clock: FakeClock
    advance: bool
    asked: list[float]

    async def __call__(self, delay: float, *_args: Any, **_kwargs: Any) -> None:
        self.asked.append(delay)
        if self.advance:
            self.clock.now += delay


def fake_sleep(monkeypatch: pytest.MonkeyPatch, clock: FakeClock, *, advance: bool) -> Sleeps:
    sleeps = Sleeps(clock, advance, [])
    monkeypatch.setattr(asyncio, "sleep", sleeps)
    return sleeps


async def waits(pacer: Pacer, sleeps: Sleeps, count: int) -> list[float]:
    """The wait each of `count` calls had: what it asked to sleep, 0 when it did not sleep."""
    found = []
    for _ in range(count):
        before = len(sleeps.asked)
        await pacer.wait()
        found.append(sleeps.asked[-1] if len(sleeps.asked) > before else 0.0)
    return found


# -- Pacer --------------------------------------------------------------------------------------


async def test_calls_at_the_same_instant_get_slots_one_interval_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    sleeps = fake_sleep(monkeypatch, clock, advance=False)
    pacer = Pacer(100, clock=clock)
    assert await waits(pacer, sleeps, 5) == pytest.approx([0.0, 0.01, 0.02, 0.03, 0.04])


async def test_concurrent_callers_are_spread_over_the_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    sleeps = fake_sleep(monkeypatch, clock, advance=False)
    pacer = Pacer(100, clock=clock)
    await asyncio.gather(*(pacer.wait() for _ in range(5)))
    assert sorted(sleeps.asked) == pytest.approx([0.01, 0.02, 0.03, 0.04])


async def test_a_steady_caller_is_spaced_at_the_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    sleeps = fake_sleep(monkeypatch, clock, advance=True)
    pacer = Pacer(200, clock=clock)
    returned = []
    for _ in range(5):
        await pacer.wait()
        returned.append(clock.now - 1000.0)
    assert returned == pytest.approx([0.0, 0.005, 0.010, 0.015, 0.020])
    assert sleeps.asked == pytest.approx([0.005] * 4)


async def test_a_caller_slower_than_the_rate_never_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    sleeps = fake_sleep(monkeypatch, clock, advance=False)
    pacer = Pacer(100, clock=clock)
    for _ in range(5):
        await pacer.wait()
        clock.now += 0.02
    assert sleeps.asked == []


async def test_after_a_long_idle_gap_the_next_call_goes_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    sleeps = fake_sleep(monkeypatch, clock, advance=False)
    pacer = Pacer(100, clock=clock)
    await waits(pacer, sleeps, 5)
    clock.now += 60.0
    # No sleep for the first call after the gap; the idle time is no credit for a burst.
    assert await waits(pacer, sleeps, 3) == pytest.approx([0.0, 0.01, 0.02])


@pytest.mark.parametrize("rate", [0, 0.0, -1, -2000.0])
def test_a_rate_that_is_not_positive_is_refused(rate: float) -> None:
    with pytest.raises(ValueError):
        Pacer(rate)


def test_line_channel_refuses_a_rate_limit_that_is_not_positive() -> None:
    with pytest.raises(ValueError):
        LineChannel("http://127.0.0.1:9", TOKEN, rate_limits={"push": 0})


# -- the proxy from the environment -----------------------------------------------------------


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment without any proxy variable (whatever the machine running the tests has)."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("REQUEST_METHOD", raising=False)
    return monkeypatch


def test_no_proxy_variables_mean_no_proxy(no_proxy_env: pytest.MonkeyPatch) -> None:
    assert _env_proxy("https://api.line.me") is None
    assert _env_proxy("http://127.0.0.1:8080") is None


def test_https_proxy_is_used_for_https_urls(no_proxy_env: pytest.MonkeyPatch) -> None:
    no_proxy_env.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert _env_proxy("https://api.line.me") == "http://proxy.example:3128"
    assert _env_proxy("https://api.line.me:443/") == "http://proxy.example:3128"
    assert _env_proxy("http://api.line.me") is None  # HTTPS_PROXY is for https only


def test_http_proxy_is_used_for_http_urls(no_proxy_env: pytest.MonkeyPatch) -> None:
    no_proxy_env.setenv("HTTP_PROXY", "http://plain-proxy.example:8080")
    assert _env_proxy("http://line-emulator.internal:8081") == "http://plain-proxy.example:8080"
    assert _env_proxy("https://api.line.me") is None


def test_no_proxy_hosts_bypass_the_proxy(no_proxy_env: pytest.MonkeyPatch) -> None:
    no_proxy_env.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    no_proxy_env.setenv("HTTP_PROXY", "http://proxy.example:3128")
    no_proxy_env.setenv("NO_PROXY", "localhost,127.0.0.1,.internal")
    assert _env_proxy("http://127.0.0.1:8081") is None
    assert _env_proxy("http://localhost:8081/") is None
    assert _env_proxy("http://line-emulator.internal:8081") is None
    assert _env_proxy("https://api.line.me") == "http://proxy.example:3128"
    no_proxy_env.setenv("NO_PROXY", "api.line.me")
    assert _env_proxy("https://api.line.me") is None
    no_proxy_env.setenv("NO_PROXY", "*")
    assert _env_proxy("https://api.line.me") is None


# -- LineChannel against the emulator ----------------------------------------------------------


@dataclass
class Line:
    emulator: Emulator
    url: str


@pytest.fixture
async def line() -> AsyncIterator[Line]:
    async with emulator_on_a_port(TOKEN, SECRET, seed=13) as (emulator, url):
        yield Line(emulator, url)


def push(to: str = USER) -> Outgoing:
    return Outgoing(7, "line", str(uuid.uuid4()), {"kind": "push", "to": to, "messages": [TEXT]})


async def test_paced_channel_pushes_with_the_retry_key_on_a_session_of_its_own(
    line: Line, no_proxy_env: pytest.MonkeyPatch
) -> None:
    # A proxy that does not exist: the channel must not pick it up behind our back.
    no_proxy_env.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    no_proxy_env.setenv("NO_PROXY", "127.0.0.1")
    channel = LineChannel(
        line.url,
        TOKEN,
        timeout=5,
        rate_limits={"push": 1000.0, "multicast": 100.0},
        connections=4,
    )
    async with channel:
        session = channel.api.api_client.rest_client.pool_manager
        assert session.trust_env is False
        assert session.connector is not None and session.connector.limit == 4
        requests = [push(), push()]
        outcomes = [await channel.send(request) for request in requests]
    logged = line.emulator.requests(path=PUSH)
    assert [entry["status"] for entry in logged] == [200, 200]
    assert [entry["headers"]["X-Line-Retry-Key"] for entry in logged] == [
        r.retry_key for r in requests
    ]
    assert [o.accepted_request_id for o in outcomes] == [e["requestId"] for e in logged]
    assert [m["message"] for m in line.emulator.messages_for(USER)] == [TEXT, TEXT]


async def test_channel_without_rate_limits_still_delivers(line: Line) -> None:
    async with LineChannel(line.url, TOKEN, timeout=5, rate_limits={}) as channel:
        request = push()
        outcome = await channel.send(request)
    [entry] = line.emulator.requests(path=PUSH)
    assert entry["headers"]["X-Line-Retry-Key"] == request.retry_key
    assert outcome.accepted_request_id == entry["requestId"]
    assert len(line.emulator.messages_for(USER)) == 1


async def test_the_proxy_named_in_the_environment_carries_the_push(
    line: Line, no_proxy_env: pytest.MonkeyPatch
) -> None:
    # The emulator doubles as an HTTP proxy here: a push to a host that does not resolve can
    # only arrive through HTTP_PROXY, which the channel looks up once, when it opens.
    no_proxy_env.setenv("HTTP_PROXY", line.url)
    async with LineChannel("http://line-api.invalid", TOKEN, timeout=5) as channel:
        request = push()
        await channel.send(request)
    [entry] = line.emulator.requests(path=PUSH)
    assert entry["status"] == 200
    assert entry["headers"]["X-Line-Retry-Key"] == request.retry_key
    assert len(line.emulator.messages_for(USER)) == 1
