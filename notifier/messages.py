"""Notices rendered as LINE messages: one Flex carousel a push, in the family's language.

Each notice kind has its renderer in `RENDERERS` (program cards for eligible and deadline
reminders, the broadcast card); a new kind is added with `register_renderer`, usually drawing on
the shared `card`.

Every bubble names the child it concerns, why the notice fits, the deadline, and three buttons:
details (a link), "I applied" (postback `a=applied&p=<program>`, handled by the bot) and "turn
off this kind" (postback `a=set.cat&c=<category>`, the bot's category toggle).

The JSON is written as plain dicts, in the shape the SDK's Flex models serialise to (a test checks
that the SDK parses it back): building SDK (pydantic v1) models and serialising them took 80 % of
planning a large send.

LINE's limits (Messaging API reference, "Flex Message" and "Action objects"): a carousel holds
at most 12 bubbles and 50 KB of JSON, a bubble 30 KB; altText ≤ 1,500 characters; a Flex button
label ≤ 40 characters; postback data ≤ 300 and its displayText ≤ 300; a URI ≤ 1,000 characters.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any
from urllib.parse import urlencode

from notifier import postbacks as pb
from notifier.compose import excerpt, mended
from notifier.formats import format_date
from notifier.models import Notice
from notifier.reasons import for_parents, reason_texts
from registry.programs import applies_for

MAX_BUBBLES = 12
MAX_BUBBLE_BYTES = 30_000
MAX_CAROUSEL_BYTES = 50_000
MAX_ALT_TEXT = 1500
MAX_LABEL = 20  # Flex allows 40, but LINE cuts long labels on narrow phones
MAX_POSTBACK = 300
MAX_URI = 1000
MAX_TEXT = 300  # per Flex text: readable on a phone, and keeps 12 bubbles far below 50 KB
SUMMARY_NAMES = 8
URGENT_DAYS = 2

TEXTS: dict[str, dict[str, str]] = {
    "ja": {
        "kind.eligible": "受けられる支援",
        "kind.deadline-7": "締切まで1週間",
        "kind.deadline-2": "締切間近",
        "kind.broadcast": "自治体からのお知らせ",
        "for": "対象: {who}",
        "household": "ご家庭",
        "why": "あてはまる理由",
        "deadline": "申請期限: {date}",
        "deadline.days": "申請期限: {date}（あと{days}日）",
        "deadline.today": "申請期限: {date}（今日まで）",
        "deadline.none": "申請期限: なし",
        "details": "くわしく見る",
        "applied": "申請しました",
        "off": "この種類の通知をオフ",
        "more.title": "ほかに{count}件のお知らせ",
        "more.rest": "ほか{count}件",
        "more.button": "受けられる支援を見る",
        "alt": "はぐくみからのお知らせ（{count}件）: {names}",
        "bullet": "・",
        "sep": "、",
        "untitled": "お知らせ",
        "japanese_only": "詳しい内容は日本語のみです。",
    },
    "en": {
        "kind.eligible": "Support you can get",
        "kind.deadline-7": "Deadline in a week",
        "kind.deadline-2": "Deadline soon",
        "kind.broadcast": "From your city",
        "for": "For: {who}",
        "household": "your household",
        "why": "Why it fits",
        "deadline": "Apply by {date}",
        "deadline.days": "Apply by {date} ({days} days left)",
        "deadline.today": "Apply by {date} (today)",
        "deadline.none": "No deadline",
        "details": "Details",
        "applied": "I applied",
        "off": "Turn off this kind",
        "more.title": "{count} more notices",
        "more.rest": "and {count} more",
        "more.button": "See all support",
        "alt": "Hagukumi: {count} notices: {names}",
        "bullet": "• ",
        "sep": ", ",
        "untitled": "Notice",
        "japanese_only": "Details in Japanese only.",
    },
}


def t(key: str, lang: str, **values: Any) -> str:
    """A text in the family's language (Japanese when the language is unknown)."""
    table = TEXTS.get(lang, TEXTS["ja"])
    text = table[key].format(**values)
    # English singular: "1 notice", "1 more notice" (not "1 notices").
    return text.replace(" notices", " notice") if values.get("count") == 1 else text


def clip(value: str, limit: int) -> str:
    """`value` cut to `limit` characters, the cut marked with an ellipsis."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def localized(value: Any, lang: str) -> str | None:
    """A `{ja, en}` text in `lang` (falling back to Japanese), or a plain string."""
    if isinstance(value, dict):
        text = value.get(lang) or value.get("ja") or value.get("en")
        return str(text) if text else None
    return str(value) if value else None


def json_size(value: Any) -> int:
    """Bytes of compact UTF-8 JSON, as LINE measures Flex limits."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def postback_data(action: str, **params: Any) -> str | None:
    """`a=ACTION&k=v` as the bot parses it; None when over LINE's 300 characters."""
    data = urlencode({"a": action, **{k: str(v) for k, v in params.items()}})
    return data if len(data) <= MAX_POSTBACK else None


