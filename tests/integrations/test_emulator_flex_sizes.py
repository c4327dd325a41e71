"""The emulator refuses Flex messages over LINE's size limits (a bubble 30 KB, a carousel
50 KB of compact JSON), however the request was encoded, and accepts those within them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from integrations.line_emulator import EmulatorConfig, create_emulator_app

TOKEN = "flex-size-token"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
USER = "U" + "c" * 32


def bubble(characters: int) -> dict[str, Any]:
    """A bubble whose one text holds `characters` kana (3 bytes each in UTF-8)."""
    texts = [
        {"type": "text", "text": "あ" * min(2000, characters - i), "wrap": True}
        for i in range(0, characters, 2000)
    ]
    return {"type": "bubble", "body": {"type": "box", "layout": "vertical", "contents": texts}}


def flex(contents: dict[str, Any]) -> dict[str, Any]:
    message = {"type": "flex", "altText": "お知らせ", "contents": contents}
    return {"to": USER, "messages": [message]}


@pytest.fixture
async def emulator(aiohttp_client: Any) -> Any:
    app = create_emulator_app(EmulatorConfig(channel_access_token=TOKEN, seed=5))
    return await aiohttp_client(app)


async def push(client: Any, body: dict[str, Any], *, ascii_only: bool) -> tuple[int, Any]:
    raw = json.dumps(body, ensure_ascii=ascii_only, separators=(",", ":")).encode()
    response = await client.post("/v2/bot/message/push", data=raw, headers=AUTH)
    return response.status, await response.json()


@pytest.mark.parametrize("ascii_only", [True, False])
async def test_a_bubble_over_30_kb_is_refused(emulator: Any, ascii_only: bool) -> None:
    status, answer = await push(emulator, flex(bubble(10_500)), ascii_only=ascii_only)
    assert status == 400
    assert any("30000 bytes" in d["message"] for d in answer["details"])


async def test_a_carousel_over_50_kb_is_refused_though_each_bubble_fits(emulator: Any) -> None:
    carousel = {"type": "carousel", "contents": [bubble(6_000) for _ in range(3)]}
    status, answer = await push(emulator, flex(carousel), ascii_only=False)
    assert status == 400
    assert [d["property"] for d in answer["details"]] == ["messages[0].contents"]


@pytest.mark.parametrize("ascii_only", [True, False])
async def test_messages_within_the_limits_are_delivered(emulator: Any, ascii_only: bool) -> None:
    # 9,500 kana: under 30 KB in UTF-8, but 57 KB when every kana is sent as \\uXXXX.
    carousel = {"type": "carousel", "contents": [bubble(9_500), bubble(100)]}
    status, _ = await push(emulator, flex(carousel), ascii_only=ascii_only)
    assert status == 200
