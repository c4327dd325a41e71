"""Places that open through the real doors (the vacancies API, `hagukumi import-vacancies`)
reach the families that saved the facility for a child of that class: once each."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from hagukumi.cli import main
from integrations.daycare.models import Facility, SavedFacility
from integrations.daycare.notices import SEAT_OPENED
from notifier.models import Notice
from registry.db import transaction
from registry.models import Child, Family

SHIBUYA = "131130"


def next_april() -> date:
    today = datetime.now(UTC).date()
    return date(today.year + 1 if today.month >= 4 else today.year, 4, 1)


async def saved_by_a_family(sessions: Any, *, birth: date) -> tuple[int, int]:
    """A facility with a 0-year class saved by a family whose child enters that class."""
    async with transaction(sessions) as session:
        facility = Facility(
            municipality=SHIBUYA,
            facility_id="701",
            name_ja="はぐくみ渋谷保育園",
            latitude=35.66,
            longitude=139.70,
            classes=[0, 1, 2],
        )
        family = Family(
            line_user_id="U" + "7" * 32, state="active", municipality=SHIBUYA, language="ja"
        )
        session.add(facility)
        session.add(family)
        await session.flush()
        assert family.id is not None and facility.id is not None
        child = Child(family_id=family.id, birth_date=birth)
        session.add(child)
        await session.flush()
        session.add(
            SavedFacility(
                family_id=family.id,
                facility_pk=facility.id,
                child_id=child.id,
                entry_month=next_april(),
            )
        )
        return facility.id, family.id


async def seat_notices(sessions: Any) -> list[Notice]:
    async with transaction(sessions) as session:
        found = await session.exec(select(Notice).where(Notice.kind == SEAT_OPENED))
        return list(found.all())


async def test_vacancies_api_tells_the_saving_family_once(
    client: Any, sessions: Any, make_key: Any
) -> None:
    april = next_april()
    pk, family_id = await saved_by_a_family(sessions, birth=date(april.year - 1, 6, 1))
    headers = await make_key(SHIBUYA)
    month = april.strftime("%Y-%m")
    full = {"items": [{"class_age": 0, "entry_month": month, "places": 0}]}
    assert (
        await client.put(f"/api/v1/facilities/{pk}/vacancies", json=full, headers=headers)
    ).status == 200
    assert await seat_notices(sessions) == []

    opened = {"items": [{"class_age": 0, "entry_month": month, "places": 2}]}
    answer = await client.put(f"/api/v1/facilities/{pk}/vacancies", json=opened, headers=headers)
    assert answer.status == 200
    assert (await answer.json())["opened"] == [{"class_age": 0, "entry_month": month}]
    notices = await seat_notices(sessions)
    assert [(n.family_id, n.subject, n.cycle) for n in notices] == [
        (family_id, f"seat:{pk}:0", month)
    ]

    # Full again, then open again in the same month: the family was told already.
    await client.put(f"/api/v1/facilities/{pk}/vacancies", json=full, headers=headers)
    await client.put(f"/api/v1/facilities/{pk}/vacancies", json=opened, headers=headers)
    assert len(await seat_notices(sessions)) == 1


async def test_import_vacancies_tells_the_saving_family(
    database_url: str,
    redis_url: str,
    sessions: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    april = next_april()
    pk, family_id = await saved_by_a_family(sessions, birth=date(april.year - 1, 6, 1))
    monkeypatch.setenv("HAGUKUMI_DATABASE_URL", database_url)
    monkeypatch.setenv("HAGUKUMI_REDIS_URL", redis_url)
    title = "【令和7年9月1日時点】\r\n"
    table = "施設番号,施設名,０歳児,１歳児,２歳児,３歳児,４歳児,５歳児\r\n"
    row = "701,はぐくみ渋谷保育園,3,0,-,-,-,-\r\n"
    path = tmp_path / "vacancies.csv"
    path.write_bytes((title + table + row).encode("cp932"))

    import asyncio

    def run() -> int:
        return main(
            [
                "import-vacancies",
                str(path),
                "--municipality",
                SHIBUYA,
                "--month",
                april.strftime("%Y-%m"),
            ]
        )

    code = await asyncio.to_thread(run)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "1 family notice" in out
    notices = await seat_notices(sessions)
    assert [(n.family_id, n.subject) for n in notices] == [(family_id, f"seat:{pk}:0")]
