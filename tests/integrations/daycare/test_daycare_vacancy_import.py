"""Vacancy lists in (空き状況): Shift-JIS, CRLF, a title row with the as-of date, marks."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from integrations.daycare.facilities import (
    FacilityIn,
    current_vacancies,
    facilities_by_id,
    upsert_facility,
)
from integrations.importers.tabular import DataFileError
from integrations.importers.vacancies import import_vacancies, vacancy_cell
from registry.db import transaction

SHIBUYA = "131130"


async def arrange(sessions: Any) -> dict[str, int]:
    names = {"1": "あおぞら保育園", "2": "ひまわり 保育園", "3": "さくら保育園"}
    async with transaction(sessions) as session:
        for facility_id, name in names.items():
            await upsert_facility(
                session,
                SHIBUYA,
                facility_id,
                FacilityIn(name_ja=name, classes=[0, 1, 2, 3, 4, 5]),
            )
        rows = await facilities_by_id(session, SHIBUYA)
    return {name: rows[fid].id for fid, name in names.items()}  # type: ignore[misc]


def sjis_file(path: Path, lines: list[str]) -> Path:
    path.write_bytes("\r\n".join(lines).encode("cp932") + b"\r\n")
    return path


async def places(sessions: Any, pk: int) -> dict[int, tuple[str, int | None, date, date | None]]:
    async with sessions() as session:
        rows = await current_vacancies(session, pk)
    return {r.class_age: (r.level, r.places, r.entry_month, r.as_of) for r in rows}


async def test_title_row_as_of_date_shift_jis_crlf_and_marks(
    sessions: Any, tmp_path: Path
) -> None:
    ids = await arrange(sessions)
    path = sjis_file(
        tmp_path / "aki.csv",
        [
            "渋谷区 保育施設空き状況",
            "【令和7年9月1日時点】,,,,,,",
            "施設名,０歳児,１歳児,２歳児,３歳児,４歳児,５歳児",
            "あおぞら保育園,3,0,-,○,×,",
            "ひまわり保育園,有,無,△,1,２,-",  # the file writes no space in the name
            "つばめ保育園,1,1,1,1,1,1",
        ],
    )
    report = await import_vacancies([path], sessions, municipality=SHIBUYA, today=date(2025, 9, 1))
    october = date(2025, 10, 1)  # as of 1 September: places for entry in October
    as_of = date(2025, 9, 1)
    assert await places(sessions, ids["あおぞら保育園"]) == {
        0: ("number", 3, october, as_of),
        1: ("number", 0, october, as_of),
        3: ("some", None, october, as_of),
        4: ("none", None, october, as_of),
    }  # "-": no such class, blank: unknown — nothing recorded
    assert await places(sessions, ids["ひまわり 保育園"]) == {
        0: ("some", None, october, as_of),
        1: ("none", None, october, as_of),
        2: ("some", None, october, as_of),
        3: ("number", 1, october, as_of),
        4: ("number", 2, october, as_of),
    }
    assert report.rejected == [("aki.csv:6", f"no facility named つばめ保育園 in {SHIBUYA}")]
    opened = {(s.facility_pk, s.class_age) for s in report.opened}
    assert opened == {
        (ids["あおぞら保育園"], 0),
        (ids["あおぞら保育園"], 3),
        (ids["ひまわり 保育園"], 0),
        (ids["ひまわり 保育園"], 2),
        (ids["ひまわり 保育園"], 3),
        (ids["ひまわり 保育園"], 4),
    }
    assert "as of 2025-09-01; entry in 2025-10" in report.render()


async def test_only_new_places_count_as_opened_and_month_overrides(
    sessions: Any, tmp_path: Path
) -> None:
    ids = await arrange(sessions)
    header = "NO,施設名,0歳児,1歳児,2歳児,3歳児,4歳児,5歳児"
    first = sjis_file(tmp_path / "a.csv", [header, "3,さくら保育園,0,2,×,-,-,-"])
    report = await import_vacancies(
        [first], sessions, municipality=SHIBUYA, month=date(2026, 4, 1), today=date(2026, 3, 1)
    )
    assert {s.class_age for s in report.opened} == {1}
    second = sjis_file(tmp_path / "b.csv", [header, "3,さくら保育園,1,3,×,-,-,-"])
    report = await import_vacancies(
        [second], sessions, municipality=SHIBUYA, month=date(2026, 4, 1), today=date(2026, 3, 1)
    )
    assert [(s.facility_pk, s.class_age, s.entry_month) for s in report.opened] == [
        (ids["さくら保育園"], 0, date(2026, 4, 1))  # 0 → 1; class 1 had places already
    ]


async def test_unreadable_vacancy_files(sessions: Any, tmp_path: Path) -> None:
    await arrange(sessions)
    undated = sjis_file(tmp_path / "u.csv", ["施設名,0歳児,1歳児", "さくら保育園,1,1"])
    with pytest.raises(DataFileError, match="--month"):
        await import_vacancies([undated], sessions, municipality=SHIBUYA)
    with pytest.raises(DataFileError, match="--municipality"):
        await import_vacancies([undated], sessions, month=date(2026, 4, 1))
    odd = sjis_file(
        tmp_path / "o.csv", ["【2026年3月1日現在】", "施設名,0歳児,1歳児", "さくら保育園,たぶん,1"]
    )
    report = await import_vacancies([odd], sessions, municipality=SHIBUYA, today=date(2026, 3, 1))
    assert report.rejected[0][0] == "o.csv:3" and "たぶん" in report.rejected[0][1]


def test_cells() -> None:
    assert vacancy_cell("３") == ("number", 3)
    assert vacancy_cell("－") == ("no_class", None)
    assert vacancy_cell("◯") == ("some", None)
    assert vacancy_cell("×") == ("none", None)
    assert vacancy_cell(" ") is None


@pytest.mark.parametrize(
    ("title", "as_of", "entry"),
    [
        ("【令和7年9月1日時点】", date(2025, 9, 1), date(2025, 10, 1)),
        ("平成31年4月1日現在の空き状況", date(2019, 4, 1), date(2019, 5, 1)),
        ("空き状況（令和元年12月1日現在）", date(2019, 12, 1), date(2020, 1, 1)),
        ("2026年3月1日時点", date(2026, 3, 1), date(2026, 4, 1)),
        ("更新日: 2026/12/01", date(2026, 12, 1), date(2027, 1, 1)),
    ],
)
async def test_as_of_dates_in_the_title(
    sessions: Any, tmp_path: Path, title: str, as_of: date, entry: date
) -> None:
    ids = await arrange(sessions)
    path = tmp_path / "v.csv"
    path.write_text(f"{title}\n施設名,0歳児,1歳児\nさくら保育園,1,2\n", encoding="utf-8-sig")
    report = await import_vacancies([path], sessions, municipality=SHIBUYA, today=as_of)
    assert report.months == [("v.csv", as_of, entry)]
    assert (await places(sessions, ids["さくら保育園"]))[1][3] == as_of


async def test_a_row_number_is_no_facility_id_and_an_id_must_agree_with_the_name(
    sessions: Any, tmp_path: Path
) -> None:
    ids = await arrange(sessions)  # facility 1 is あおぞら保育園, 3 is さくら保育園
    numbered = sjis_file(
        tmp_path / "n.csv",
        ["NO,施設名,0歳児,1歳児", "1,さくら保育園,2,0", "2,あおぞら保育園,0,1"],
    )
    report = await import_vacancies(
        [numbered], sessions, municipality=SHIBUYA, month=date(2027, 4, 1)
    )
    assert report.rejected == [] and report.facilities == 2
    assert (await places(sessions, ids["さくら保育園"]))[0][:2] == ("number", 2)
    assert (await places(sessions, ids["あおぞら保育園"]))[0][:2] == ("number", 0)
    by_id = sjis_file(
        tmp_path / "i.csv",
        ["施設番号,施設名,0歳児,1歳児", "3,さくら 保育園,5,5", "1,さくら保育園,9,9"],
    )
    report = await import_vacancies(
        [by_id], sessions, municipality=SHIBUYA, month=date(2027, 4, 1)
    )
    assert report.facilities == 1
    assert report.rejected == [
        (
            "i.csv:3",
            f"facility 1 of {SHIBUYA} is あおぞら保育園, not さくら保育園: check the id column",
        )
    ]
    assert (await places(sessions, ids["さくら保育園"]))[0][:2] == ("number", 5)
    assert (await places(sessions, ids["あおぞら保育園"]))[0][:2] == ("number", 0)


async def test_the_month_of_entry_of_the_title_and_past_months(
    sessions: Any, tmp_path: Path
) -> None:
    ids = await arrange(sessions)
    path = tmp_path / "v.csv"
    path.write_text(
        "令和7年10月1日入所 空き状況（令和7年9月1日時点）\n施設名,0歳児,1歳児\nさくら保育園,1,2\n",
        encoding="utf-8-sig",
    )
    report = await import_vacancies(
        [path], sessions, municipality=SHIBUYA, today=date(2025, 9, 10)
    )
    assert report.months == [("v.csv", date(2025, 9, 1), date(2025, 10, 1))]
    assert (await places(sessions, ids["さくら保育園"]))[1][2] == date(2025, 10, 1)
    # The same list read in November: October has passed, nothing is saved.
    path.write_text(path.read_text(encoding="utf-8-sig").replace(",1,2", ",0,0"), "utf-8")
    late = await import_vacancies([path], sessions, municipality=SHIBUYA, today=date(2025, 11, 2))
    assert late.cells == 0 and late.rejected == [
        ("v.csv", "1 rows skipped: month of entry 2025-10 has passed; pass --month")
    ]
    assert "has passed" in late.render()
    assert (await places(sessions, ids["さくら保育園"]))[1][1] == 2


async def test_a_class_the_facility_does_not_offer_is_refused(
    sessions: Any, tmp_path: Path
) -> None:
    async with transaction(sessions) as session:
        row, _ = await upsert_facility(
            session, SHIBUYA, "9", FacilityIn(name_ja="つくし保育園", classes=[1, 2])
        )
        pk = row.id
    path = sjis_file(tmp_path / "c.csv", ["施設名,0歳児,1歳児,2歳児", "つくし保育園,3,1,0"])
    report = await import_vacancies(
        [path], sessions, municipality=SHIBUYA, month=date(2027, 4, 1), today=date(2026, 12, 1)
    )
    assert report.rejected == [
        ("c.csv:2", "0歳児 not saved: つくし保育園 has no such class (it has 1歳児, 2歳児)")
    ]
    assert report.cells == 2
    assert set(await places(sessions, pk)) == {1, 2}


async def test_the_same_list_again_is_unchanged(sessions: Any, tmp_path: Path) -> None:
    await arrange(sessions)
    path = sjis_file(
        tmp_path / "a.csv",
        ["施設名,0歳児,1歳児,2歳児", "さくら保育園,1,×,○", "あおぞら保育園,0,2,-"],
    )
    first = await import_vacancies(
        [path], sessions, municipality=SHIBUYA, month=date(2027, 4, 1), today=date(2026, 12, 1)
    )
    assert (first.cells, first.unchanged) == (5, 0)
    again = await import_vacancies(
        [path], sessions, municipality=SHIBUYA, month=date(2027, 4, 1), today=date(2026, 12, 1)
    )
    assert (again.cells, again.unchanged, again.opened) == (5, 5, [])
    assert "0 cells saved, 5 unchanged" in again.render()
