"""The text catalog, the message builders' limits and municipality matching (no network)."""

from __future__ import annotations

import csv
import string
from datetime import date

import pytest

from bot import messages as m
from bot.places import Gazetteer
from bot.texts import TEXTS, format_born, t
from notifier.formats import format_date
from registry.seed import MUNICIPALITIES_CSV


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_text_is_in_both_languages_with_the_same_fields() -> None:
    for key, entry in TEXTS.items():
        assert entry.get("ja") and entry.get("en"), key
        assert _fields(entry["ja"]) == _fields(entry["en"]), key


def test_labels_fit_line_limits() -> None:
    for key, entry in TEXTS.items():
        if key.endswith(".label") or key.startswith("label.") or key.startswith("category."):
            for lang, value in entry.items():
                assert len(value) + 2 <= m.MAX_LABEL, (key, lang, value)  # room for "✓ "


def test_t_falls_back_and_formats() -> None:
    assert t("programs.intro", "en", count=3) == "You can get 3 kinds of support now."
    assert t("programs.intro", "fr", count=3) == "いま受けられる支援は3件です。"
    assert t("no.such.key", "ja") == "no.such.key"
    assert format_date(date(2025, 6, 10), "ja") == "2025年6月10日"
    assert format_date(date(2025, 6, 10), "en") == "10 Jun 2025"
    assert format_born(date(2025, 6, 10), "ja", 1) == "2025年6月生まれ・1歳"


def test_builders_stay_within_limits() -> None:
    actions = [m.postback(f"choice number {i} is long", "x", n=i) for i in range(20)]
    message = m.text("あ" * 6000, actions)
    assert len(message.text) == 5000
    assert message.quick_reply is not None and len(message.quick_reply.items) == 13
    assert all(len(item.action.label) <= 20 for item in message.quick_reply.items)
    with pytest.raises(ValueError):
        m.postback("too long", "x", data="y" * 400)
    bubbles = [m.bubble(f"program {i}", [m.flex_text("x" * 1000)]) for i in range(30)]
    carousel = m.carousel("alt" * 1000, bubbles)
    assert len(carousel.alt_text) <= 1500
    assert len(carousel.contents.contents) == 12
    assert m.flex_size(carousel.contents) <= 50_000
    huge = [m.bubble(f"program {i}", [m.flex_text("漢" * 2000)] * 3) for i in range(12)]
    assert m.flex_size(m.carousel("alt", huge).contents) <= 50_000
    confirm = m.confirm("あ" * 500, m.postback("yes", "y"), m.postback("no", "n"))
    assert len(confirm.template.text) <= 240 and len(confirm.alt_text) <= 400
    assert m.uri("Details", "javascript:alert(1)") is None
    picker = m.date_picker(
        "Pick", "d", initial=date(2030, 1, 1), low=date(2020, 1, 1), high=date(2026, 11, 26)
    )
    assert picker.initial == "2026-11-26" and picker.max == "2026-11-26"


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    with MUNICIPALITIES_CSV.open(encoding="utf-8") as handle:
        rows = [
            (r["code"], r["name_ja"], r["name_en"], r["kana"])
            for r in csv.DictReader(handle)
            if r["kind"] in {"ward", "city", "town", "village"}
        ]
    assert len(rows) == 62
    return Gazetteer(rows)


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("渋谷区", "131130"),
        ("渋谷", "131130"),
        ("しぶや", "131130"),
        ("シブヤ", "131130"),
        ("Shibuya", "131130"),
        ("shibuya-ku", "131130"),
        ("Shibya", "131130"),
        ("東京都渋谷区", "131130"),
        ("渋谷区に住んでいます", "131130"),
        ("はちおうじ", "132012"),
        ("Hachiouji", "132012"),
        ("ｾﾀｶﾞﾔ", "131121"),
        ("みなと", "131032"),
    ],
)
def test_municipality_found(gazetteer: Gazetteer, typed: str, code: str) -> None:
    assert gazetteer.find(typed).code == code


def test_municipality_candidates_and_misses(gazetteer: Gazetteer) -> None:
    found = gazetteer.find("中")
    assert found.code is None and {"131024", "131148"} <= set(found.candidates)
    assert len(found.candidates) <= 12
    assert gazetteer.find("Yokohama").code is None
    assert gazetteer.find("Yokohama").candidates == []
    assert gazetteer.find("   ").code is None
    assert len(gazetteer.common()) == 12
