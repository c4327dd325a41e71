"""Review: the public odds route answers 422, not 500, for a facility id no database holds."""

from __future__ import annotations

from typing import Any

from tests.integrations.daycare.test_daycare_rounds_api import _facts, _round


async def test_odds_refuses_out_of_range_facility_ids(client: Any, sessions: Any) -> None:
    setup = await _round(sessions, {"A": 1})
    url = f"/api/v1/daycare/rounds/{setup['round'].id}/odds"
    facts = _facts().model_dump(mode="json")
    for wish in (2**70, 2**31, 0):
        response = await client.post(url, json={"class_age": 1, "wishes": [wish], "facts": facts})
        assert response.status == 422, await response.text()
        body = await response.json()
        assert body["error"]["details"][0]["location"].startswith("body.wishes")
