"""A facility list's value that cannot be read is flagged with what it says, never guessed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from integrations.daycare.facilities import facilities_by_id
from integrations.importers.facilities import import_facilities
from integrations.importers.report import REASONS, reason_code, reason_words
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


def test_each_reason_has_a_code_its_parameters_and_japanese_words() -> None:
    assert reason_code("no facility id (NO)") == ("no_id", {"column": "NO"})
    assert reason_code("the row is of 131016, not of --municipality 132012") == (
        "other_municipality",
        {"code": "131016", "own": "132012"},
    )
    binary = "b.csv: not a text file (binary content; an Excel book?)"
    assert reason_code(binary) == ("binary", {"file": "b.csv"})
    assert reason_words(binary, "ja").startswith("b.csv: 文字のファイルではありません")
    assert "Save it as CSV" in reason_words(binary, "en")
    assert reason_words("no facility id (NO)", "en") == "no facility id (NO)"  # as the CLI says
    assert reason_words("something new", "ja") == "something new"
    two = (
        "1歳児: not a number of places, -, ○/△/× or 有/無: 'abc'; "
        "2歳児: 5000 places is not believable"
    )
    assert reason_words(two, "ja") == (
        "1歳児: 'abc' は空きの数・-・○/△/×・有/無 のどれでもありません（この行は取り込みません）; "
        "2歳児: 空き 5000 は多すぎます（この行は取り込みません）"
    )
    for code, pattern, ja, _ in REASONS:
        assert "{" not in ja or all(f"(?P<{name}>" in pattern for name in _names(ja)), code


def _names(template: str) -> list[str]:
    return [part.split("}")[0] for part in template.split("{")[1:]]
