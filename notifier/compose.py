"""What a notice carries: everything delivery needs to render it, without reading the program.

The program may change or be archived between the sweep and the send; the notice keeps the
words it was created with. Payloads stay under MAX_PAYLOAD bytes of JSON: a LINE Flex bubble may
be 30 KB, but 100,000 families × a dozen programs is a lot of rows.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from notifier.formats import format_month
from registry.schemas import ProgramIn

MAX_PAYLOAD = 2048
"""Bytes of UTF-8 JSON a payload may take."""
SUMMARY_CHARS = {"ja": 120, "en": 220}
"""Characters of summary a card shows, per language (whole sentences: see `excerpt`)."""
BENEFIT_CHARS = 120
REASON_ITEMS = 8
URL_CHARS = 500


def shorten(text: str | None, limit: int) -> str | None:
    """`text` cut to `limit` characters (an ellipsis marks the cut); None stays None."""
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# A sentence ends at a full stop (with any closing bracket or quote); Japanese needs no space.
# "art. 12" is no sentence end: an English one is followed by a capital, a quote or the end.
_SENTENCE_END = re.compile(r"(?:[.!?][)\]\"'’”]*(?=\s+[A-Z\"'“(]|$)|[。！？][」）)]*)\s*")
_CLAUSE_END = re.compile(r"[、，,;:：；]\s*")


def excerpt(text: str | None, limit: int) -> str | None:
    """`text` shortened to whole sentences within `limit` characters; None stays None.

    When even the first sentence is too long it is cut after a clause or a whole word, and an
    ellipsis marks the cut: a parent never reads half a word.
    """
    if text is None:
        return None
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    kept = ""
    for m in _SENTENCE_END.finditer(text):
        if m.end() > limit and len(text[: m.end()].rstrip()) > limit:
            break
        kept = text[: m.end()].rstrip()
    if kept:
        return kept
    head = text[: limit - 1]
    clause = max((m.start() for m in _CLAUSE_END.finditer(head)), default=-1)
    space = head.rfind(" ")
    if clause >= limit // 2:
        head = head[:clause]
    elif space >= limit // 2:
        head = head[:space]
    return head.rstrip(" ,;:、，") + "…"


def mended(text: str) -> str:
    """A text stored cut short ("…") brought back to its last whole sentence (or word)."""
    if not text.endswith("…"):
        return text
    body = text[:-1].rstrip()
    return excerpt(body + " " + "x" * len(body), len(body)) or body


def child_label(birth: date) -> dict[str, str]:
    """A child named by birth month only ("2025年6月生まれのお子さま"), never the birth date."""
    return {
        "ja": f"{format_month(birth, 'ja')}生まれのお子さま",
        "en": f"your child born {format_month(birth, 'en')}",
    }


def _url(value: str | None) -> str | None:
    # Some imported items join several URLs with commas; longer ones would not fit the payload.
    if value is None or len(value) > URL_CHARS:
        return None
    return value


def program_part(
    program_id: int, version: int, data: ProgramIn, reasons: list[dict[str, Any]]
) -> dict[str, Any]:
    """The part of a payload shared by every notice about one program version.

    `reasons` are reason codes (`rules.explain`), rendered for parents at send time.
    """
    return {
        "program": {"id": program_id, "version": version, "issuer": data.issuer},
        "name": {"ja": shorten(data.name.ja, 200), "en": shorten(data.name.en, 200)},
        "summary": {
            "ja": excerpt(data.summary.ja, SUMMARY_CHARS["ja"]),
            "en": excerpt(data.summary.en, SUMMARY_CHARS["en"]),
        },
        "benefit": excerpt(data.benefit, BENEFIT_CHARS),
        "reference_url": _url(data.reference_url),
        "application_url": _url(data.application.url),
        "category": list(data.category),
        "reasons": reasons[:REASON_ITEMS],
    }


def payload(
    part: dict[str, Any], *, kind: str, deadline: date | None, birth: date | None
) -> dict[str, Any]:
    """The payload of one notice: the program part plus kind, deadline and child label."""
    body = {
        **part,
        "kind": kind,
        "deadline": deadline.isoformat() if deadline else None,
        "child": child_label(birth) if birth else None,
    }
    return fit(body)


def size(body: dict[str, Any]) -> int:
    """Bytes of the payload as stored (compact UTF-8 JSON)."""
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())


def fit(body: dict[str, Any]) -> dict[str, Any]:
    """Drop the least needed parts until the payload fits MAX_PAYLOAD."""
    if size(body) <= MAX_PAYLOAD:
        return body
    body = dict(body)
    # Least needed first: delivery can always link to the program page for the rest.
    for key, empty in (("reasons", []), ("benefit", None), ("summary", {"ja": None, "en": None})):
        body[key] = empty
        if size(body) <= MAX_PAYLOAD:
            return body
    body["name"] = {"ja": shorten(body["name"]["ja"], 60), "en": shorten(body["name"]["en"], 60)}
    body["category"] = body["category"][:3]
    return body
