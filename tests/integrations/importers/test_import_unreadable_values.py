"""A facility list's value that cannot be read is flagged with what it says, never guessed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from integrations.daycare.facilities import facilities_by_id
from integrations.importers.facilities import import_facilities
from tests.integrations.daycare.test_daycare_facility_import import HEADER, ROWS


async def test_unreadable_capacity_and_times_are_flagged_and_left_as_they_were(
    sessions: Any, tmp_path: Path
) -> None:
    path = tmp_path / "shibuya.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    first = await import_facilities([path], sessions)
    assert first.created == 3 and first.unreadable == []
    bad = ROWS[0].replace(",60,", ",abc,").replace(",7:30,18:30,", ",25:99,18:30,")
    path.write_text("\n".join([HEADER, bad, *ROWS[1:]]) + "\n", encoding="utf-8")
    report = await import_facilities([path], sessions)
    assert report.unreadable == [
        ("shibuya.csv:2", "収容定員", "abc"),
        ("shibuya.csv:2", "開始時間", "25:99"),
    ]
    assert report.rejected == [("shibuya.csv:4", "'131131' is not a local government code")]
    text = report.render()
    assert "warning: shibuya.csv:2 収容定員 'abc' unreadable: left as it was" in text
    assert "warning: shibuya.csv:2 開始時間 '25:99' unreadable: left as it was" in text
    async with sessions() as session:
        row = (await facilities_by_id(session, "131130"))["1"]
    assert row.capacity == 60 and row.body["opens"] == "07:30"  # kept, not guessed


async def test_a_new_facility_with_an_unreadable_value_is_saved_without_it(
    sessions: Any, tmp_path: Path
) -> None:
    path = tmp_path / "new.csv"
    bad = (
        ROWS[0]
        .replace(",60,", ",六十,")
        .replace(",18:30,", ",夕方,")
        .replace("2019-04-01", "いつか")
    )
    path.write_text(HEADER + "\n" + bad + "\n", encoding="utf-8")
    report = await import_facilities([path], sessions)
    assert report.created == 1
    assert [(column, raw) for _, column, raw in report.unreadable] == [
        ("認可等年月日", "いつか"),
        ("収容定員", "六十"),
        ("終了時間", "夕方"),
    ]
    async with sessions() as session:
        row = (await facilities_by_id(session, "131130"))["1"]
    assert row.capacity is None and row.body["closes"] is None
