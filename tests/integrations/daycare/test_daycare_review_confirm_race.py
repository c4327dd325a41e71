"""Review: two confirmations of one round at once decide it once (the second is a 409), so the
places are taken from the vacancies once and each decision is audited once."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import col, select

from integrations.daycare.models import ApplicationAudit, Vacancy
from tests.integrations.daycare.test_daycare_rounds_api import MUNI, _apply, _facts, _round


async def test_concurrent_confirmations_decide_once(
    client: Any, sessions: Any, make_key: Any
) -> None:
    setup = await _round(sessions, {"A": 5})
    await _apply(sessions, setup, ["A"], _facts((40, 40)))
    await _apply(sessions, setup, ["A"], _facts(single=True))
    headers = await make_key(MUNI)
    url = f"/api/v1/daycare/rounds/{setup['round'].id}"
    dry = await (await client.post(f"{url}/allocate", json={}, headers=headers)).json()
    await client.patch(url, json={"status": "closed"}, headers=headers)

    answers = await asyncio.gather(
        *(
            client.post(f"{url}/confirm", json={"input_hash": dry["input_hash"]}, headers=headers)
            for _ in range(3)
        )
    )
    assert sorted(a.status for a in answers) == [200, 409, 409], [await a.text() for a in answers]
    async with sessions() as session:
        (vacancy,) = (await session.exec(select(Vacancy))).all()
        decided = (
            await session.exec(
                select(ApplicationAudit).where(col(ApplicationAudit.action) == "decided")
            )
        ).all()
    assert vacancy.places == 3  # 5 places, 2 given once
    assert len(decided) == 2
