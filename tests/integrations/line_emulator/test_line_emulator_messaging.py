"""The Messaging API through line-bot-sdk v3: sends, replies, limits, retry keys, budget."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from linebot.v3.messaging import (
    BroadcastRequest,
    MessageAction,
    MulticastRequest,
    PushMessageRequest,
    QuickReply,
    QuickReplyItem,
    ReplyMessageRequest,
    TextMessage,
)
from linebot.v3.messaging.exceptions import ApiException

from tests.integrations.line_emulator.conftest import Line, user_id

PUSH = "/v2/bot/message/push"


def text(value: str) -> TextMessage:
    """A text message model."""
    return TextMessage(text=value)


def body_of(exc: ApiException) -> Any:
    """The JSON body of an SDK error."""
    return json.loads(exc.body)


async def test_push_is_delivered_with_ids_and_request_id(line: Line) -> None:
    parent = user_id(1)
    async with line.api() as api:
        answer = await api.push_message_with_http_info(
            PushMessageRequest(to=parent, messages=[text("こんにちは"), text("二通目")])
        )
    assert answer.status_code == 200
    assert len(answer.data.sent_messages) == 2
    assert answer.data.sent_messages[0].quote_token
    assert answer.headers["x-line-request-id"]
    delivered = line.emulator.messages_for(parent)
    assert [d["message"]["text"] for d in delivered] == ["こんにちは", "二通目"]
    assert {d["via"] for d in delivered} == {"push"}
    assert delivered[0]["id"] == answer.data.sent_messages[0].id
    response = await line.client.get(f"/_emulator/users/{parent}/messages")
    assert [m["seq"] for m in (await response.json())["messages"]] == [1, 2]


async def test_multicast_counts_reachable_recipients_and_skips_blocked(line: Line) -> None:
    followers = [user_id(n) for n in (1, 2, 3)]
    for parent in followers:
        await line.event(parent, type="follow")
    await line.event(followers[2], type="unfollow")
    async with line.api() as api:
        await api.multicast(MulticastRequest(to=followers, messages=[text("お知らせ")]))
    assert len(line.emulator.messages_for(followers[0])) == 1
    assert len(line.emulator.messages_for(followers[1])) == 1
    assert line.emulator.messages_for(followers[2]) == []  # accepted, not delivered
    assert line.emulator.budget_used() == 2


async def test_push_to_a_blocked_user_is_accepted_but_not_delivered(line: Line) -> None:
    parent = user_id(4)
    await line.event(parent, type="follow")
    await line.event(parent, type="unfollow")
    async with line.api() as api:
        answer = await api.push_message(PushMessageRequest(to=parent, messages=[text("x")]))
    assert answer.sent_messages
    assert line.emulator.messages_for(parent) == []
    assert line.emulator.budget_used() == 0


async def test_broadcast_reaches_followers_only(line: Line) -> None:
    await line.event(user_id(1), type="follow")
    await line.event(user_id(2), type="follow")
    await line.event(user_id(2), type="unfollow")
    await line.event(user_id(3), type="message", text="hi")  # wrote without following
    async with line.api() as api:
        await api.broadcast(BroadcastRequest(messages=[text("全員へ")]))
    assert [d["via"] for d in line.emulator.messages_for(user_id(1))] == ["broadcast"]
    assert line.emulator.messages_for(user_id(2)) == []
    assert line.emulator.messages_for(user_id(3)) == []


async def test_reply_token_is_single_use_and_expires_after_a_minute(
    line: Line, clock: Any
) -> None:
    parent = user_id(5)
    answer = await line.event(parent, type="message", text="保育園を探したい")
    token = answer["event"]["replyToken"]
    assert len(token) == 32 and int(token, 16) >= 0
    async with line.api() as api:
        await api.reply_message(ReplyMessageRequest(reply_token=token, messages=[text("はい")]))
        with pytest.raises(ApiException) as used:
            await api.reply_message(ReplyMessageRequest(reply_token=token, messages=[text("再")]))
        assert used.value.status == 400
        assert body_of(used.value) == {"message": "Invalid reply token"}

        late = (await line.event(parent, type="postback", data="a=1"))["event"]["replyToken"]
        clock.advance(61)
        with pytest.raises(ApiException) as expired:
            await api.reply_message(ReplyMessageRequest(reply_token=late, messages=[text("遅")]))
        assert expired.value.status == 400
        assert body_of(expired.value)["message"] == "Invalid reply token"
    assert [d["message"]["text"] for d in line.emulator.messages_for(parent)] == ["はい"]
    assert line.emulator.budget_used() == 0  # replies are free


async def test_text_over_5000_characters_is_refused_through_the_sdk(line: Line) -> None:
    async with line.api() as api:
        with pytest.raises(ApiException) as refused:
            await api.push_message(PushMessageRequest(to=user_id(1), messages=[text("あ" * 5001)]))
    assert refused.value.status == 400
    body = body_of(refused.value)
    assert body["details"][0]["property"] == "messages[0].text"
    assert line.emulator.messages_for(user_id(1)) == []


def _quick_reply_items(count: int) -> dict[str, Any]:
    items = [
        {"type": "action", "action": {"type": "message", "label": f"l{n}", "text": f"t{n}"}}
        for n in range(count)
    ]
    return {"type": "text", "text": "選んでください", "quickReply": {"items": items}}


@pytest.mark.parametrize(
    ("body", "prop"),
    [
        ({"to": user_id(1), "messages": [{"type": "text", "text": "x"}] * 6}, "messages"),
        (
            {"to": user_id(1), "messages": [{"type": "text", "text": "x" * 5001}]},
            "messages[0].text",
        ),
        ({"to": user_id(1), "messages": [_quick_reply_items(14)]}, "messages[0].quickReply.items"),
        ({"to": "U123", "messages": [{"type": "text", "text": "x"}]}, "to"),
        ({"to": user_id(1), "messages": [{"type": "hologram", "text": "x"}]}, "messages[0].type"),
        ({"to": user_id(1)}, "messages"),
        (
            {
                "to": user_id(1),
                "messages": [
                    {
                        "type": "template",
                        "altText": "a",
                        "template": {
                            "type": "buttons",
                            "text": "t",
                            "actions": [{"type": "postback", "label": "l", "data": "d" * 301}],
                        },
                    }
                ],
            },
            "messages[0].template.actions[0].data",
        ),
        (
            {
                "to": user_id(1),
                "messages": [
                    {
                        "type": "flex",
                        "altText": "a",
                        "contents": {
                            "type": "bubble",
                            "body": {
                                "type": "box",
                                "layout": "vertical",
                                "contents": [{"type": "teleporter"}],
                            },
                        },
                    }
                ],
            },
            "messages[0].contents.body.contents[0].type",
        ),
    ],
    ids=[
        "six-messages",
        "text-5001",
        "quick-reply-14",
        "bad-user-id",
        "unknown-type",
        "no-messages",
        "postback-data-301",
        "unknown-flex-component",
    ],
)
async def test_bodies_the_spec_or_limits_refuse(
    line: Line, spec_path: Path, body: Any, prop: str
) -> None:
    status, answer, _ = await line.post(PUSH, body)
    assert status == 400, answer
    assert answer["message"].startswith("The request body has")
    assert prop in [d["property"] for d in answer["details"]]
    assert line.emulator.stats()["delivered"]["total"] == 0


async def test_quick_reply_label_over_20_characters_is_refused(line: Line) -> None:
    message = _quick_reply_items(1)
    message["quickReply"]["items"][0]["action"]["label"] = "ラ" * 21
    status, answer, _ = await line.post(PUSH, {"to": user_id(1), "messages": [message]})
    assert status == 400
    assert answer["details"][0]["property"] == "messages[0].quickReply.items[0].action.label"


async def test_valid_rich_messages_pass(line: Line) -> None:
    flex = {
        "type": "flex",
        "altText": "保育園の見学",
        "contents": {
            "type": "carousel",
            "contents": [
                {
                    "type": "bubble",
                    "hero": {"type": "image", "url": "https://example.com/a.png", "size": "full"},
                    "body": {
                        "type": "box",
                        "layout": "vertical",
                        "contents": [{"type": "text", "text": "ひまわり保育園", "weight": "bold"}],
                    },
                    "footer": {
                        "type": "box",
                        "layout": "vertical",
                        "contents": [
                            {
                                "type": "button",
                                "action": {
                                    "type": "datetimepicker",
                                    "label": "見学日を選ぶ",
                                    "data": "tour=1",
                                    "mode": "date",
                                },
                            }
                        ],
                    },
                }
            ],
        },
    }
    confirm = {
        "type": "template",
        "altText": "確認",
        "template": {
            "type": "confirm",
            "text": "通知を受け取りますか?",
            "actions": [
                {"type": "postback", "label": "はい", "data": "yes", "displayText": "はい"},
                {"type": "message", "label": "いいえ", "text": "いいえ"},
            ],
        },
    }
    status, answer, _ = await line.post(PUSH, {"to": user_id(1), "messages": [flex, confirm]})
    assert status == 200, answer


async def test_retry_key_must_be_a_uuid(line: Line) -> None:
    async with line.api() as api:
        with pytest.raises(ApiException) as refused:
            await api.push_message(
                PushMessageRequest(to=user_id(1), messages=[text("x")]), x_line_retry_key="abc"
            )
    assert refused.value.status == 400
    assert line.emulator.messages_for(user_id(1)) == []


async def test_reused_retry_key_answers_409_and_delivers_once(line: Line) -> None:
    key = str(uuid.uuid4())
    request = PushMessageRequest(to=user_id(1), messages=[text("一度だけ")])
    async with line.api() as api:
        first = await api.push_message_with_http_info(request, x_line_retry_key=key)
        with pytest.raises(ApiException) as again:
            await api.push_message(request, x_line_retry_key=key)
        multicast_key = str(uuid.uuid4())
        await api.multicast(
            MulticastRequest(to=[user_id(2)], messages=[text("m")]), x_line_retry_key=multicast_key
        )
        with pytest.raises(ApiException) as multicast_again:
            await api.multicast(
                MulticastRequest(to=[user_id(2)], messages=[text("m")]),
                x_line_retry_key=multicast_key,
            )
    assert again.value.status == 409
    assert again.value.headers["x-line-accepted-request-id"] == first.headers["x-line-request-id"]
    body = body_of(again.value)
    assert body["message"] == "The retry key is already accepted"
    assert body["sentMessages"][0]["id"] == first.data.sent_messages[0].id
    assert multicast_again.value.status == 409
    assert len(line.emulator.messages_for(user_id(1))) == 1
    assert len(line.emulator.messages_for(user_id(2))) == 1
    assert line.emulator.budget_used() == 2


async def test_retry_key_is_refused_on_reply(line: Line) -> None:
    token = (await line.event(user_id(1), type="follow"))["event"]["replyToken"]
    body = {"replyToken": token, "messages": [{"type": "text", "text": "x"}]}
    status, _, _ = await line.post(
        "/v2/bot/message/reply", body, **{"X-Line-Retry-Key": str(uuid.uuid4())}
    )
    assert status == 400


async def test_rate_limit_answers_429_until_the_bucket_refills(make_line: Any, clock: Any) -> None:
    line = await make_line(rate_limits={"push": 2})
    request = PushMessageRequest(to=user_id(1), messages=[text("x")])
    async with line.api() as api:
        await api.push_message(request)
        await api.push_message(request)
        with pytest.raises(ApiException) as limited:
            await api.push_message(request)
        assert limited.value.status == 429
        assert body_of(limited.value) == {
            "message": "The API rate limit has been exceeded. Try again later."
        }
        clock.advance(0.5)
        await api.push_message(request)
    assert len(line.emulator.messages_for(user_id(1))) == 3
    assert line.emulator.stats()["requests"]["push"] == {"200": 3, "429": 1}


async def test_monthly_limit_refuses_whole_requests_and_quota_tells(make_line: Any) -> None:
    line = await make_line(monthly_limit=3)
    async with line.api() as api:
        await api.push_message(PushMessageRequest(to=user_id(1), messages=[text("1"), text("2")]))
        with pytest.raises(ApiException) as over:
            await api.multicast(
                MulticastRequest(to=[user_id(2), user_id(3)], messages=[text("3")])
            )
        quota = await api.get_message_quota()
        consumption = await api.get_message_quota_consumption()
    assert over.value.status == 429
    assert body_of(over.value) == {"message": "You have reached your monthly limit."}
    assert line.emulator.messages_for(user_id(2)) == []
    assert quota.type == "limited" and quota.value == 3
    assert consumption.total_usage == 2


async def test_quota_without_a_limit_is_none(line: Line) -> None:
    async with line.api() as api:
        quota = await api.get_message_quota()
    assert quota.type == "none"


async def test_fail_rate_one_answers_500_and_delivers_nothing(line: Line) -> None:
    response = await line.client.post("/_emulator/config", json={"fail_rate": 1.0})
    assert (await response.json())["fail_rate"] == 1.0
    async with line.api() as api:
        with pytest.raises(ApiException) as failed:
            await api.push_message(PushMessageRequest(to=user_id(1), messages=[text("x")]))
        assert failed.value.status == 500
        await line.client.post("/_emulator/config", json={"fail_rate": 0})
        await api.push_message(PushMessageRequest(to=user_id(1), messages=[text("y")]))
    assert [d["message"]["text"] for d in line.emulator.messages_for(user_id(1))] == ["y"]
    assert line.emulator.budget_used() == 1


async def test_fail_rate_is_reproducible_with_a_seed(make_line: Any) -> None:
    outcomes = []
    for _ in range(2):
        line = await make_line(fail_rate=0.5, seed=42)
        statuses = []
        for _ in range(20):
            status, _, _ = await line.post(
                PUSH, {"to": user_id(1), "messages": [{"type": "text", "text": "x"}]}
            )
            statuses.append(status)
        outcomes.append(statuses)
    assert outcomes[0] == outcomes[1]
    assert {200, 500} == set(outcomes[0])


async def test_latency_is_added(make_line: Any) -> None:
    line = await make_line(latency_ms=80)
    started = time.perf_counter()
    async with line.api() as api:
        await api.get_bot_info()
    assert time.perf_counter() - started >= 0.08


async def test_wrong_token_is_401(line: Line) -> None:
    response = await line.client.post(
        PUSH, json={"to": user_id(1), "messages": []}, headers={"Authorization": "Bearer nope"}
    )
    assert response.status == 401
    assert (await response.json())["message"].startswith("Authentication failed")
    assert response.headers["x-line-request-id"]


async def test_profile_bot_info_followers_and_loading(line: Line) -> None:
    await line.event(user_id(1), type="follow")
    await line.event(user_id(2), type="follow")
    async with line.api() as api:
        profile = await api.get_profile(user_id(2))
        info = await api.get_bot_info()
        followers = await api.get_followers(limit=1)
        with pytest.raises(ApiException) as stranger:
            await api.get_profile(user_id(9))
        from linebot.v3.messaging import ShowLoadingAnimationRequest

        await api.show_loading_animation(
            ShowLoadingAnimationRequest(chat_id=user_id(1), loading_seconds=10)
        )
    assert profile.display_name == "Parent 02"
    assert info.user_id == line.emulator.config.bot_user_id
    assert followers.user_ids == [user_id(1)] and followers.next == "1"
    assert stranger.value.status == 404


async def test_quick_reply_built_with_sdk_models_is_accepted(line: Line) -> None:
    quick = QuickReply(items=[QuickReplyItem(action=MessageAction(label="はい", text="はい"))])
    async with line.api() as api:
        await api.push_message(
            PushMessageRequest(to=user_id(1), messages=[TextMessage(text="?", quick_reply=quick)])
        )
    delivered = line.emulator.messages_for(user_id(1))
    assert delivered[0]["message"]["quickReply"]["items"][0]["action"]["label"] == "はい"


async def test_reply_tokens_issued_for_events_built_elsewhere(line: Line) -> None:
    parent = user_id(6)
    response = await line.client.post(f"/_emulator/users/{parent}/reply-tokens", json={"count": 2})
    tokens = (await response.json())["replyTokens"]
    assert len(tokens) == 2 and len(set(tokens)) == 2
    async with line.api() as api:
        for token in tokens:
            await api.reply_message(ReplyMessageRequest(reply_token=token, messages=[text("ok")]))
    assert [d["via"] for d in line.emulator.messages_for(parent)] == ["reply", "reply"]
    too_many = await line.client.post(
        f"/_emulator/users/{parent}/reply-tokens", json={"count": 5000}
    )
    assert too_many.status == 400
