"""Review: a deeply nested YAML upload is a 400, not a 500 (PyYAML recurses per level)."""

from __future__ import annotations

from typing import Any

from tests.integrations.daycare.test_points_api import HACHIOJI, RULES


async def test_deeply_nested_yaml_is_malformed_not_a_crash(client: Any, make_key: Any) -> None:
    headers = {**(await make_key(HACHIOJI)), "Content-Type": "text/yaml"}
    for body in ("[" * 50_000 + "]" * 50_000, "a: " + "{b: " * 20_000 + "1" + "}" * 20_000):
        response = await client.post(RULES, data=body.encode(), headers=headers)
        assert response.status == 400, await response.text()
        assert (await response.json())["error"]["code"] == "malformed_yaml"
