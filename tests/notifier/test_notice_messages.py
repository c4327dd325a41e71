"""Notices rendered as LINE messages: content, language, buttons, and LINE's limits."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl

import pytest

from integrations.line_emulator import EmulatorConfig
from integrations.line_emulator.state import Emulator, LineError
from notifier import messages
from notifier.ledger import KINDS
from notifier.messages import (
    MAX_ALT_TEXT,
    RENDERERS,
    alt_text,
    app_payload,
    card,
    json_size,
    notice_message,
    register_renderer,
)
from notifier.models import Notice
from tests.conftest import SHARED, TODAY

USER = "U" + "a" * 32


def payload(index: int = 1, **overrides: Any) -> dict[str, Any]:
    """A payload shaped like the ledger's (notifier.compose.payload)."""
    body: dict[str, Any] = {
        "program": {"id": 100 + index, "version": 1, "issuer": "131130"},
        "name": {"ja": f"テスト手当{index}", "en": f"Test allowance {index}"},
        "summary": {"ja": "3歳未満の子がいる家庭に", "en": "For families with a child under 3"},
        "benefit": "月額5,000円",
        "reference_url": "https://www.city.shibuya.tokyo.jp/",
        "application_url": "https://www.city.shibuya.tokyo.jp/apply",
        "category": ["allowance"],
        "reasons": [
            {"code": "lives_in", "place": "131130"},
            {"code": "child_age", "unit": "years", "below": 3},
        ],
        "kind": "eligible",
        "deadline": "2027-03-31",
        "child": {"ja": "2025年6月生まれのお子さま", "en": "your child born Jun 2025"},
    }
    body.update(overrides)
    return body


def notice(index: int = 1, *, deadline: date | None = date(2027, 3, 31), **fields: Any) -> Notice:
    body = fields.pop("payload", None) or payload(index)
    return Notice(
        id=index,
        family_id=1,
        subject=f"program:{100 + index}",
        kind=fields.pop("kind", "eligible"),
        cycle="2026",
        issuer="131130",
        category=fields.pop("category", "allowance"),
        deadline=deadline,
        payload=body,
        **fields,
    )


@pytest.fixture(scope="module")
def line() -> Emulator:
    """The emulator's validator, as strict as LINE (no server needed)."""
    spec = SHARED / "line-openapi" / "messaging-api.yml"
    config = EmulatorConfig(spec_path=spec if spec.exists() else None)
    return Emulator(config, lambda: datetime.now(UTC))


def accepted(line: Emulator, message: dict[str, Any]) -> None:
    try:
        line.validate("push", {"to": USER, "messages": [message]})
    except LineError as exc:
        pytest.fail(f"LINE would refuse this message: {exc.body()}")


