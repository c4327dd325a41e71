"""Channels against real HTTP: LINE through the emulator, app callbacks through a tiny server."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from integrations.line_emulator import Emulator
from notifier.channels.app import DELIVERY_HEADER, AppChannel, encode
from notifier.channels.base import (
    PermanentSendError,
    QuotaExhausted,
    RetryableSendError,
    SendOutcome,
)
from notifier.channels.line import LineChannel
from notifier.models import SendRequest
from registry.db import transaction
from registry.models import AppSubscription, Family
from registry.urls import UrlPolicy
from tests.notifier.emulator import emulator_on_a_port

TOKEN = "notifier-test-token"
SECRET = "notifier-test-secret"
USER = "U" + "1" * 32
TEXT = {"type": "text", "text": "はぐくみからのお知らせ"}
# The test backends listen on the loopback, which callbacks reach only when allowed.
LOCAL = UrlPolicy.parse("127.0.0.1")


@dataclass
class Line:
    """The emulator on a real port and a channel opened against it."""

    emulator: Emulator
    channel: LineChannel
    url: str


@pytest.fixture
async def line() -> AsyncIterator[Line]:
    async with emulator_on_a_port(TOKEN, SECRET, seed=11) as (emulator, url):
        channel = LineChannel(url, TOKEN, timeout=5)
        await channel.open()
        try:
            yield Line(emulator, channel, url)
        finally:
            await channel.close()


def push(to: str = USER, messages: list[dict[str, Any]] | None = None) -> SendRequest:
    return SendRequest(
        id=1,
        channel="line",
        retry_key=str(uuid.uuid4()),
        body={"kind": "push", "to": to, "messages": messages or [TEXT]},
    )


async def test_push_is_accepted_and_names_lines_request_id(line: Line) -> None:
    request = push()
    outcome = await line.channel.send(request)
    assert outcome.already_sent is False
    logged = line.emulator.requests(path="/v2/bot/message/push")
    assert outcome.accepted_request_id == logged[-1]["requestId"]
    assert logged[-1]["headers"]["X-Line-Retry-Key"] == request.retry_key
    assert [m["message"] for m in line.emulator.messages_for(USER)] == [TEXT]


async def test_same_retry_key_again_is_already_sent(line: Line) -> None:
    request = push()
    first = await line.channel.send(request)
    again = await line.channel.send(request)
    assert again == SendOutcome(accepted_request_id=first.accepted_request_id, already_sent=True)
    assert len(line.emulator.messages_for(USER)) == 1


async def test_multicast_reaches_everyone_once(line: Line) -> None:
    users = [f"U{i:032x}" for i in range(1, 4)]
    request = SendRequest(
        id=2,
        channel="line",
        retry_key=str(uuid.uuid4()),
        body={"kind": "multicast", "to": users, "messages": [TEXT]},
    )
    await line.channel.send(request)
    assert await line.channel.send(request) == SendOutcome(
        accepted_request_id=line.emulator.requests(path="/v2/bot/message/multicast")[0][
            "requestId"
        ],
        already_sent=True,
    )
    assert all(len(line.emulator.messages_for(u)) == 1 for u in users)


async def test_server_errors_are_retryable(line: Line) -> None:
    line.emulator.configure(fail_rate=1.0)
    with pytest.raises(RetryableSendError) as caught:
        await line.channel.send(push())
    assert "500" in str(caught.value)
    assert line.emulator.messages_for(USER) == []


async def test_rate_limit_backs_off(line: Line) -> None:
    line.emulator.configure(rate_limits={"push": 0.001})
    await line.channel.send(push())
    with pytest.raises(RetryableSendError) as caught:
        await line.channel.send(push())
    assert caught.value.retry_after is not None and caught.value.retry_after > 0
    assert not isinstance(caught.value, PermanentSendError)


async def test_monthly_limit_is_quota_exhausted(line: Line) -> None:
    line.emulator.configure(monthly_limit=1)
    await line.channel.send(push())
    with pytest.raises(QuotaExhausted) as caught:
        await line.channel.send(push())
    assert "monthly limit" in caught.value.reason


async def test_other_client_errors_are_permanent_with_lines_details(line: Line) -> None:
    with pytest.raises(PermanentSendError) as caught:
        await line.channel.send(push(to="Unot-a-user"))
    assert caught.value.reason.startswith("400 The request body has 1 error(s)")
    assert "to:" in caught.value.reason


async def test_body_the_sdk_refuses_is_permanent(line: Line) -> None:
    request = push(messages=[{"type": "no-such-type"}])
    with pytest.raises(PermanentSendError):
        await line.channel.send(request)


async def test_unreachable_line_is_retryable() -> None:
    channel = LineChannel("http://127.0.0.1:9", TOKEN, timeout=2)
    await channel.open()
    try:
        with pytest.raises(RetryableSendError):
            await channel.send(push())
    finally:
        await channel.close()


async def test_wrong_token_is_not_blamed_on_the_notice(line: Line) -> None:
    channel = LineChannel(line.url, "not-the-token")
    await channel.open()
    try:
        with pytest.raises(RetryableSendError) as caught:
            await channel.send(push())
    finally:
        await channel.close()
    assert caught.value.retry_after == 60.0


async def test_remaining_quota(line: Line) -> None:
    assert await line.channel.remaining_quota() is None
    line.emulator.configure(monthly_limit=10)
    await line.channel.send(push(messages=[TEXT, TEXT]))
    assert await line.channel.remaining_quota() == 8
    paths = [r["path"] for r in line.emulator.requests()]
    assert "/v2/bot/message/quota" in paths and "/v2/bot/message/quota/consumption" in paths


# -- the app channel ------------------------------------------------------------------------


@dataclass
class Backend:
    """A subscriber's app backend: checks signatures, answers as told, records what came."""

    secret: str
    answers: list[int] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    delay: float = 0.0
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        expected = base64.b64encode(
            hmac.new(self.secret.encode(), raw, hashlib.sha256).digest()
        ).decode()
        valid = hmac.compare_digest(request.headers.get("x-hagukumi-signature", ""), expected)
        self.received.append(
            {"valid": valid, "body": json.loads(raw), "delivery": request.headers[DELIVERY_HEADER]}
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.answers.pop(0) if self.answers else 200
        return web.json_response({"ok": status < 300}, status=status)


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    found = Backend(secret="subscriber-secret")
    app = web.Application()
    app.router.add_post("/hook", found.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    found.url = str(server.make_url("/hook"))
    try:
        yield found
    finally:
        await server.close()


async def subscriber(sessions: Any, secret: str, callback_url: str | None) -> int:
    async with transaction(sessions) as session:
        family = Family(state="active", consented_at=datetime.now(UTC), preferences={})
        session.add(family)
        await session.flush()
        assert family.id is not None
        session.add(
            AppSubscription(
                family_id=family.id,
                issuer="131130",
                token_hash=uuid.uuid4().hex,
                secret=secret,
                callback_url=callback_url,
            )
        )
        return family.id


def app_request(family_id: int, url: str | None) -> SendRequest:
    return SendRequest(
        id=3,
        channel="app",
        retry_key=str(uuid.uuid4()),
        body={
            "kind": "app",
            "family_id": family_id,
            "notice_id": 9,
            "url": url,
            "payload": {"event": "notice", "notice_id": 9, "content": {"name": {"ja": "手当"}}},
        },
    )


async def test_app_callback_is_signed_and_retried_on_500(sessions: Any, backend: Backend) -> None:
    family_id = await subscriber(sessions, backend.secret, backend.url)
    backend.answers = [500]
    channel = AppChannel(None, sessions, policy=LOCAL)
    await channel.open()
    try:
        request = app_request(family_id, backend.url)
        with pytest.raises(RetryableSendError):
            await channel.send(request)
        assert await channel.send(request) == SendOutcome()
    finally:
        await channel.close()
    assert [r["valid"] for r in backend.received] == [True, True]
    assert backend.received[0]["body"] == request.body["payload"]
    # Both tries carry the same delivery id: the backend can drop the duplicate.
    assert {r["delivery"] for r in backend.received} == {request.retry_key}


async def test_app_signature_covers_the_exact_bytes(sessions: Any, backend: Backend) -> None:
    family_id = await subscriber(sessions, "another-secret", backend.url)
    channel = AppChannel(None, sessions, policy=LOCAL)
    await channel.open()
    try:
        await channel.send(app_request(family_id, backend.url))
    finally:
        await channel.close()
    # Signed with the subscription's own secret, which the backend here does not hold.
    assert backend.received[0]["valid"] is False
    payload = {"b": 1, "a": "あ"}
    assert encode(payload) == '{"a":"あ","b":1}'.encode()


async def test_app_client_errors_are_permanent(sessions: Any, backend: Backend) -> None:
    family_id = await subscriber(sessions, backend.secret, backend.url)
    backend.answers = [404]
    async with aiohttp.ClientSession() as http:
        channel = AppChannel(lambda: http, sessions, policy=LOCAL)
        with pytest.raises(PermanentSendError) as caught:
            await channel.send(app_request(family_id, backend.url))
    assert caught.value.reason.startswith("callback answered 404")


async def test_app_time_out_is_retryable(sessions: Any, backend: Backend) -> None:
    family_id = await subscriber(sessions, backend.secret, backend.url)
    backend.delay = 1.0
    channel = AppChannel(None, sessions, timeout=0.2, policy=LOCAL)
    await channel.open()
    try:
        with pytest.raises(RetryableSendError):
            await channel.send(app_request(family_id, backend.url))
    finally:
        await channel.close()


async def test_app_without_callback_is_in_the_inbox(sessions: Any) -> None:
    family_id = await subscriber(sessions, "s", None)
    channel = AppChannel(None, sessions, policy=LOCAL)
    await channel.open()
    try:
        assert await channel.send(app_request(family_id, None)) == SendOutcome()
    finally:
        await channel.close()
