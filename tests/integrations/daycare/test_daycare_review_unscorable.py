"""Review: rules whose condition cannot be evaluated for some household (a division by zero the
uploaded examples never reached) give a clear 422 on allocation and odds, and no estimate in
LINE, never a 500 or a crash."""

from __future__ import annotations

from datetime import date
from typing import Any

from bot.handlers.applications import estimate_points
from integrations.daycare.points import save_rules
from registry.db import transaction
from rules.points import PointsDocument
from tests.integrations.daycare.test_daycare_rounds_api import MUNI, RULES, _apply, _facts, _round

BROKEN = PointsDocument.model_validate(
    {
        **RULES.model_dump(mode="json"),
        "adjustments": [
            {
                "id": "odd",
                "label_ja": "調整",
                "label_en": "Adjustment",
                "points": 1,
                "condition": "1 / (min_hours - 37) > 0",
            }
        ],
    }
)


async def test_unscorable_household_is_a_422_not_a_500(
    client: Any, sessions: Any, make_key: Any
) -> None:
    setup = await _round(sessions, {"A": 1}, rules=False)
    async with transaction(sessions) as session:
        await save_rules(session, BROKEN, "test")
    await _apply(sessions, setup, ["A"], _facts((40, 40)))
    odd = await _apply(sessions, setup, ["A"], _facts((37, 40)))
    headers = await make_key(MUNI)
    url = f"/api/v1/daycare/rounds/{setup['round'].id}"

    dry = await client.post(f"{url}/allocate", json={}, headers=headers)
    assert dry.status == 422, await dry.text()
    error = (await dry.json())["error"]
    assert error["code"] == "invalid_applications"
    assert error["details"][0]["location"] == f"applications[{odd}].facts"

    facts = _facts((37, 40)).model_dump(mode="json")
    wish = setup["facilities"]["A"].id
    odds = await client.post(
        f"{url}/odds", json={"class_age": 1, "wishes": [wish], "facts": facts}
    )
    assert 400 <= odds.status < 500, await odds.text()

    async with sessions() as session:
        assert (
            await estimate_points(session, MUNI, date(2027, 4, 1), _facts((37, 40)), "ja") is None
        )
