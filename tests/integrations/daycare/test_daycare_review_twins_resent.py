"""Review: an app backend that sends twins again (new child rows) and re-submits them replaces
their applications; it does not give the same children second applications."""

from __future__ import annotations

from typing import Any

from tests.integrations.daycare.test_daycare_applications_api import (
    BORN_CLASS_1,
    CHIYODA,
    WORKING,
    _apply,
    _places,
    _round,
    _subscriber,
)


async def test_resent_twins_resubmit_without_duplicates(
    client: Any, sessions: Any, make_key: Any
) -> None:
    key = await make_key(CHIYODA)
    places = await _places(sessions, {}, {})
    round_ = await _round(client, key)
    sub = await _subscriber(client, key, BORN_CLASS_1, BORN_CLASS_1)
    await _subscriber(client, key)  # later child rows: SQLite does not reuse the twins' ids

    async def apply(child: int, wish: int) -> Any:
        return await _apply(
            client,
            key,
            round_id=round_["id"],
            subscriber_id=sub,
            child=child,
            wishes=[places[wish].facility_id],
            facts=WORKING,
        )

    first = [await (await apply(0, 0)).json(), await (await apply(1, 1)).json()]
    twins = [{"birth_date": BORN_CLASS_1.isoformat()}] * 2
    response = await client.patch(
        f"/api/v1/app/subscribers/{sub}", json={"children": twins}, headers=key
    )
    assert response.status == 200, await response.text()

    again = [await apply(0, 1), await apply(1, 0)]
    assert [r.status for r in again] == [200, 200], [await r.text() for r in again]
    ids = sorted([(await r.json())["id"] for r in again])
    assert ids == sorted(a["id"] for a in first)
    listed = await client.get(f"/api/v1/daycare/rounds/{round_['id']}/applications", headers=key)
    assert (await listed.json())["total"] == 2
