"""Seed data the registry carries itself: Tokyo's municipalities, Tokyo and the nation."""

from __future__ import annotations

import csv
from pathlib import Path

from rules.lgcode import is_valid_lgcode

MUNICIPALITIES_CSV = Path(__file__).resolve().parent / "data" / "municipalities.csv"


def municipality_rows() -> list[dict[str, str | None]]:
    """Rows of registry/data/municipalities.csv, each code checked by its check digit."""
    rows: list[dict[str, str | None]] = []
    with MUNICIPALITIES_CSV.open(encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            code = record["code"]
            if not is_valid_lgcode(code):
                raise ValueError(f"{MUNICIPALITIES_CSV.name}: bad local government code {code}")
            prefecture = None if code == "000000" else _prefecture_of(code)
            rows.append(
                {
                    "code": code,
                    "name_ja": record["name_ja"],
                    "name_en": record["name_en"],
                    "kana": record.get("kana") or "",
                    "kind": record["kind"],
                    "prefecture": prefecture,
                }
            )
    return rows


def _prefecture_of(code: str) -> str:
    from rules.lgcode import check_digit

    five = code[:2] + "000"
    return five + str(check_digit(five))
