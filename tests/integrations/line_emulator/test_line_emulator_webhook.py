"""Playing the users: events built like LINE's, signed, parsed by the SDK, redelivered."""

from __future__ import annotations

import json
from typing import Any

import pytest
from linebot.v3.webhooks import (
    FollowEvent,
    LocationMessageContent,
    MessageEvent,
    PostbackEvent,
    TextMessageContent,
    UnfollowEvent,
)

from integrations.line_emulator import play, sign
from integrations.line_emulator.ulid import CROCKFORD, timestamp_ms
from integrations.line_emulator.validation import OpenApiValidator, load_openapi
from tests.conftest import shared_path
from tests.integrations.line_emulator.conftest import SECRET, Line, user_id


@pytest.fixture
async def line(make_line: Any) -> Line:
    """Webhooks need no messaging spec: this also runs the SDK-model fallback."""
    started: Line = await make_line()
    return started


async def test_every_event_type_is_signed_and_parsed_by_the_sdk(line: Line) -> None:
    parent = user_id(1)
    await line.event(parent, type="follow")
    await line.event(parent, type="message", text="保育園の空きは?")
    await line.event(parent, type="postback", data="tour=1", params={"date": "2025-06-01"})
    await line.event(
        parent, type="location", latitude=35.69, longitude=139.69, address="新宿区", title="区役所"
    )
    await line.event(parent, type="unfollow")
    await line.event(parent, type="follow")

    events = line.webhook.events
    assert [type(e) for e in events] == [
        FollowEvent,
        MessageEvent,
        PostbackEvent,
        MessageEvent,
        UnfollowEvent,
        FollowEvent,
    ]
    follow, message, postback, location, unfollow, refollow = events
    assert follow.follow.is_unblocked is False and refollow.follow.is_unblocked is True
    assert isinstance(message.message, TextMessageContent)
    assert message.message.text == "保育園の空きは?" and message.message.quote_token
    assert postback.postback.data == "tour=1"
    assert postback.postback.params == {"date": "2025-06-01"}
    assert isinstance(location.message, LocationMessageContent)
    assert location.message.latitude == 35.69
    assert all(e.source.user_id == parent for e in events)
    assert all(e.mode.value == "active" for e in events)
    for raw, headers in zip(line.webhook.bodies, line.webhook.headers, strict=True):
        assert headers["Content-Type"] == "application/json; charset=utf-8"
        assert headers["x-line-signature"] == sign(raw, SECRET)
        body = json.loads(raw)
        assert body["destination"] == line.emulator.config.bot_user_id
    assert "保育園".encode() in line.webhook.bodies[1]  # UTF-8, not \\u escapes
    unfollow_body = json.loads(line.webhook.bodies[4])["events"][0]
    assert "replyToken" not in unfollow_body


async def test_events_match_webhook_yml(line: Line) -> None:
    validator = OpenApiValidator(load_openapi(shared_path("line-openapi", "webhook.yml")))
    parent = user_id(2)
    await line.event(parent, type="follow")
    await line.event(parent, type="message", text="hi", mode="standby")
    await line.event(parent, type="postback", data="x")
    await line.event(parent, type="location", latitude=1, longitude=2)
    await line.event(parent, type="unfollow")
    for raw in line.webhook.bodies:
        assert validator.check("CallbackRequest", json.loads(raw)) == []


async def test_webhook_answer_reports_status_and_time(line: Line, clock: Any) -> None:
    answer = await line.event(user_id(1), type="follow")
    assert answer["webhook"]["status"] == 200
    assert answer["webhook"]["elapsed_ms"] >= 0
    event = answer["event"]
    assert event["type"] == "follow"
    assert event["deliveryContext"] == {"isRedelivery": False}
    assert event["timestamp"] == int(clock.now.timestamp() * 1000)


