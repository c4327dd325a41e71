"""Review: a staff correction that says two children of a family apply together puts them in
one sibling group, so the allocation honours it (as a submission saying so would)."""

from __future__ import annotations

from datetime import date
from typing import Any

from integrations.daycare import applications as apps
from registry.db import transaction
from registry.models import Family
from tests.integrations.daycare.daycare_factories import insert
from tests.integrations.daycare.test_daycare_rounds_api import MUNI, NOW, _apply, _facts, _round


async def test_corrected_sibling_mode_is_allocated_together(
    client: Any, sessions: Any, make_key: Any
) -> None:
    setup = await _round(sessions, {"A": 1})
    (family,) = await insert(sessions, Family(state="active", municipality=MUNI))
    ids = []
    for child_id in (1, 2):
        async with transaction(sessions) as session:
            row, _ = await apps.submit(
                session,
                round_=setup["round"],
                family_id=family.id,
                child_id=child_id,
                birth_date=date(2025, 6, 10),
                wishes=[setup["facilities"]["A"].id],
                facts=_facts((40, 40)),  # 20 points each
                now=NOW,
                channel="api",
            )
            ids.append(row.id)
    other = await _apply(sessions, setup, ["A"], _facts((30, 30)))  # 16 points
    headers = await make_key(MUNI)
    for application_id in ids:
        response = await client.post(
            f"/api/v1/daycare/applications/{application_id}/corrections",
            json={
                "changes": {"siblings_applying": 1, "sibling_mode": "both_or_neither"},
                "reason": "申込書の記載漏れ（きょうだい同時申込）",
            },
            headers=headers,
        )
        assert response.status == 200, await response.text()

    dry = await client.post(
        f"/api/v1/daycare/rounds/{setup['round'].id}/allocate", json={}, headers=headers
    )
    assert dry.status == 200, await dry.text()
    placed = {r["application_id"]: r["facility"] for r in (await dry.json())["results"]}
    # One place, two siblings who want both or neither: neither, and the next family gets it.
    assert placed == {ids[0]: None, ids[1]: None, other: "A"}
