"""The demo's intake rounds: one open round for next April per demo city, never twice."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlmodel import select

from hagukumi.demo import load_demo, load_demo_rounds
from integrations.daycare import applications as apps
from integrations.daycare.models import IntakeRound
from tests.conftest import TODAY

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # noon in Tokyo


async def test_one_open_round_for_next_april_and_a_restart_adds_none(
    sessions: Any, tmp_path: Any
) -> None:
    quiet = {"key_file": tmp_path / "key.txt", "registry_dir": None, "progress": lambda _: None}
    assert await load_demo(sessions, **quiet, today=TODAY, now=NOW)
    assert not await load_demo(sessions, **quiet, today=TODAY, now=NOW)
    assert await load_demo_rounds(sessions, now=NOW, progress=lambda _: None) == 0
    async with sessions() as session:
        seeds = [r.seed for r in (await session.exec(select(IntakeRound))).all()]
    assert all(len(seed) == 32 for seed in seeds)  # a published lottery seed each
    async with sessions() as session:
        rounds = list((await session.exec(select(IntakeRound))).all())
        # Without the shared data only Hachioji's generated facilities exist.
        assert [(r.municipality, r.entry_month, r.name) for r in rounds] == [
            ("132012", date(2027, 4, 1), "令和9年4月入所 一次選考")
        ]
        assert rounds[0].deadline == datetime(2026, 12, 26, 8, 0, tzinfo=UTC)
        assert [r.id for r in await apps.open_rounds(session, "132012", NOW)] == [rounds[0].id]


async def test_the_demo_round_has_points_rules_for_its_month(sessions: Any, tmp_path: Any) -> None:
    from integrations.daycare.points import rules_for

    quiet = {"key_file": tmp_path / "key.txt", "registry_dir": None, "progress": lambda _: None}
    assert await load_demo(sessions, **quiet, today=TODAY, now=NOW)
    async with sessions() as session:
        found = await rules_for(session, "132012", date(2027, 4, 1))
    assert found is not None
    row, document = found
    assert row.created_by == "demo" and document.title.startswith("【デモ】")
    assert document.valid_from == date(2027, 4, 1)