def deadline_of(notice: Notice) -> date | None:
    """The notice's deadline (the column, else the payload's ISO date)."""
    if notice.deadline is not None:
        return notice.deadline
    raw = (notice.payload or {}).get("deadline")
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw[:10])
        except ValueError:
            return None
    return None


def program_id_of(notice: Notice) -> int | None:
    """The program a notice is about, if any."""
    if notice.program_id is not None:
        return notice.program_id
    program = (notice.payload or {}).get("program")
    if isinstance(program, dict) and isinstance(program.get("id"), int):
        return int(program["id"])
    return None


def category_of(notice: Notice) -> str | None:
    """The category the "turn off" button toggles (the ledger's, else the payload's first)."""
    if notice.category:
        return notice.category
    listed = (notice.payload or {}).get("category")
    if isinstance(listed, list) and listed and isinstance(listed[0], str):
        return listed[0]
    return listed if isinstance(listed, str) and listed else None


def title_of(notice: Notice, lang: str) -> str:
    """The program's (or broadcast's) name in the family's language."""
    payload = notice.payload or {}
    return (
        localized(payload.get("name"), lang)
        or localized(payload.get("title"), lang)
        or t("untitled", lang)
    )


Json = dict[str, Any]


def _english(payload: dict[str, Any]) -> bool:
    """Whether the program's summary was written in English."""
    summary = payload.get("summary")
    return isinstance(summary, dict) and bool(summary.get("en"))


def _text(value: str, **style: Any) -> Json:
    """A Flex text; styles given as None are left out."""
    # Cut only when too long, and then after a sentence or a whole word (line breaks are lost).
    shown = value if len(value) <= MAX_TEXT else excerpt(value, MAX_TEXT) or ""
    text: Json = {"type": "text", "text": shown, "wrap": True}
    text.update((k, v) for k, v in style.items() if v is not None)
    return text


def _box(contents: list[Json], **style: Any) -> Json:
    return {"type": "box", "layout": "vertical", **style, "contents": contents}


def _button(action: Json, *, style: str, height: str = "sm") -> Json:
    return {"type": "button", "action": action, "height": height, "style": style}


def _postback(label: str, data: str, display_text: str | None = None) -> Json:
    action: Json = {"type": "postback", "label": label, "data": data}
    if display_text is not None:
        action["displayText"] = display_text
    return action


def _deadline_line(deadline: date | None, lang: str, today: date | None) -> Json:
    if deadline is None:
        return _text(t("deadline.none", lang), size="sm", margin="md")
    shown = format_date(deadline, lang)
    days = (deadline - today).days if today is not None else None
    if days is not None and days == 0:
        text = t("deadline.today", lang, date=shown)
    elif days is not None and 0 < days <= 30:
        text = t("deadline.days", lang, date=shown, days=days)
    else:
        text = t("deadline", lang, date=shown)
    urgent = days is not None and days <= URGENT_DAYS
    return _text(text, size="sm", weight="bold", margin="md", color="#C62828" if urgent else None)


def _buttons(notice: Notice, lang: str, *, applied: bool) -> list[Json]:
    payload = notice.payload or {}
    actions: list[Json] = []
    url = payload.get("reference_url") or payload.get("application_url") or payload.get("url")
    if isinstance(url, str) and url.startswith(("https://", "http://")) and len(url) <= MAX_URI:
        actions.append({"type": "uri", "label": t("details", lang), "uri": url})
    program = program_id_of(notice)
    listed = payload.get("category")
    categories = listed if isinstance(listed, list) else [notice.category]
    # Check-ups and vaccinations are gone to, not applied for: no "I applied" for them.
    if applied and program is not None and applies_for(categories):
        data = postback_data(pb.APPLIED, p=program)
        if data:
            label = t("applied", lang)
            actions.append(_postback(label, data, display_text=label))
    category = category_of(notice)
    if category:
        data = postback_data(pb.SETTINGS_CATEGORY, c=category)
        if data:
            actions.append(_postback(clip(t("off", lang), MAX_LABEL), data))
    return [
        _button(
            action,
            style="primary" if i == 0 else ("link" if i == len(actions) - 1 else "secondary"),
        )
        for i, action in enumerate(actions)
    ]


