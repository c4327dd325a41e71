"""The municipality seed: Tokyo's 62 municipalities, Tokyo itself and the nation."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from rules.lgcode import is_valid_lgcode

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "registry" / "data" / "municipalities.csv"
SHARED_CSV = ROOT.parent / "shared" / "data" / "tokyo62_localgovjp.csv"
HEADER = ["code", "name_ja", "name_en", "kana", "kind"]
SUFFIX_EN = {"ward": " Ward", "city": " City", "town": " Town", "village": " Village"}
SUFFIX_JA = {"ward": "区", "city": "市", "town": "町", "village": "村"}


def _rows() -> list[dict[str, str]]:
    with SEED.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == HEADER
        return list(reader)


ROWS = _rows()
BY_CODE = {row["code"]: row for row in ROWS}


def _reference_check_digit(five: str) -> int:
    # Written out independently of rules.lgcode: s = 6·d1 + 5·d2 + 4·d3 + 3·d4 + 2·d5.
    d = [int(c) for c in five]
    s = 6 * d[0] + 5 * d[1] + 4 * d[2] + 3 * d[3] + 2 * d[4]
    return (11 - s % 11) % 10


def test_utf8_without_bom() -> None:
    assert not SEED.read_bytes().startswith(b"\xef\xbb\xbf")


def test_counts() -> None:
    assert len(ROWS) == 64
    assert len(BY_CODE) == 64, "codes must be unique"
    kinds = Counter(row["kind"] for row in ROWS)
    assert kinds == {
        "ward": 23,
        "city": 26,
        "town": 5,
        "village": 8,
        "prefecture": 1,
        "nation": 1,
    }


def test_tokyo_and_the_nation() -> None:
    assert BY_CODE["130001"] == {
        "code": "130001",
        "name_ja": "東京都",
        "name_en": "Tokyo Metropolis",
        "kana": "とうきょうと",
        "kind": "prefecture",
    }
    assert BY_CODE["000000"] == {
        "code": "000000",
        "name_ja": "国",
        "name_en": "Japan (national)",
        "kana": "くに",
        "kind": "nation",
    }


@pytest.mark.parametrize("code", sorted(BY_CODE))
def test_check_digit(code: str) -> None:
    assert is_valid_lgcode(code)
    if code != "000000":
        assert int(code[5]) == _reference_check_digit(code[:5])


def test_known_codes() -> None:
    names = {code: BY_CODE[code]["name_ja"] for code in BY_CODE}
    assert names["131016"] == "千代田区"
    assert names["131130"] == "渋谷区"
    assert names["131164"] == "豊島区"
    assert names["132012"] == "八王子市"
    assert names["133621"] == "利島村"
    assert names["134210"] == "小笠原村"
    assert BY_CODE["131164"]["name_en"] == "Toshima Ward"
    assert BY_CODE["133621"]["name_en"] == "Toshima Village"


@pytest.mark.parametrize(
    "row", [r for r in ROWS if r["kind"] in SUFFIX_JA], ids=lambda r: r["code"]
)
def test_kind_matches_code_and_names(row: dict[str, str]) -> None:
    code, kind = row["code"], row["kind"]
    assert code.startswith("13")
    if kind == "ward":
        assert code.startswith("131")
    elif kind == "city":
        assert code.startswith("132")
    else:  # towns and villages: 133xxx (Tama, Izu islands) and 134xxx (Hachijo, Ogasawara)
        assert code[:3] in {"133", "134"}
    assert row["name_ja"].endswith(SUFFIX_JA[kind])
    assert row["name_en"].endswith(SUFFIX_EN[kind])
    assert row["name_en"].isascii(), "macrons dropped: Ome, Chofu, Oshima"
    assert row["kana"] and all("\u3041" <= ch <= "\u309f" or ch == "ー" for ch in row["kana"])


def test_registry_seed_reads_the_file() -> None:
    from registry.seed import municipality_rows

    rows = {row["code"]: row for row in municipality_rows()}
    assert len(rows) == 64
    assert rows["000000"]["prefecture"] is None
    assert {row["prefecture"] for code, row in rows.items() if code != "000000"} == {"130001"}


def test_matches_the_shared_tokyo_list() -> None:
    if not SHARED_CSV.exists():
        pytest.skip(f"{SHARED_CSV} is absent: the shared data sits beside the repo")
    with SHARED_CSV.open(encoding="utf-8-sig", newline="") as handle:
        shared = {row["lgcode"]: row for row in csv.DictReader(handle)}
    assert len(shared) == 62
    tokyo = {code: row for code, row in BY_CODE.items() if row["kind"] in SUFFIX_JA}
    assert set(tokyo) == set(shared)
    for code, row in tokyo.items():
        assert row["name_ja"] == shared[code]["city"], code
        assert row["kana"] == shared[code]["citykana"], code
