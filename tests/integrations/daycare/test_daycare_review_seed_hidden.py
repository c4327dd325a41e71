"""Review: a round's lottery seed is not shown to the public before the deadline. Draws are
sha256(seed + application id) and ids are sequential: with the seed known early, an app could
time a submission to take an id with a good draw. The municipality sees it; everyone after."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from integrations.daycare.models import IntakeRound
from registry.db import transaction
from tests.integrations.daycare.test_daycare_applications_api import (
    CHIYODA,
    NOW,
    SHIBUYA,
    _round,
)


async def test_seed_is_public_only_after_the_deadline(
    client: Any, sessions: Any, make_key: Any
) -> None:
    own = await make_key(CHIYODA)
    created = await _round(client, own, seed="secret-until-deadline")
    assert created["seed"] == "secret-until-deadline"  # the municipality that made it
    path = f"/api/v1/daycare/rounds/{created['id']}"
    other = await make_key(SHIBUYA)
    for headers in ({}, other):
        one = await (await client.get(path, headers=headers)).json()
        listed = await (
            await client.get(
                "/api/v1/daycare/rounds", params={"municipality": CHIYODA}, headers=headers
            )
        ).json()
        assert one["seed"] is None and listed["items"][0]["seed"] is None
    assert (await (await client.get(path, headers=own)).json())["seed"] == created["seed"]

    async with transaction(sessions) as session:
        await session.exec(
            update(IntakeRound)  # type: ignore[call-overload]
            .where(IntakeRound.id == created["id"])
            .values(deadline=NOW.replace(year=NOW.year - 1))
        )
    assert (await (await client.get(path)).json())["seed"] == "secret-until-deadline"
