"""Review: two uploads of a municipality's points rules at once are never a 500: one is stored,
the other is stored after it or told to retry (409)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.integrations.daycare.test_points_api import HACHIOJI, RULES, hachioji_yaml


async def test_concurrent_rule_uploads_are_not_a_server_error(client: Any, make_key: Any) -> None:
    headers = {**(await make_key(HACHIOJI)), "Content-Type": "text/yaml"}
    bodies = [hachioji_yaml(), hachioji_yaml().replace("title: ", "title: 改定 ", 1)]
    answers = await asyncio.gather(
        *(client.post(RULES, data=b.encode(), headers=headers) for b in bodies * 2)
    )
    statuses = [a.status for a in answers]
    assert all(s in (200, 201, 409) for s in statuses), [await a.text() for a in answers]
    assert 201 in statuses
    for answer in answers:
        if answer.status == 409:
            assert (await answer.json())["error"]["code"] == "conflict"
    listed = await (await client.get(RULES, params={"municipality": HACHIOJI})).json()
    versions = [item["version"] for item in listed["items"]]
    assert sorted(versions) == list(range(1, len(versions) + 1))
