"""The app: chat page, mounting under a prefix, inspection endpoints, SDK fallback, runner."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    PushMessageRequest,
    TextMessage,
)
from linebot.v3.messaging.exceptions import ApiException

from integrations.line_emulator import EMULATOR, EmulatorConfig, create_emulator_app, run_emulator
from tests.integrations.line_emulator.conftest import TOKEN, Line, user_id

PUSH = "/v2/bot/message/push"


def _text_push(to: str, value: str = "x") -> dict[str, Any]:
    return {"to": to, "messages": [{"type": "text", "text": value}]}


async def test_chat_page_is_served_with_relative_urls(make_line: Any) -> None:
    line: Line = await make_line()
    response = await line.client.get("/_emulator/")
    assert response.status == 200
    assert response.content_type == "text/html" and response.charset == "utf-8"
    html = await response.text()
    assert "友だち追加" in html and "<script>" in html
    assert not re.search(r"""fetch\(\s*["'`]/""", html)
    assert "https://" not in html.split("<script>")[0]  # no CDN
    redirect = await line.client.get("/_emulator", allow_redirects=False)
    assert redirect.status == 302 and redirect.headers["Location"] == "/_emulator/"


async def test_mounted_under_a_prefix(aiohttp_client: Any, clock: Any) -> None:
    parent = web.Application()
    emulator_app = create_emulator_app(EmulatorConfig(channel_access_token=TOKEN), clock=clock)
    parent.add_subapp("/_line", emulator_app)
    client = await aiohttp_client(parent)
    base = str(client.make_url("/_line")).rstrip("/")
    async with AsyncApiClient(Configuration(host=base, access_token=TOKEN)) as api_client:
        await AsyncMessagingApi(api_client).push_message(
            PushMessageRequest(to=user_id(1), messages=[TextMessage(text="マウント")])
        )
    emulator = emulator_app[EMULATOR]
    assert emulator.requests(path=PUSH)[0]["status"] == 200
    page = await client.get("/_line/_emulator/")
    assert page.status == 200
    messages = await (await client.get(f"/_line/_emulator/users/{user_id(1)}/messages")).json()
    assert messages["messages"][0]["message"]["text"] == "マウント"
    unknown = await client.get(
        "/_line/v2/bot/nothing", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert unknown.status == 404 and (await unknown.json()) == {"message": "Not found"}
    assert emulator.session is not None  # the sub-app's cleanup_ctx ran


async def test_request_log_filters_and_stats(make_line: Any) -> None:
    line: Line = await make_line()
    await line.post(PUSH, _text_push(user_id(1)), **{"X-Line-Retry-Key": "not-a-uuid"})
    await line.post(PUSH, _text_push(user_id(1), "ok"))
    await line.client.get("/v2/bot/info", headers={"Authorization": f"Bearer {TOKEN}"})

    everything = await (await line.client.get("/_emulator/requests")).json()
    assert [r["seq"] for r in everything["requests"]] == [1, 2, 3]
    assert everything["last_seq"] == 3
    pushes = await (await line.client.get(f"/_emulator/requests?path={PUSH}&since=1")).json()
    (entry,) = pushes["requests"]
    assert entry["method"] == "POST" and entry["status"] == 200
    assert entry["body"]["messages"][0]["text"] == "ok"
    assert entry["response"]["sentMessages"][0]["id"]
    assert entry["headers"]["Authorization"] == "<redacted>"
    first = line.emulator.requests(path=PUSH, status=400)[0]
    assert first["headers"]["X-Line-Retry-Key"] == "not-a-uuid"

    stats = await (await line.client.get("/_emulator/stats")).json()
    assert stats["requests"]["push"] == {"400": 1, "200": 1}
    assert stats["requests"]["bot_info"] == {"200": 1}
    assert stats["delivered"] == {"total": 1, "push": 1}
    assert stats["budget"]["used"] == 1 and stats["budget"]["month"] == "2026-11"


async def test_reset_forgets_state_but_keeps_config(make_line: Any) -> None:
    line: Line = await make_line(monthly_limit=10)
    await line.event(user_id(1), type="follow")
    await line.post(PUSH, _text_push(user_id(1)))
    response = await line.client.post("/_emulator/reset")
    assert response.status == 200
    assert line.emulator.users == {}
    assert line.emulator.messages_for(user_id(1)) == []
    assert line.emulator.requests() == []
    assert line.emulator.budget_used() == 0
    assert line.emulator.config.monthly_limit == 10


async def test_config_endpoint_checks_values(make_line: Any) -> None:
    line: Line = await make_line()
    bad = await line.client.post("/_emulator/config", json={"fail_rate": 2})
    assert bad.status == 400
    unknown = await line.client.post("/_emulator/config", json={"colour": "blue"})
    assert unknown.status == 400
    good = await line.client.post(
        "/_emulator/config", json={"latency_ms": 0, "monthly_limit": 5, "rate_limits": {"push": 1}}
    )
    assert (await good.json())["monthly_limit"] == 5
    assert (await line.post(PUSH, _text_push(user_id(1))))[0] == 200
    assert (await line.post(PUSH, _text_push(user_id(1))))[0] == 429


async def test_users_listing_and_rich_menu_view(make_line: Any) -> None:
    line: Line = await make_line()
    await line.event(user_id(1), type="follow")
    users = await (await line.client.get("/_emulator/users")).json()
    assert users["users"][0]["displayName"] == "Parent 01"
    assert users["users"][0]["status"] == "follower"
    view = await (await line.client.get(f"/_emulator/users/{user_id(1)}/richmenu")).json()
    assert view == {"richMenu": None}


async def test_without_the_spec_the_sdk_models_validate(make_line: Any, tmp_path: Any) -> None:
    line: Line = await make_line(spec_path=tmp_path / "absent.yml")
    assert line.emulator.validator.source == "line-bot-sdk"
    six = {"to": user_id(1), "messages": [{"type": "text", "text": "x"}] * 6}
    assert (await line.post(PUSH, six))[0] == 400
    unknown = {"to": user_id(1), "messages": [{"type": "hologram"}]}
    status, body, _ = await line.post(PUSH, unknown)
    assert status == 400 and body["details"][0]["property"].startswith("messages[0]")
    long_text = _text_push(user_id(1), "x" * 5001)  # a limit the SDK models do not know
    status, body, _ = await line.post(PUSH, long_text)
    assert status == 400 and body["details"][0]["property"] == "messages[0].text"
    async with line.api() as api:
        await api.push_message(
            PushMessageRequest(to=user_id(1), messages=[TextMessage(text="ok")])
        )
        with pytest.raises(ApiException):
            await api.push_message(PushMessageRequest(to="Ubad", messages=[TextMessage(text="x")]))
    assert len(line.emulator.messages_for(user_id(1))) == 1


async def test_naive_clock_is_refused(aiohttp_client: Any) -> None:
    from datetime import datetime

    app = create_emulator_app(EmulatorConfig(), clock=lambda: datetime(2026, 1, 1))  # noqa: DTZ001
    client = await aiohttp_client(app)
    response = await client.post(
        "/_emulator/users/" + user_id(1) + "/events", json={"type": "follow"}
    )
    assert response.status == 500


async def test_run_emulator_serves_until_cancelled(capsys: Any) -> None:
    task = asyncio.create_task(run_emulator(EmulatorConfig(), host="127.0.0.1", port=0))
    for _ in range(100):
        await asyncio.sleep(0.02)
        out = capsys.readouterr().out
        if out:
            break
    match = re.search(r"http://127\.0\.0\.1:(\d+)", out)
    assert match, out
    assert out.count("\n") == 1
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"http://127.0.0.1:{match.group(1)}/v2/bot/info",
            headers={"Authorization": "Bearer emulator-token"},
        ) as response,
    ):
        assert response.status == 200
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