def texts(container: Any) -> list[str]:
    """Every text of a Flex container, in order."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(container)
    return found


def actions(bubble: dict[str, Any]) -> list[dict[str, Any]]:
    return [c["action"] for c in bubble.get("footer", {}).get("contents", [])]


def test_one_notice_is_one_bubble_naming_child_reason_deadline_and_buttons(line: Emulator) -> None:
    message = notice_message([notice()], "ja", today=TODAY)
    accepted(line, message)
    assert message["type"] == "flex"
    bubble = message["contents"]
    assert bubble["type"] == "bubble"
    shown = texts(bubble)
    assert "テスト手当1" in shown
    assert "対象: 2025年6月生まれのお子さま" in shown
    assert "・渋谷区にお住まいです" in shown
    assert "・お子さまが対象年齢です（3歳未満）" in shown
    assert any(t.startswith("申請期限: 2027年3月31日") for t in shown)
    buttons = actions(bubble)
    assert buttons[0] == {
        "type": "uri",
        "label": "くわしく見る",
        "uri": "https://www.city.shibuya.tokyo.jp/",
    }
    assert dict(parse_qsl(buttons[1]["data"])) == {"a": "applied", "p": "101"}
    assert buttons[1]["label"] == "申請しました"
    assert dict(parse_qsl(buttons[2]["data"])) == {"a": "set.cat", "c": "allowance"}
    assert buttons[2]["label"] == "この種類の通知をオフ"


def test_english_family_reads_english(line: Emulator) -> None:
    message = notice_message([notice(1), notice(2)], "en", today=TODAY)
    accepted(line, message)
    shown = texts(message["contents"])
    assert "Test allowance 1" in shown
    assert "For: your child born Jun 2025" in shown
    assert any(t.startswith("Apply by 31 Mar 2027") for t in shown)
    labels = [a["label"] for a in actions(message["contents"]["contents"][0])]
    assert labels == ["Details", "I applied", "Turn off this kind"]
    assert message["altText"].startswith("Hagukumi: 2 notices")


def test_english_falls_back_to_japanese_names() -> None:
    body = payload(
        1, name={"ja": "018サポート", "en": None}, summary={"ja": "月5千円", "en": None}
    )
    message = notice_message([notice(1, payload=body)], "en", today=TODAY)
    assert "018サポート" in texts(message["contents"])


def test_household_notice_says_so_and_near_deadline_is_marked() -> None:
    body = payload(1, child=None, kind="deadline-2", deadline="2026-11-28")
    message = notice_message(
        [notice(1, payload=body, kind="deadline-2", deadline=date(2026, 11, 28))],
        "ja",
        today=TODAY,
    )
    shown = texts(message["contents"])
    assert "対象: ご家庭" in shown
    assert "締切間近" in shown
    assert "申請期限: 2026年11月28日（あと2日）" in shown


def test_nearest_deadline_first_and_alt_text_counts() -> None:
    late = notice(1, deadline=date(2027, 3, 31))
    soon = notice(2, deadline=date(2026, 12, 10))
    none = notice(3, deadline=None, payload=payload(3, deadline=None))
    message = notice_message([late, none, soon], "ja", today=TODAY)
    titles = [texts(b)[1] for b in message["contents"]["contents"]]
    assert titles == ["テスト手当2", "テスト手当1", "テスト手当3"]
    assert message["altText"].startswith("はぐくみからのお知らせ（3件）: テスト手当2、")


def test_eligible_and_deadline_notices_of_one_program_and_child_are_one_card(
    line: Emulator,
) -> None:
    eligible = notice(1)
    reminder = notice(1, kind="deadline-2", payload=payload(1, kind="deadline-2"))
    reminder.id = 2
    other_child = notice(1, payload=payload(1, child={"ja": "2023年1月生まれのお子さま"}))
    other_child.id = 3
    for lang, name in (("ja", "テスト手当1"), ("en", "Test allowance 1")):
        message = notice_message([eligible, reminder, other_child], lang, today=TODAY)
        accepted(line, message)
        cards = message["contents"]["contents"]
        assert len(cards) == 2  # one per child
        assert message["altText"].count(name) == 1
        first = texts(cards[0])
        assert first[0] == ("締切間近" if lang == "ja" else "Deadline soon")
        assert texts(cards[1])[0] != first[0]
    alone = notice_message([eligible, reminder], "ja", today=TODAY)
    assert alone["contents"]["type"] == "bubble"
    assert alone["altText"].count("テスト手当1") == 1


def test_fifteen_notices_make_eleven_cards_and_a_summary(line: Emulator) -> None:
    many = [notice(i, deadline=date(2026, 12, i)) for i in range(1, 16)]
    message = notice_message(many, "ja", today=TODAY)
    accepted(line, message)
    bubbles = message["contents"]["contents"]
    assert len(bubbles) == 12
    summary = texts(bubbles[-1])
    assert summary[0] == "ほかに4件のお知らせ"
    assert summary[1:] == [f"・テスト手当{i}" for i in range(12, 16)]
    assert dict(parse_qsl(actions(bubbles[-1])[0]["data"])) == {"a": "menu.programs"}
    assert "（15件）" in message["altText"]


def test_exactly_twelve_need_no_summary(line: Emulator) -> None:
    message = notice_message([notice(i) for i in range(1, 13)], "ja", today=TODAY)
    accepted(line, message)
    bubbles = message["contents"]["contents"]
    assert len(bubbles) == 12
    assert not texts(bubbles[-1])[0].startswith("ほかに")


def test_biggest_payloads_stay_within_every_limit(line: Emulator) -> None:
    long = "長" * 200
    body = payload(
        1,
        name={"ja": long, "en": "L" * 200},
        summary={"ja": long, "en": "S" * 200},
        benefit=long,
        reasons=[{"code": "lives_in", "place": "1" * 200}] * 8,
        reference_url="https://example.jp/" + "p" * 980,
        category=["c" * 60],
    )
    many = [notice(i, payload={**body, "program": {"id": 10**9 + i}}) for i in range(1, 40)]
    message = notice_message(many, "ja", today=TODAY)
    accepted(line, message)
    assert json_size(message["contents"]) <= 50_000
    assert len(message["altText"]) <= MAX_ALT_TEXT
    assert len(message["contents"]["contents"]) <= 12


def test_alt_text_is_clipped_to_lines_limit() -> None:
    many = [
        notice(i, payload=payload(i, name={"ja": f"{i:02d}" + "名" * 198, "en": None}))
        for i in range(20)
    ]
    text = alt_text(many, "ja")
    assert len(text) == MAX_ALT_TEXT
    assert text.endswith("…")


def test_unsafe_links_and_missing_parts_drop_their_buttons(line: Emulator) -> None:
    body = payload(1, reference_url="javascript:alert(1)", application_url=None, category=[])
    bare = notice(1, payload=body, category="", kind="broadcast")
    message = notice_message([bare], "ja", today=TODAY)
    accepted(line, message)
    assert actions(message["contents"]) == []


def test_app_payload_carries_the_notice_without_rendering() -> None:
    item = notice(7)
    data = app_payload(item, "en")
    assert data["notice_id"] == 7
    assert data["deadline"] == "2027-03-31"
    assert data["program_id"] == 107
    assert data["content"]["name"]["en"] == "Test allowance 7"
    # Reasons are sentences in both languages; codes and rule clauses stay inside.
    assert data["content"]["reasons"] == {
        "ja": ["渋谷区にお住まいです", "お子さまが対象年齢です（3歳未満）"],
        "en": ["You live in Shibuya Ward", "Your child is in the age range (under 3 years)"],
    }
    json.dumps(data)  # plain JSON


def test_payloads_stored_with_rule_clauses_show_sentences_never_the_clauses() -> None:
    """Notices planned before reasons existed carry `why` (raw clauses): mapped, never shown."""
    old = payload(1, why=['municipality == "131032"', "child.age_months < 6"])
    del old["reasons"]
    broken = payload(2, why=['municipality == "1310…', "渋谷区にお住まい"])
    del broken["reasons"]
    for lang, expected in (
        ("ja", ["・港区にお住まいです", "・お子さまが対象年齢です（生後6か月未満）"]),
        ("en", ["• You live in Minato Ward", "• Your child is in the age range (under 6 months)"]),
    ):
        shown = texts(notice_message([notice(1, payload=old)], lang, today=TODAY)["contents"])
        assert all(line in shown for line in expected)
        assert not any("==" in line or "child." in line for line in shown)
        generic = texts(notice_message([notice(2, payload=broken)], lang, today=TODAY))
        assert not any("==" in line or "…" in line or "にお住まい" in line for line in generic)
    assert "why" not in app_payload(notice(1, payload=old), "ja")["content"]


# -- English excerpts (issue 8, point 4) --------------------------------------------------------


def _demo_notices() -> list[Notice]:
    from hagukumi.demo import demo_programs
    from notifier.compose import payload as compose_payload
    from notifier.compose import program_part
    from rules.explain import reasons_of
    from rules.language import compile_rule

    out = []
    for index, data in enumerate(demo_programs(), start=1):
        reasons = reasons_of(compile_rule(data.eligibility, per_child=data.per_child))
        part = program_part(index, 1, data, reasons)
        body = compose_payload(part, kind="eligible", deadline=None, birth=date(2025, 6, 10))
        out.append(notice(index, payload=body, deadline=None))
    return out


def _cut_mid_word(text: str, sources: list[str]) -> bool:
    """Whether `text` ends in "…" right after part of a word of the text it was cut from."""
    if not text.endswith("…"):
        return False
    kept = text[:-1].rstrip()
    for source in sources:
        flat = " ".join(source.split())
        if flat.startswith(kept) and len(flat) > len(kept) and flat[len(kept)].isalnum():
            return True
    return False


def test_no_english_bubble_text_ends_in_an_ellipsis_mid_word(line: Emulator) -> None:
    from hagukumi.demo import demo_programs

    notices = _demo_notices()
    sources = [p.summary.en or "" for p in demo_programs()]
    for start in range(0, len(notices), 12):
        message = notice_message(notices[start : start + 12], "en", today=TODAY)
        accepted(line, message)
        shown = texts(message["contents"])
        # Demo programs have English summaries that fit: whole sentences, no cut at all.
        assert [t for t in shown if t.endswith("…")] == []
        assert not any(_cut_mid_word(t, sources) for t in shown)
    # Longer English than a card holds is cut after a whole word, never inside one.
    long = "The child turns eighteen " * 30
    body = payload(1, summary={"ja": "概要", "en": long.strip()})
    from notifier.compose import SUMMARY_CHARS, excerpt

    body["summary"]["en"] = excerpt(long, SUMMARY_CHARS["en"])
    shown = texts(notice_message([notice(1, payload=body)], "en", today=TODAY)["contents"])
    cut = [t for t in shown if t.endswith("…")]
    assert cut and not any(_cut_mid_word(t, [long]) for t in cut)


def test_an_item_without_english_says_so_in_english_instead_of_a_cut_japanese_text(
    line: Emulator,
) -> None:
    summary = "令和6年度の講座です。" * 20
    body = payload(1, name={"ja": "パパとママの子育て講座", "en": None})
    body["summary"] = {"ja": summary[:119] + "…", "en": None}
    body["benefit"] = None
    message = notice_message([notice(1, payload=body)], "en", today=TODAY)
    accepted(line, message)
    shown = texts(message["contents"])
    assert "パパとママの子育て講座" in shown  # the name as the municipality wrote it
    assert "Details in Japanese only." in shown
    assert not any("令和" in t for t in shown)
    # In Japanese, the stored excerpt is shown to its last whole sentence.
    assert "令和6年度の講座です。" * 10 in texts(notice_message([notice(1, payload=body)], "ja"))


def test_summaries_stored_cut_mid_sentence_are_shown_to_the_last_whole_sentence() -> None:
    cut = "Paid for every child. Paid up to the end of the fiscal year in which the child turns …"
    body = payload(1, summary={"ja": "概要", "en": cut})
    shown = texts(notice_message([notice(1, payload=body)], "en", today=TODAY)["contents"])
    assert "Paid for every child." in shown
    assert not any(t.endswith("…") for t in shown)


def test_every_notice_kind_of_the_ledger_has_a_renderer() -> None:
    assert set(KINDS) <= set(RENDERERS)


def test_a_broadcast_shows_its_text_and_no_applied_button_nor_empty_deadline(
    line: Emulator,
) -> None:
    body = payload(1, summary=None, benefit=None, text={"ja": "図書館が休館します"}, deadline=None)
    message = notice_message([notice(1, payload=body, kind="broadcast", deadline=None)], "ja")
    accepted(line, message)
    shown = texts(message["contents"])
    assert shown[0] == "自治体からのお知らせ"
    assert "図書館が休館します" in shown
    assert not any(t.startswith("申請期限") for t in shown)
    assert [dict(parse_qsl(a["data"]))["a"] for a in actions(message["contents"])[1:]] == [
        "set.cat"
    ]


def test_a_new_kind_is_drawn_by_the_renderer_it_registers(
    line: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(messages, "RENDERERS", dict(RENDERERS))
    monkeypatch.setattr(messages, "TEXTS", {k: dict(v) for k, v in messages.TEXTS.items()})

    def seat_opened(notice: Notice, lang: str, today: date | None = None) -> dict[str, Any]:
        return card(notice, lang, today, blurb="空きが出ました", deadline_line=True, applied=False)

    register_renderer("test-seat", seat_opened, badge={"ja": "空き", "en": "A seat opened"})
    message = notice_message([notice(1, kind="test-seat")], "en", today=TODAY)
    accepted(line, message)
    shown = texts(message["contents"])
    assert shown[0] == "A seat opened"
    assert "空きが出ました" in shown
    assert "applied" not in {
        dict(parse_qsl(a.get("data", ""))).get("a") for a in actions(message["contents"])
    }
    with pytest.raises(ValueError, match="already has a renderer"):
        register_renderer("test-seat", seat_opened)
    with pytest.raises(ValueError, match="a text in each"):
        register_renderer("test-other", seat_opened, badge={"ja": "他"})
