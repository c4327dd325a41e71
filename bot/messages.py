"""Builders of LINE message objects (line-bot-sdk v3 models), always within LINE's limits.

Limits (LINE Messaging API reference): text ≤ 5,000 characters; quick reply ≤ 13 items with
labels ≤ 20 characters; postback data ≤ 300 characters (checked by `postback_data`); template
altText ≤ 400 and confirm text ≤ 240; Flex altText ≤ 1,500, a bubble ≤ 30 KB, a carousel ≤ 12
bubbles and ≤ 50 KB of JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

from linebot.v3.messaging import (
    ConfirmTemplate,
    DatetimePickerAction,
    FlexBox,
    FlexBubble,
    FlexButton,
    FlexCarousel,
    FlexMessage,
    FlexSeparator,
    FlexText,
    LocationAction,
    MessageAction,
    PostbackAction,
    QuickReply,
    QuickReplyItem,
    TemplateMessage,
    TextMessage,
    URIAction,
)

from bot.dispatch import postback_data

MAX_TEXT = 5000
MAX_QUICK_ITEMS = 13
MAX_LABEL = 20
MAX_FLEX_LABEL = 40
MAX_TEMPLATE_ALT = 400
MAX_CONFIRM_TEXT = 240
MAX_FLEX_ALT = 1500
MAX_BUBBLES = 12
MAX_BUBBLE_BYTES = 30_000
MAX_CAROUSEL_BYTES = 50_000
MAX_URI = 1000


def clip(value: str, limit: int) -> str:
    """Cut a text to `limit` characters, marking the cut with an ellipsis."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def label(value: str) -> str:
    """A quick-reply or template label (≤ 20 characters)."""
    return clip(value, MAX_LABEL)


def postback(
    text_label: str, action: str, *, display: str | None = None, **params: Any
) -> PostbackAction:
    """A postback action; `display` is shown in the chat as if the parent had typed it."""
    return PostbackAction(
        label=label(text_label),
        data=postback_data(action, **params),
        display_text=clip(display, 300) if display else None,
    )


def location(text_label: str) -> LocationAction:
    """A quick reply that opens LINE's location sharing (the answer is a location message)."""
    return LocationAction(label=label(text_label))


def date_picker(
    text_label: str, action: str, *, initial: date, low: date, high: date, **params: Any
) -> DatetimePickerAction:
    """A date picker (mode date) between `low` and `high`; the date comes back in params."""
    initial = min(max(initial, low), high)
    return DatetimePickerAction(
        label=label(text_label),
        data=postback_data(action, **params),
        mode="date",
        initial=initial.isoformat(),
        min=low.isoformat(),
        max=high.isoformat(),
    )


def say_action(text_label: str, text: str) -> MessageAction:
    """An action that sends `text` as the parent's message."""
    return MessageAction(label=label(text_label), text=clip(text, 300))


def quick(actions: Sequence[Any]) -> QuickReply | None:
    """Quick reply buttons (at most 13; None when there are none)."""
    items = [QuickReplyItem(action=a) for a in list(actions)[:MAX_QUICK_ITEMS]]
    return QuickReply(items=items) if items else None


def text(body: str, actions: Sequence[Any] = ()) -> TextMessage:
    """A text message (≤ 5,000 characters) with optional quick replies."""
    return TextMessage(text=clip(body, MAX_TEXT), quick_reply=quick(actions))


def confirm(
    body: str, yes: Any, no: Any, *, alt: str | None = None, actions: Sequence[Any] = ()
) -> TemplateMessage:
    """A confirm template (two buttons); `alt` is what notifications and old clients show."""
    return TemplateMessage(
        alt_text=clip(alt or body, MAX_TEMPLATE_ALT),
        template=ConfirmTemplate(text=clip(body, MAX_CONFIRM_TEXT), actions=[yes, no]),
        quick_reply=quick(actions),
    )


def flex_size(container: Any) -> int:
    """Bytes of a Flex container's JSON, as LINE measures the limits."""
    return len(json.dumps(container.to_dict(), ensure_ascii=False, separators=(",", ":")).encode())


def carousel(alt: str, bubbles: Sequence[FlexBubble], actions: Sequence[Any] = ()) -> FlexMessage:
    """A Flex carousel of at most 12 bubbles and 50 KB (the tail is dropped if over)."""
    kept = [b for b in bubbles if flex_size(b) <= MAX_BUBBLE_BYTES][:MAX_BUBBLES]
    container = FlexCarousel(contents=kept)
    while len(kept) > 1 and flex_size(container) > MAX_CAROUSEL_BYTES:
        kept = kept[:-1]
        container = FlexCarousel(contents=kept)
    return FlexMessage(
        alt_text=clip(alt, MAX_FLEX_ALT), contents=container, quick_reply=quick(actions)
    )


def flex_text(value: str, **style: Any) -> FlexText:
    """A wrapped Flex text (Flex has no length limit per text; keep them readable)."""
    return FlexText(text=clip(value, 2000), wrap=True, **style)


def bubble(
    title: str,
    lines: Sequence[FlexText | FlexBox | FlexSeparator],
    buttons: Sequence[Any] = (),
    *,
    badge: str | None = None,
) -> FlexBubble:
    """A card: bold title, optional badge, body lines, and buttons in the footer."""
    head: list[Any] = [flex_text(title, weight="bold", size="md")]
    if badge:
        head.append(flex_text(badge, size="xs", color="#1E7D32", weight="bold"))
    body = FlexBox(layout="vertical", spacing="sm", contents=[*head, *lines])
    footer = None
    if buttons:
        footer = FlexBox(
            layout="vertical",
            spacing="sm",
            contents=[
                FlexButton(
                    action=action,
                    style="primary" if i == 0 else "secondary",
                    height="sm",
                )
                for i, action in enumerate(buttons)
            ],
        )
    return FlexBubble(size="kilo", body=body, footer=footer)


def uri(text_label: str, url: str) -> URIAction | None:
    """A link button's action, or None for a URL LINE would refuse."""
    if not url.startswith(("https://", "http://")) or len(url) > MAX_URI:
        return None
    return URIAction(label=clip(text_label, MAX_FLEX_LABEL), uri=url)
