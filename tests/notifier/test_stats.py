"""Delivery statistics: counts by Tokyo day, subject, channel and status, scoped by the key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from notifier.models import Notice
from registry.db import transaction

# (issuer, subject, channel, status, created_at UTC); TODAY is 2026-11-26.
from registry.models import Family

# (issuer, subject, channel, status, created_at UTC); TODAY is 2026-11-26.
NOTICES = [
    ("131130", "program:1", "line", "sent", datetime(2026, 11, 25, 16, 0, tzinfo=UTC)),  # 11-26
    ("131130", "program:1", "line", "sent", datetime(2026, 11, 26, 1, 0, tzinfo=UTC)),
    ("131130", "program:1", "line", "failed", datetime(2026, 11, 26, 2, 0, tzinfo=UTC)),
    ("131130", "broadcast:7", "app", "pending", datetime(2026, 11, 25, 14, 0, tzinfo=UTC)),
    ("132012", "program:2", "line", "sent", datetime(2026, 11, 20, 3, 0, tzinfo=UTC)),
    ("130001", "program:3", "line", "suppressed", datetime(2026, 11, 21, 3, 0, tzinfo=UTC)),
    ("131130", "program:1", "line", "sent", datetime(2026, 10, 1, 3, 0, tzinfo=UTC)),  # old
]


async def add_notices(sessions: Any) -> None:
    async with transaction(sessions) as session:
        for index, (issuer, subject, channel, status, created) in enumerate(NOTICES):
            family = Family(line_user_id=f"U{index:032x}", state="active", municipality=issuer)
            session.add(family)
            await session.flush()
            assert family.id is not None
            session.add(
                Notice(
                    family_id=family.id,
                    subject=subject,
                    kind="eligible",
                    cycle="2026",
                    issuer=issuer,
                    channel=channel,
                    status=status,
                    created_at=created,
                )
            )


async def stats(client: Any, headers: dict[str, str], **query: str) -> Any:
    response = await client.get("/api/v1/stats/deliveries", params=query, headers=headers)
    assert response.status == 200, await response.text()
    return await response.json()


def rows(answer: dict[str, Any]) -> list[tuple[str, str, str, str, int]]:
    return [
        (i["day"], i["subject"], i["channel"], i["status"], i["count"]) for i in answer["items"]
    ]


async def test_stats_need_a_key(client: Any) -> None:
    response = await client.get("/api/v1/stats/deliveries")
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "unauthorized"


async def test_a_municipality_sees_its_own_counts_by_tokyo_day_and_status(
    client: Any, make_key: Any, sessions: Any
) -> None:
    await add_notices(sessions)
    answer = await stats(client, await make_key("131130"))
    assert rows(answer) == [
        ("2026-11-25", "broadcast:7", "app", "pending", 1),
        ("2026-11-26", "program:1", "line", "failed", 1),
        ("2026-11-26", "program:1", "line", "sent", 2),
    ]
    assert answer["total"] == 4
    assert "family" not in str(answer)


async def test_wider_keys_see_more(client: Any, make_key: Any, sessions: Any) -> None:
    await add_notices(sessions)
    tokyo = await stats(client, await make_key("130001", "prefecture"))
    assert tokyo["total"] == 6
    assert {i["subject"] for i in tokyo["items"]} == {
        "program:1",
        "program:2",
        "program:3",
        "broadcast:7",
    }
    operator = await make_key("000000", "operator")
    assert (await stats(client, operator))["total"] == 6
    everything = await stats(client, operator, since="2026-09-01", until="2026-11-26")
    assert everything["total"] == 7
    one_day = await stats(client, operator, since="2026-11-20", until="2026-11-20")
    assert rows(one_day) == [("2026-11-20", "program:2", "line", "sent", 1)]
    hachioji = await stats(client, await make_key("132012"))
    assert rows(hachioji) == [("2026-11-20", "program:2", "line", "sent", 1)]


@pytest.mark.parametrize(
    "query",
    [
        {"since": "2026-11-27", "until": "2026-11-26"},
        {"since": "2020-01-01", "until": "2026-11-26"},
        {"since": "not-a-date"},
        {"until": "9999-12-31"},
        {"other": "1"},
    ],
)
async def test_bad_ranges_are_422(client: Any, make_key: Any, query: dict[str, str]) -> None:
    response = await client.get(
        "/api/v1/stats/deliveries", params=query, headers=await make_key("131130")
    )
    assert response.status == 422
    assert (await response.json())["error"]["code"] == "invalid_query"
