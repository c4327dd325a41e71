"""Past results in: Minato's minimum points and Taito's first-round table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from integrations.daycare.facilities import derived_facility_id, facilities_by_id, past_results
from integrations.importers.facilities import import_facilities
from integrations.importers.results import import_results, result_cell
from integrations.importers.tabular import DataFileError
from tests.conftest import shared_path

MINATO, TAITO = "131032", "131067"


async def results_of(sessions: Any, code: str, name: str) -> dict[int, tuple[str, float | None]]:
    async with sessions() as session:
        row = (await facilities_by_id(session, code))[derived_facility_id(name)]
        return {r.class_age: (r.outcome, r.points) for r in await past_results(session, row.id)}


async def test_minato_minimum_points_beside_minato_facilities(sessions: Any) -> None:
    facilities = shared_path("data", "facilities", "minato_hoikuen.csv")
    points = shared_path("data", "facilities", "minato_min_points_2021.csv")
    await import_facilities([facilities], sessions, municipality=MINATO)
    report = await import_results([points], sessions, municipality=MINATO)
    assert report.rows == 106 and report.rejected == []  # the footer is no facility
    assert report.unmatched == []  # every name is a facility of Minato's list
    assert await results_of(sessions, MINATO, "芝公園保育園") == {
        0: ("points", 40.0),
        1: ("points", 41.0),
        2: ("points", 40.0),
        3: ("points", 38.0),
        4: ("no_class", None),  # ―
        5: ("at_most", 22.0),  # 22以下
    }
    assert (await results_of(sessions, MINATO, "太陽の子三田保育園"))[2] == ("withheld", None)
    async with sessions() as session:
        row = (await facilities_by_id(session, MINATO))[derived_facility_id("芝保育園")]
        assert {(r.year, r.kind) for r in await past_results(session, row.id)} == {
            (2021, "min_points")
        }
    again = await import_results([points], sessions, municipality=MINATO)
    assert again.created == 0 and again.unchanged == report.created


async def test_taito_first_round_unmatched_then_created(sessions: Any) -> None:
    path = shared_path("data", "facilities", "taito_results_2022.csv")
    report = await import_results([path], sessions, municipality=TAITO)
    assert report.created == 0 and len(report.unmatched) == report.rows == 74
    assert report.all_skipped == ["taito_results_2022.csv"]  # the CLI exits 1
    assert "no row of taito_results_2022.csv was saved" in report.render()
    assert ("taito_results_2022.csv:2", "AIAI NURSERY 浅草") in report.unmatched
    created = await import_results([path], sessions, municipality=TAITO, create_missing=True)
    assert created.facilities_created == 74
    # Those created are told as created, not as "no facility named".
    assert created.unmatched == [] and len(created.added) == 74
    told = created.render()
    assert "no facility named" not in told and "0 facilities not found, 74 created" in told
    assert "created facility AIAI NURSERY 浅草 (taito_results_2022.csv:2" in told
    assert await results_of(sessions, TAITO, "AIAI NURSERY 浅草") == {
        0: ("points", 48.0),
        1: ("points", 50.0),
        2: ("points", 46.0),
        3: ("withheld", None),
        4: ("vacant", None),
        5: ("vacant", None),
    }
    async with sessions() as session:
        row = (await facilities_by_id(session, TAITO))[derived_facility_id("KAYOこども室")]
    assert not row.located and row.source == "results" and row.classes == [0]
    async with sessions() as session:
        assert {r.year for r in await past_results(session, row.id)} == {2022}
        assert {r.kind for r in await past_results(session, row.id)} == {"first_round"}


async def test_year_needed_and_bad_cells_reported(sessions: Any, tmp_path: Path) -> None:
    nameless = tmp_path / "points.csv"
    nameless.write_text("保育園名,0歳,1歳\nA園,30,31\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="--year"):
        await import_results([nameless], sessions, municipality=MINATO)
    odd = tmp_path / "points_2024.csv"
    odd.write_text("保育園名,0歳,1歳\nA園,30,たくさん\n", encoding="utf-8")
    report = await import_results([odd], sessions, municipality=MINATO, create_missing=True)
    assert report.rejected[0][0] == "points_2024.csv:2" and "たくさん" in report.rejected[0][1]


def test_cells() -> None:
    assert result_cell("22以下") == ("at_most", 22.0)
    assert result_cell("―") == ("no_class", None)
    assert result_cell("非公開") == ("withheld", None)
    assert result_cell("空有") == ("vacant", None)
    assert result_cell("") is None
