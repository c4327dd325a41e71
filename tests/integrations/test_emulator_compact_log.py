"""The emulator's request log in compact form: what a load test counts, without bodies."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from integrations.line_emulator import EmulatorConfig, create_emulator_app

TOKEN = "compact-log-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PUSH = "/v2/bot/message/push"
MULTICAST = "/v2/bot/message/multicast"
COMPACT_KEYS = {"seq", "path", "status", "retry_key", "to", "messages"}


def user(index: int) -> str:
    return f"U{index:032x}"


def texts(*values: str) -> list[dict[str, str]]:
    return [{"type": "text", "text": value} for value in values]


@pytest.fixture
async def emulator(aiohttp_client: Any) -> Any:
    """A test client of the emulator app alone (no webhook, no OpenAPI document needed)."""
    app = create_emulator_app(EmulatorConfig(channel_access_token=TOKEN, seed=3))
    return await aiohttp_client(app)


async def log(client: Any, query: str = "") -> dict[str, Any]:
    response = await client.get(f"/_emulator/requests{query}")
    assert response.status == 200
    answer: dict[str, Any] = await response.json()
    return answer


async def send(client: Any) -> dict[str, str]:
    """A push, a multicast, a refused push and a GET; the retry keys used."""
    keys = {"push": str(uuid.uuid4()), "multicast": str(uuid.uuid4())}
    response = await client.post(
        PUSH,
        json={"to": user(1), "messages": texts("お知らせ", "二通目")},
        headers={**AUTH, "X-Line-Retry-Key": keys["push"]},
    )
    assert response.status == 200
    response = await client.post(
        MULTICAST,
        json={"to": [user(2), user(3), user(4)], "messages": texts("一斉")},
        headers={**AUTH, "X-Line-Retry-Key": keys["multicast"]},
    )
    assert response.status == 200
    response = await client.post(
        PUSH, json={"to": "Unot-a-user", "messages": texts("x")}, headers=AUTH
    )
    assert response.status == 400
    response = await client.get("/v2/bot/message/quota", headers=AUTH)
    assert response.status == 200
    return keys


async def test_compact_entries_hold_only_what_a_load_test_counts(emulator: Any) -> None:
    keys = await send(emulator)
    answer = await log(emulator, "?compact=1")
    assert answer["last_seq"] == 4
    entries = answer["requests"]
    assert all(set(entry) == COMPACT_KEYS for entry in entries)
    assert entries == [
        {
            "seq": 1,
            "path": PUSH,
            "status": 200,
            "retry_key": keys["push"],
            "to": user(1),
            "messages": 2,
        },
        {
            "seq": 2,
            "path": MULTICAST,
            "status": 200,
            "retry_key": keys["multicast"],
            "to": [user(2), user(3), user(4)],
            "messages": 1,
        },
        {
            "seq": 3,
            "path": PUSH,
            "status": 400,
            "retry_key": None,
            "to": "Unot-a-user",
            "messages": 1,
        },
        {
            "seq": 4,
            "path": "/v2/bot/message/quota",
            "status": 200,
            "retry_key": None,
            "to": None,
            "messages": 0,
        },
    ]


async def test_compact_still_filters_by_path_status_and_since(emulator: Any) -> None:
    keys = await send(emulator)
    pushes = (await log(emulator, f"?compact=1&path={PUSH}"))["requests"]
    assert [(e["seq"], e["status"]) for e in pushes] == [(1, 200), (3, 400)]
    accepted = (await log(emulator, f"?compact=true&path={PUSH}&status=200"))["requests"]
    assert [(e["seq"], e["retry_key"]) for e in accepted] == [(1, keys["push"])]
    later = (await log(emulator, "?compact=1&since=2"))["requests"]
    assert [e["seq"] for e in later] == [3, 4]
    assert all(set(entry) == COMPACT_KEYS for entry in [*pushes, *accepted, *later])


async def test_without_compact_the_full_entry_keeps_body_and_headers(emulator: Any) -> None:
    keys = await send(emulator)
    for query in ("", "?compact=0"):
        entries = (await log(emulator, query))["requests"]
        assert [e["seq"] for e in entries] == [1, 2, 3, 4]
        first = entries[0]
        assert first["body"] == {"to": user(1), "messages": texts("お知らせ", "二通目")}
        assert first["headers"]["X-Line-Retry-Key"] == keys["push"]
        assert first["headers"]["Authorization"] == "<redacted>"
        assert first["method"] == "POST" and first["status"] == 200
        assert entries[1]["body"]["to"] == [user(2), user(3), user(4)]


async def test_a_body_that_is_not_json_still_has_a_compact_entry(emulator: Any) -> None:
    response = await emulator.post(
        PUSH,
        data=b"{not json",
        headers={**AUTH, "Content-Type": "application/json", "X-Line-Retry-Key": "k-1"},
    )
    assert response.status == 400
    [entry] = (await log(emulator, "?compact=1"))["requests"]
    assert entry == {
        "seq": 1,
        "path": PUSH,
        "status": 400,
        "retry_key": "k-1",
        "to": None,
        "messages": 0,
    }
