"""Reason codes rendered for parents: every code reads as a sentence in Japanese and English."""

from __future__ import annotations

import pytest

from notifier.reasons import for_parents, reason_texts, render
from rules.explain import CODES


@pytest.mark.parametrize(
    ("reason", "ja", "en"),
    [
        ({"code": "lives_in", "place": "131032"}, "港区にお住まいです", "You live in Minato Ward"),
        ({"code": "lives_in", "place": "130001"}, "東京都にお住まいです", "You live in Tokyo"),
        # A code we cannot name is never shown as digits.
        ({"code": "lives_in", "place": "999999"}, "お住まいの地域が対象です", None),
        (
            {"code": "child_age", "unit": "months", "from": 3, "below": 5},
            "お子さまが対象年齢です（生後3か月から5か月未満）",
            "Your child is in the age range (3 to under 5 months)",
        ),
        (
            {"code": "child_age", "unit": "class", "below": 18},
            "お子さまが対象年齢です（18歳になった後の最初の3月31日まで）",
            "Your child is in the age range (until the end of the school year in which your"
            " child turns 18)",
        ),
        (
            {"code": "child_age", "unit": "grade", "from": 1},
            "お子さまが対象年齢です（小学1年生以上）",
            "Your child is in the age range (grade 1 or above)",
        ),
        (
            {"code": "child_born_from", "date": "2025-04-01"},
            "お子さまが2025年4月1日以降の生まれです",
            "Your child was born on or after 1 Apr 2025",
        ),
        ({"code": "birth_order", "from": 3}, "第3子以降のお子さまです", None),
        ({"code": "no-such-code"}, "登録内容が条件に合います", "Your details fit the conditions"),
    ],
)
def test_reasons_read_as_sentences(reason: dict[str, object], ja: str, en: str | None) -> None:
    assert render(reason, "ja") == ja
    if en is not None:
        assert render(reason, "en") == en


def test_every_code_renders_in_both_languages() -> None:
    for code in CODES:
        for lang in ("ja", "en"):
            text = render({"code": code}, lang)
            assert text and "{" not in text and "_" not in text


def test_for_parents_replaces_codes_and_clauses_with_sentences() -> None:
    stored = {"name": {"ja": "x", "en": "x"}, "why": ["child.age < 3"]}
    shown = for_parents(stored)
    assert "why" not in shown
    assert shown["reasons"]["en"] == ["Your child is in the age range (under 3 years)"]
    assert for_parents({"title": {"ja": "お知らせ"}}) == {"title": {"ja": "お知らせ"}}
    assert reason_texts({"reasons": [{"code": "pregnant"}] * 3}, "ja") == ["出産を控えています"]