async def test_redelivery_keeps_the_webhook_event_id(line: Line) -> None:
    parent = user_id(1)
    first = (await line.event(parent, type="message", text="一回目"))["event"]
    again = (await line.event(parent, redeliver=first["webhookEventId"]))["event"]
    assert again["webhookEventId"] == first["webhookEventId"]
    assert again["deliveryContext"] == {"isRedelivery": True}
    assert {k: v for k, v in again.items() if k != "deliveryContext"} == {
        k: v for k, v in first.items() if k != "deliveryContext"
    }
    parsed = line.webhook.events
    assert parsed[1].delivery_context.is_redelivery is True
    response = await line.client.post(
        f"/_emulator/users/{user_id(2)}/events", json={"redeliver": first["webhookEventId"]}
    )
    assert response.status == 404


async def test_raw_batch_sends_two_events_in_one_delivery(line: Line) -> None:
    parent = user_id(3)
    response = await line.client.post(
        "/_emulator/webhook/raw",
        json={
            "events": [
                {"userId": parent, "type": "message", "text": "一"},
                {"userId": parent, "type": "message", "text": "二"},
            ]
        },
    )
    assert response.status == 200, await response.text()
    assert len(line.webhook.bodies) == 1
    assert [e.message.text for e in line.webhook.events] == ["一", "二"]
    tokens = {e.reply_token for e in line.webhook.events}
    assert len(tokens) == 2


async def test_raw_delivery_with_a_wrong_signature_reaches_the_bot_unverified(line: Line) -> None:
    response = await line.client.post(
        "/_emulator/webhook/raw", json={"events": [], "signature": "forged"}
    )
    answer = await response.json()
    assert answer["webhook"]["status"] == 400  # our test bot refused it
    assert line.webhook.events == []


async def test_ulids_are_crockford_and_sorted_by_time(line: Line, clock: Any) -> None:
    ids = []
    for step in range(5):
        ids.append((await line.event(user_id(1), type="message", text=str(step)))["event"])
        if step % 2:
            clock.advance(0.001 * step)
    ulids = [e["webhookEventId"] for e in ids]
    assert all(len(u) == 26 and set(u) <= set(CROCKFORD) for u in ulids)
    assert ulids == sorted(ulids) and len(set(ulids)) == 5
    assert [timestamp_ms(u) for u in ulids] == [e["timestamp"] for e in ids]


async def test_unreachable_webhook_is_502(line: Line) -> None:
    line.emulator.configure(webhook_url="http://127.0.0.1:9/nothing")
    response = await line.client.post(
        f"/_emulator/users/{user_id(1)}/events", json={"type": "follow"}
    )
    assert response.status == 502
    answer = await response.json()
    assert "unreachable" in answer["message"]
    assert answer["event"]["type"] == "follow"
    assert line.emulator.users[user_id(1)].status == "follower"


async def test_no_webhook_url_still_records_the_event(make_line: Any) -> None:
    line = await make_line(webhook_url=None)
    answer = await line.event(user_id(1), type="follow")
    assert answer["webhook"] is None
    assert line.emulator.users[user_id(1)].status == "follower"


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "dance"},
        {"type": "message"},
        {"type": "postback", "data": "x", "params": {"date": 1}},
        {"type": "location", "latitude": "north"},
        {"type": "follow", "mode": "sleepy"},
    ],
)
async def test_bad_user_actions_are_400(line: Line, spec: dict[str, Any]) -> None:
    response = await line.client.post(f"/_emulator/users/{user_id(1)}/events", json=spec)
    assert response.status == 400
    assert line.webhook.bodies == []


async def test_blocked_user_cannot_write(line: Line) -> None:
    await line.event(user_id(1), type="follow")
    await line.event(user_id(1), type="unfollow")
    response = await line.client.post(
        f"/_emulator/users/{user_id(1)}/events", json={"type": "message", "text": "x"}
    )
    assert response.status == 409


async def test_bad_user_id_is_400(line: Line) -> None:
    response = await line.client.post("/_emulator/users/U123/events", json={"type": "follow"})
    assert response.status == 400


async def test_python_api_plays_users_too(line: Line) -> None:
    answer = await play(line.emulator, user_id(7), {"type": "message", "text": "py"})
    assert answer["webhook"]["status"] == 200
    assert line.webhook.events[0].message.text == "py"
