"""The webhook door: signatures, acknowledgement, de-duplication, ordering, odd events."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

from tests.bot.conftest import SECRET, LineWorld
from tests.conftest import shared_path

PARENT = "U" + "1" * 32
OTHER = "U" + "2" * 32


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def text_event(
    user: str, text: str, event_id: str, *, reply_token: str = "r" * 32
) -> dict[str, Any]:
    return {
        "type": "message",
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "source": {"type": "user", "userId": user},
        "webhookEventId": event_id,
        "deliveryContext": {"isRedelivery": False},
        "replyToken": reply_token,
        "message": {"id": "1", "type": "text", "text": text, "quoteToken": "q"},
    }


async def post(world: LineWorld, payload: Any, *, signature: str | None = None) -> Any:
    from aiohttp.test_utils import TestClient  # noqa: F401  (type only)

    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json; charset=utf-8"}
    headers["x-line-signature"] = signature if signature is not None else sign(body)
    url = world.webhook_url
    async with world.http.post(url, data=body, headers=headers) as response:
        return response.status, await response.json()


async def test_bad_signature_is_401_and_nothing_happens(line_world: LineWorld) -> None:
    payload = {"destination": "U0", "events": [text_event(PARENT, "help", "01BADSIG")]}
    status, body = await post(line_world, payload, signature=sign(b"other body"))
    assert status == 401
    assert body["error"]["code"] == "bad_signature"
    status, _ = await post(line_world, payload, signature="")
    assert status == 401
    await line_world.idle()
    assert await line_world.messages(PARENT) == []


async def test_not_a_webhook_is_400(line_world: LineWorld) -> None:
    status, body = await post(line_world, b"{not json")
    assert status == 400
    status, _ = await post(line_world, {"destination": "U0"})
    assert status == 400


async def test_empty_events_is_a_connection_check(line_world: LineWorld) -> None:
    status, body = await post(line_world, {"destination": "U0", "events": []})
    assert status == 200 and body == {}


async def test_redelivered_event_is_handled_once(line_world: LineWorld) -> None:
    first = await line_world.follow(PARENT)
    event_id = first["event"]["webhookEventId"]
    before = len(await line_world.messages(PARENT))
    assert before > 0
    again = await line_world.send(PARENT, {"type": "follow", "redeliver": event_id})
    assert again["event"]["webhookEventId"] == event_id
    assert again["event"]["deliveryContext"]["isRedelivery"] is True
    assert len(await line_world.messages(PARENT)) == before


async def test_redelivery_after_redis_lost_its_memory_is_still_handled_once(
    line_world: LineWorld,
) -> None:
    from bot.webhook import BOT

    first = await line_world.follow(PARENT)
    before = len(await line_world.messages(PARENT))
    # A Redis restart forgets the claims; the database record still knows the event.
    await line_world.app[BOT].deps.redis.flushdb()
    await line_world.send(
        PARENT, {"type": "follow", "redeliver": first["event"]["webhookEventId"]}
    )
    assert len(await line_world.messages(PARENT)) == before


async def test_standby_events_are_not_answered(line_world: LineWorld) -> None:
    await line_world.send(PARENT, {"type": "follow", "mode": "standby"})
    assert await line_world.messages(PARENT) == []


async def test_events_of_one_user_are_handled_in_order(line_world: LineWorld) -> None:
    from bot.state import ConversationStore
    from bot.webhook import BOT

    service = line_world.app[BOT]
    seen: list[str] = []
    original = service.handle

    async def record(event: Any) -> None:
        await asyncio.sleep(0.05 if event.message.text == "first" else 0)
        seen.append(event.message.text)
        await original(event)

    service.handle = record  # type: ignore[method-assign]
    try:
        # One delivery carrying two events of the same user, built and signed by the emulator.
        answer = await line_world.raw(
            [
                {"userId": PARENT, "type": "message", "text": "first"},
                {"userId": PARENT, "type": "message", "text": "second"},
            ]
        )
        assert answer["webhook"]["status"] == 200
        await line_world.idle()
    finally:
        service.handle = original  # type: ignore[method-assign]
    assert seen == ["first", "second"]
    assert isinstance(service.deps.conversations, ConversationStore)


async def test_acknowledges_before_the_work_is_done(line_world: LineWorld) -> None:
    from bot.webhook import BOT

    service = line_world.app[BOT]
    release = asyncio.Event()
    original = service.handle

    async def slow(event: Any) -> None:
        await release.wait()
        await original(event)

    service.handle = slow  # type: ignore[method-assign]
    try:
        answer = await asyncio.wait_for(
            line_world.raw([{"userId": OTHER, "type": "message", "text": "help"}]), 2
        )
        assert answer["webhook"]["status"] == 200
    finally:
        release.set()
        await line_world.idle()
        service.handle = original  # type: ignore[method-assign]


async def test_the_sdk_fixture_parses_and_is_accepted(line_world: LineWorld) -> None:
    from linebot.v3 import WebhookParser
    from linebot.v3.models.events import UnknownEvent

    line_world.allow_rejections = True  # the fixture's reply tokens were never issued
    body = shared_path("line-openapi", "sdk_webhook_events.json").read_bytes()
    events = WebhookParser(SECRET).parse(body.decode(), sign(body))
    raw = json.loads(body)["events"]
    assert len(events) == len(raw)
    for event, source in zip(events, raw, strict=True):
        # Only the fixture's deliberately unknown type ("undefined") may parse as unknown.
        assert isinstance(event, UnknownEvent) == (source["type"] == "undefined"), source["type"]
    status, _ = await post(line_world, body)
    assert status == 200
    await line_world.idle()


async def test_a_failing_turn_says_sorry_saves_nothing_and_can_be_redelivered(
    line_world: LineWorld,
) -> None:
    from bot.webhook import BOT

    line_world.allow_rejections = True  # the redelivery's reply token was spent on the apology
    service = line_world.app[BOT]
    original = service.dispatcher.dispatch

    async def broken(turn: Any) -> bool:
        raise RuntimeError("a bug")

    service.dispatcher.dispatch = broken  # type: ignore[method-assign]
    try:
        first = await line_world.follow(PARENT)
    finally:
        service.dispatcher.dispatch = original  # type: ignore[method-assign]
    [sorry] = await line_world.messages(PARENT)
    assert "Sorry, something went wrong" in sorry["text"]
    # The failed event was not recorded as handled: LINE's redelivery is handled for real
    # (its reply token was spent on the apology, so the greeting's reply is refused by LINE).
    await line_world.send(
        PARENT, {"type": "follow", "redeliver": first["event"]["webhookEventId"]}
    )
    replies = [r for r in await line_world.requests() if r["path"] == "/v2/bot/message/reply"]
    assert len(replies) == 2
    greeting = replies[1]["body"]["messages"][0]["text"]
    assert "はぐくみ" in greeting