def _summary(payload: dict[str, Any], lang: str) -> str | None:
    """The program's short description in `lang` (the Japanese benefit line first)."""
    blurb = (payload.get("benefit") if lang == "ja" else None) or localized(
        payload.get("summary"), lang
    )
    # Payloads stored before excerpts kept whole sentences are mended on the way out.
    return mended(str(blurb)) if blurb else None


def program_bubble(notice: Notice, lang: str, today: date | None = None) -> Json:
    """A program's card (eligible, deadline reminders): what, for whom, why, until when, and
    the buttons details, "I applied" and "turn off this kind"."""
    payload = notice.payload or {}
    blurb = _summary(payload, lang)
    if lang == "en" and not _english(payload):
        # An imported item written in Japanese only: say so, rather than show Japanese text.
        blurb = t("japanese_only", lang)
    return card(notice, lang, today, blurb=blurb, deadline_line=True, applied=True)


def broadcast_bubble(notice: Notice, lang: str, today: date | None = None) -> Json:
    """A municipality's broadcast: its text, and a deadline only when it has one."""
    payload = notice.payload or {}
    blurb = _summary(payload, lang) or (
        localized(payload.get("text"), lang) or localized(payload.get("message"), lang)
    )
    has_deadline = deadline_of(notice) is not None
    return card(notice, lang, today, blurb=blurb, deadline_line=has_deadline, applied=False)


def card(
    notice: Notice,
    lang: str,
    today: date | None,
    *,
    blurb: str | None,
    deadline_line: bool,
    applied: bool,
) -> Json:
    """The card every kind is drawn on: its badge (`kind.<kind>` in TEXTS), title, whom it
    concerns, `blurb`, why it fits, the deadline when `deadline_line`, and the buttons (with
    "I applied" when `applied` and the program is applied for); within LINE's bubble size."""
    payload = notice.payload or {}
    deadline = deadline_of(notice)
    urgent = deadline is not None and today is not None and (deadline - today).days <= URGENT_DAYS
    badge = t(f"kind.{notice.kind}", lang) if f"kind.{notice.kind}" in TEXTS["ja"] else None
    lines: list[Json] = []
    if badge:
        color = "#C62828" if urgent or notice.kind == "deadline-2" else "#1E7D32"
        lines.append(_text(badge, size="xs", weight="bold", color=color))
    lines.append(_text(title_of(notice, lang), weight="bold", size="md"))
    who = localized(payload.get("child"), lang) or t("household", lang)
    lines.append(_text(t("for", lang, who=who), size="sm", color="#1565C0"))
    if blurb:
        lines.append(_text(str(blurb), size="sm", color="#555555"))
    # Reasons as sentences (`notifier.reasons`): a rule clause never reaches a parent.
    why = reason_texts(payload, lang)
    if why:
        lines.append(_text(t("why", lang), size="xs", color="#888888", margin="md"))
        lines.extend(_text(t("bullet", lang) + reason, size="sm") for reason in why)
    if deadline_line:
        lines.append(_deadline_line(deadline, lang, today))
    bubble: Json = {
        "type": "bubble",
        "size": "kilo",
        "body": _box(lines, spacing="sm"),
    }
    buttons = _buttons(notice, lang, applied=applied)
    if buttons:
        bubble["footer"] = _box(buttons, spacing="sm")
    if json_size(bubble) > MAX_BUBBLE_BYTES:
        # Cannot happen with ledger payloads (≤ 2 KB); keep the essentials if it ever does.
        essentials = [
            line for line in lines if line.get("size") != "sm" or line.get("weight") == "bold"
        ]
        bubble = {"type": "bubble", "size": "kilo", "body": _box(essentials)}
    return bubble


Renderer = Callable[[Notice, str, date | None], Json]
"""Draws one notice as a Flex bubble: (notice, language, today) → LINE JSON (usually `card`)."""

RENDERERS: dict[str, Renderer] = {
    "eligible": program_bubble,
    "deadline-7": program_bubble,
    "deadline-2": program_bubble,
    "broadcast": broadcast_bubble,
}
"""The renderer of each notice kind; a kind not listed is drawn as a program's card."""


def register_renderer(
    kind: str, renderer: Renderer, *, badge: Mapping[str, str] | None = None
) -> None:
    """Teach messages a new notice kind: its renderer and, optionally, its badge by language
    (`{"ja": ..., "en": ...}`). A kind is registered once."""
    if kind in RENDERERS:
        raise ValueError(f"notice kind {kind!r} already has a renderer")
    if badge is not None and set(badge) != set(TEXTS):
        raise ValueError(f"the badge of {kind!r} needs a text in each of {sorted(TEXTS)}")
    RENDERERS[kind] = renderer
    for lang, text in (badge or {}).items():
        TEXTS[lang][f"kind.{kind}"] = text


