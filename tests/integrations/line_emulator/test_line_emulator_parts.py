"""The emulator's parts on their own: ULIDs, the OpenAPI walker, limits, images, buckets."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from integrations.line_emulator.limits import check_request
from integrations.line_emulator.richmenus import image_size
from integrations.line_emulator.state import TokenBucket, burst
from integrations.line_emulator.ulid import UlidFactory, encode, timestamp_ms
from integrations.line_emulator.validation import OpenApiValidator, load_openapi
from tests.integrations.line_emulator.test_line_emulator_richmenu import jpeg, png

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
USER = "U" + "0" * 31 + "1"


def test_ulid_encoding_round_trips_the_time() -> None:
    factory = UlidFactory(random.Random(1))
    ulid = factory.new(NOW)
    assert len(ulid) == 26
    assert timestamp_ms(ulid) == int(NOW.timestamp() * 1000)
    assert encode(0) == "0" * 26
    assert encode(2**128 - 1) == "7" + "Z" * 25


def test_ulids_stay_ordered_within_a_millisecond_and_across_time() -> None:
    factory = UlidFactory(random.Random(2))
    same_ms = [factory.new(NOW) for _ in range(50)]
    later = [factory.new(NOW + timedelta(milliseconds=n)) for n in range(1, 50)]
    assert same_ms + later == sorted(same_ms + later)
    assert len(set(same_ms)) == 50


@pytest.fixture
def messaging(spec_path: Path) -> OpenApiValidator:
    return OpenApiValidator(load_openapi(spec_path))


def test_discriminators_reach_nested_flex_components(messaging: OpenApiValidator) -> None:
    bubble = {
        "type": "bubble",
        "body": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {"type": "box", "layout": "diagonal", "contents": []},
                {"type": "button", "action": {"type": "teleport"}},
            ],
        },
    }
    body = {"to": USER, "messages": [{"type": "flex", "altText": "a", "contents": bubble}]}
    problems = {d["property"] for d in messaging.check("PushMessageRequest", body)}
    assert problems == {
        "messages[0].contents.body.contents[0].layout",
        "messages[0].contents.body.contents[1].action.type",
    }


def test_subtype_requirements_and_types(messaging: OpenApiValidator) -> None:
    body = {
        "to": USER,
        "messages": [{"type": "template", "altText": 5}],
        "notificationDisabled": "no",
    }
    problems = {(d["property"], d["message"]) for d in messaging.check("PushMessageRequest", body)}
    assert ("messages[0].template", "must be specified") in problems
    assert ("messages[0].altText", "must be a string") in problems
    assert ("notificationDisabled", "must be a boolean") in problems


def test_valid_bodies_pass(messaging: OpenApiValidator) -> None:
    body = {
        "replyToken": "t",
        "messages": [
            {"type": "text", "text": "x", "quickReply": {"items": []}},
            {"type": "sticker", "packageId": "446", "stickerId": "1988"},
        ],
    }
    assert messaging.check("ReplyMessageRequest", body) == []


@pytest.mark.parametrize(
    ("operation", "body", "prop"),
    [
        ("multicast", {"to": [USER] * 501, "messages": [{"type": "text", "text": "x"}]}, "to"),
        ("push", {"to": USER, "messages": [{"type": "text", "text": ""}]}, "messages[0].text"),
        (
            "push",
            {
                "to": USER,
                "messages": [
                    {
                        "type": "flex",
                        "altText": "x" * 1501,
                        "contents": {"type": "bubble"},
                    }
                ],
            },
            "messages[0].altText",
        ),
        (
            "push",
            {
                "to": USER,
                "messages": [
                    {
                        "type": "flex",
                        "altText": "a",
                        "contents": {"type": "carousel", "contents": [{"type": "bubble"}] * 13},
                    }
                ],
            },
            "messages[0].contents.contents",
        ),
        (
            "push",
            {
                "to": USER,
                "messages": [
                    {
                        "type": "flex",
                        "altText": "a",
                        "contents": {
                            "type": "bubble",
                            "body": {
                                "type": "box",
                                "layout": "vertical",
                                "contents": [{"type": "text", "text": "字" * 10_001}],
                            },
                        },
                    }
                ],
            },
            "messages[0].contents",
        ),
        (
            "push",
            {"to": USER, "messages": [{"type": "image", "originalContentUrl": "http://x/a.png"}]},
            "messages[0].originalContentUrl",
        ),
        (
            "push",
            {
                "to": USER,
                "messages": [
                    {
                        "type": "template",
                        "altText": "a",
                        "template": {
                            "type": "buttons",
                            "title": "t",
                            "text": "x" * 61,
                            "actions": [{"type": "message", "label": "l", "text": "t"}],
                        },
                    }
                ],
            },
            "messages[0].template.text",
        ),
        (
            "push",
            {
                "to": USER,
                "messages": [
                    {
                        "type": "template",
                        "altText": "a",
                        "template": {
                            "type": "confirm",
                            "text": "?",
                            "actions": [{"type": "message", "label": "l", "text": "t"}],
                        },
                    }
                ],
            },
            "messages[0].template.actions",
        ),
        (
            "push",
            {
                "to": USER,
                "messages": [
                    {
                        "type": "text",
                        "text": "x",
                        "quickReply": {
                            "items": [
                                {
                                    "type": "action",
                                    "action": {
                                        "type": "datetimepicker",
                                        "label": "d",
                                        "data": "x",
                                    },
                                }
                            ]
                        },
                    }
                ],
            },
            "messages[0].quickReply.items[0].action.mode",
        ),
        ("loading", {"chatId": USER, "loadingSeconds": 7}, "loadingSeconds"),
    ],
    ids=[
        "multicast-501",
        "empty-text",
        "flex-alt-text",
        "carousel-13",
        "bubble-30kb",
        "http-image",
        "buttons-text-with-title",
        "confirm-one-action",
        "datetimepicker-mode",
        "loading-seconds",
    ],
)
def test_line_limits(operation: str, body: dict[str, Any], prop: str) -> None:
    assert prop in {d["property"] for d in check_request(operation, body)}


def test_image_sizes_are_read_from_headers() -> None:
    assert image_size(png(2500, 1686)) == (2500, 1686)
    assert image_size(jpeg(1200, 405)) == (1200, 405)
    assert image_size(b"GIF89a") is None


def test_token_bucket_and_burst_windows() -> None:
    assert burst(200) == 200
    assert burst(60 / 3600, 3600) == pytest.approx(60)  # "60 requests an hour"
    assert burst(0.5) == 1
    bucket = TokenBucket(rate=2, capacity=2, tokens=2, updated=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [True, True, False]
    assert bucket.take(0.5)


def test_emulator_modules_import_each_other_without_a_cycle() -> None:
    # Every import counts, inside functions and under TYPE_CHECKING too: a cycle is a knot a
    # reader must untie (the state once called back into the events that drive it).
    import ast

    import integrations.line_emulator as package

    prefix = "integrations.line_emulator."
    folder = Path(package.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in folder.glob("*.py"):
        if path.stem == "__init__":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[path.stem] = {
            node.module.removeprefix(prefix)
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            and node.module is not None
            and node.module.startswith(prefix)
        }
    assert {"state", "events"} <= set(graph)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, set()) - seen:
            if nxt == goal or reaches(nxt, goal, seen | {nxt}):
                return True
        return False

    assert [name for name in sorted(graph) if reaches(name, name, set())] == []
