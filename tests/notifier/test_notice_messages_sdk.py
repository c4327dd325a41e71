"""Notice messages are plain dicts now: line-bot-sdk must still read them as its own Flex models.

For every shape a push can take, `FlexMessage.from_dict(message).to_dict()` gives the message back
unchanged, and the message stays within what LINE (the emulator, as strict) accepts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from linebot.v3.messaging import FlexBubble, FlexCarousel, FlexMessage

from integrations.line_emulator import EmulatorConfig
from integrations.line_emulator.state import Emulator
from notifier.messages import MAX_ALT_TEXT, json_size, notice_message
from notifier.models import Notice
from tests.conftest import SHARED, TODAY
from tests.notifier.test_notice_messages import accepted, notice, payload, texts

MAX_BUBBLES = 12  # LINE: a carousel holds at most 12 bubbles
MAX_CAROUSEL = 50_000  # bytes of JSON
MAX_BUBBLE = 30_000
MAX_LABEL = 40  # a Flex button's action label
MAX_DATA = 300  # postback data, and displayText
MAX_URI = 1000


def full(index: int) -> Notice:
    return notice(index)


def no_deadline(index: int) -> Notice:
    return notice(index, deadline=None, payload=payload(index, deadline=None))


def no_url(index: int) -> Notice:
    return notice(index, payload=payload(index, reference_url=None, application_url=None))


def no_program(index: int) -> Notice:
    body = payload(index)
    del body["program"]
    return notice(index, payload=body)


def no_category(index: int) -> Notice:
    return notice(index, category="", payload=payload(index, category=[]))


def no_child(index: int) -> Notice:
    return notice(index, payload=payload(index, child=None, why=[]))


def due_today(index: int) -> Notice:
    day = TODAY
    return notice(
        index,
        kind="deadline-2",
        deadline=day,
        payload=payload(index, kind="deadline-2", deadline=day.isoformat()),
    )


def due_in_a_week(index: int) -> Notice:
    day = TODAY + timedelta(days=7)
    return notice(
        index,
        kind="deadline-7",
        deadline=day,
        payload=payload(index, kind="deadline-7", deadline=day.isoformat()),
    )


def broadcast(index: int) -> Notice:
    body = {
        "title": {"ja": f"区からのお知らせ{index}", "en": f"From the city {index}"},
        "text": {"ja": "年末年始の窓口のご案内です。", "en": "Opening hours over the new year."},
        "url": "https://www.city.shibuya.tokyo.jp/news",
        "category": ["broadcast"],
    }
    return notice(index, kind="broadcast", deadline=None, category="broadcast", payload=body)


def bare_broadcast(index: int) -> Notice:
    body = {"title": {"ja": f"お知らせ{index}"}, "message": "ご確認ください。"}
    return notice(index, kind="broadcast", deadline=None, category="", payload=body)


def long_texts(index: int) -> Notice:
    long = "長" * 400
    body = payload(
        index,
        name={"ja": long, "en": "L" * 400},
        summary={"ja": long, "en": "S" * 400},
        benefit=long,
        why=[long] * 7,
        reference_url="https://example.jp/" + "p" * 975,
        category=["c" * 60],
    )
    return notice(index, category="c" * 60, payload=body)


VARIANTS: dict[str, Callable[[int], Notice]] = {
    "full": full,
    "no deadline": no_deadline,
    "no url": no_url,
    "no program": no_program,
    "no category": no_category,
    "no child": no_child,
    "due today": due_today,
    "due in a week": due_in_a_week,
    "broadcast": broadcast,
    "bare broadcast": bare_broadcast,
    "long texts": long_texts,
}


def mixed(count: int) -> list[Notice]:
    """`count` notices cycling through every variant (ids 1..count)."""
    makers = list(VARIANTS.values())
    return [makers[(i - 1) % len(makers)](i) for i in range(1, count + 1)]


@pytest.fixture(scope="module")
def validator() -> Emulator:
    """The emulator's request validator, as strict as LINE (no server needed)."""
    spec = SHARED / "line-openapi" / "messaging-api.yml"
    config = EmulatorConfig(spec_path=spec if spec.exists() else None)
    return Emulator(config, lambda: datetime.now(UTC))


def bubbles_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    contents = message["contents"]
    return contents["contents"] if contents["type"] == "carousel" else [contents]


def actions(node: Any) -> list[dict[str, Any]]:
    """Every action object anywhere in a Flex container."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if isinstance(node.get("action"), dict):
            found.append(node["action"])
        for value in node.values():
            found.extend(actions(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(actions(value))
    return found


def assert_round_trips(message: dict[str, Any]) -> FlexMessage:
    parsed = FlexMessage.from_dict(message)
    assert parsed is not None
    assert parsed.to_dict() == message
    return parsed


def assert_within_limits(validator: Emulator, message: dict[str, Any]) -> None:
    accepted(validator, message)
    assert 0 < len(message["altText"]) <= MAX_ALT_TEXT
    assert json_size(message["contents"]) <= MAX_CAROUSEL
    cards = bubbles_of(message)
    assert 1 <= len(cards) <= MAX_BUBBLES
    assert all(json_size(card) <= MAX_BUBBLE for card in cards)
    assert all(text for text in texts(message["contents"]))
    for action in actions(message["contents"]):
        assert 0 < len(action["label"]) <= MAX_LABEL
        if action["type"] == "postback":
            assert len(action["data"]) <= MAX_DATA
            assert len(action.get("displayText", "")) <= MAX_DATA
        else:
            assert action["type"] == "uri"
            assert action["uri"].startswith("https://") and len(action["uri"]) <= MAX_URI


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("count", [1, 2, 12, 13, 20])
def test_mixed_notices_round_trip_through_the_sdk(
    validator: Emulator, count: int, lang: str
) -> None:
    message = notice_message(mixed(count), lang, today=TODAY)
    parsed = assert_round_trips(message)
    assert_within_limits(validator, message)
    cards = bubbles_of(message)
    if count == 1:
        assert isinstance(parsed.contents, FlexBubble)
    else:
        assert isinstance(parsed.contents, FlexCarousel)
        assert len(parsed.contents.contents) == len(cards)
    if count <= MAX_BUBBLES:
        assert len(cards) == count
    else:
        # Eleven cards and a summary of the rest (or fewer, if the 50 KB limit says so).
        assert len(cards) == MAX_BUBBLES
        more = "ほかに" if lang == "ja" else "more notices"
        assert more in texts(cards[-1])[0]


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_each_kind_of_notice_round_trips_alone_and_in_pairs(
    validator: Emulator, variant: str, lang: str
) -> None:
    make = VARIANTS[variant]
    alone = notice_message([make(1)], lang, today=TODAY)
    assert_round_trips(alone)
    assert_within_limits(validator, alone)
    pair = notice_message([make(1), make(2)], lang, today=TODAY)
    assert_round_trips(pair)
    assert_within_limits(validator, pair)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_without_today_the_message_still_round_trips(validator: Emulator, lang: str) -> None:
    message = notice_message(mixed(5), lang)
    assert_round_trips(message)
    assert_within_limits(validator, message)


def test_the_largest_carousel_round_trips_and_stays_under_50_kb(validator: Emulator) -> None:
    many = [long_texts(i) for i in range(1, 40)]
    for lang in ("ja", "en"):
        message = notice_message(many, lang, today=date(2026, 11, 26))
        assert_round_trips(message)
        assert_within_limits(validator, message)