def notice_bubble(notice: Notice, lang: str, *, today: date | None = None) -> Json:
    """One notice as a card, drawn by the renderer of its kind."""
    return RENDERERS.get(notice.kind, program_bubble)(notice, lang, today)


def summary_bubble(rest: Sequence[Notice], lang: str) -> Json:
    """The last card when more notices came than a carousel holds: their names, and a way on."""
    names = [t("bullet", lang) + clip(title_of(n, lang), 60) for n in rest[:SUMMARY_NAMES]]
    if len(rest) > SUMMARY_NAMES:
        names.append(t("more.rest", lang, count=len(rest) - SUMMARY_NAMES))
    label = t("more.button", lang)
    data = postback_data(pb.MENU_PROGRAMS)
    assert data is not None
    return {
        "type": "bubble",
        "size": "kilo",
        "body": _box(
            [
                _text(t("more.title", lang, count=len(rest)), weight="bold", size="md"),
                *(_text(name, size="sm") for name in names),
            ],
            spacing="sm",
        ),
        "footer": _box([_button(_postback(label, data, display_text=label), style="primary")]),
    }


KIND_URGENCY = {"deadline-2": 0, "deadline-7": 1, "eligible": 2}


def card_key(notice: Notice) -> tuple[Any, ...]:
    """What one card is about: a program (or broadcast) and the child it names."""
    program = program_id_of(notice)
    subject = ("program", program) if program is not None else (notice.subject, notice.id)
    child = localized((notice.payload or {}).get("child"), "ja")
    return (*subject, notice.child_key or child or "")


def urgency(notice: Notice) -> tuple[int, date, int]:
    """Sorts the most urgent fact first: the nearer reminder, the nearer deadline."""
    kind = KIND_URGENCY.get(notice.kind, len(KIND_URGENCY))
    return (kind, deadline_of(notice) or date.max, -(notice.id or 0))


def one_per_card(notices: Sequence[Notice]) -> list[Notice]:
    """One notice per (program, child): an eligibility notice and a deadline reminder of the
    same program and child make one card showing the most urgent of them."""
    chosen: dict[tuple[Any, ...], Notice] = {}
    for notice in notices:
        key = card_key(notice)
        if key not in chosen or urgency(notice) < urgency(chosen[key]):
            chosen[key] = notice
    return list(chosen.values())


def order(notices: Sequence[Notice]) -> list[Notice]:
    """Nearest deadline first (no deadline last), then oldest."""
    return sorted(notices, key=lambda n: (deadline_of(n) or date.max, n.id or 0))


def alt_text(notices: Sequence[Notice], lang: str) -> str:
    """What the notification and old clients show (≤ 1,500 characters)."""
    titles = dict.fromkeys(title_of(n, lang) for n in notices)  # each name once
    names = t("sep", lang).join(titles)
    return clip(t("alt", lang, count=len(notices), names=names), MAX_ALT_TEXT)


def notice_message(
    notices: Sequence[Notice], lang: str, *, today: date | None = None
) -> dict[str, Any]:
    """One Flex message (LINE JSON) carrying a family's notices, within every LINE limit.

    A program and child appear once, however many of their notices go out together.
    """
    if not notices:
        raise ValueError("a message needs at least one notice")
    ordered = order(one_per_card(notices))
    bubbles = [notice_bubble(n, lang, today=today) for n in ordered]
    if len(bubbles) == 1:
        container = bubbles[0]
    else:
        shown = len(bubbles) if len(bubbles) <= MAX_BUBBLES else MAX_BUBBLES - 1
        while True:
            cards = bubbles[:shown]
            if shown < len(bubbles):
                cards = [*cards, summary_bubble(ordered[shown:], lang)]
            container = {"type": "carousel", "contents": cards}
            if json_size(container) <= MAX_CAROUSEL_BYTES or shown <= 1:
                break
            shown -= 1
    return {"type": "flex", "altText": alt_text(ordered, lang), "contents": container}


def app_payload(notice: Notice, lang: str) -> dict[str, Any]:
    """What an app backend receives for one notice (its content as the ledger keeps it)."""
    deadline = deadline_of(notice)
    return {
        "event": "notice",
        "notice_id": notice.id,
        "family_id": notice.family_id,
        "kind": notice.kind,
        "category": notice.category,
        "program_id": program_id_of(notice),
        "deadline": deadline.isoformat() if deadline else None,
        "language": lang,
        "content": for_parents(notice.payload or {}),
    }
