"""LINE's documented limits that its OpenAPI document leaves out, checked explicitly.

Sizes in bytes use 30,000/50,000 for LINE's "30 KB"/"50 KB": erring small means a message the
emulator accepts is one LINE accepts. Lengths count Unicode code points.
"""

from __future__ import annotations

import json
import re
from typing import Any

from integrations.line_emulator.validation import Detail, child, detail

USER_ID = re.compile(r"^U[0-9a-f]{32}$")

MAX_MESSAGES = 5
MAX_MULTICAST_TO = 500
MAX_TEXT = 5000
MAX_QUICK_REPLY_ITEMS = 13
MAX_LABEL = 20
MAX_FLEX_LABEL = 40  # a Flex button's action label may be longer than elsewhere
MAX_POSTBACK_DATA = 300
MAX_ACTION_TEXT = 300
MAX_URI = 1000
MAX_FLEX_ALT_TEXT = 1500
MAX_TEMPLATE_ALT_TEXT = 400
MAX_BUBBLE_BYTES = 30_000
MAX_CAROUSEL_BYTES = 50_000
MAX_CAROUSEL_BUBBLES = 12
MAX_RICH_MENU_AREAS = 20

MESSAGE_TYPES = {
    "text",
    "textV2",
    "sticker",
    "image",
    "video",
    "audio",
    "location",
    "imagemap",
    "template",
    "flex",
    "coupon",
}
ACTION_TYPES = {
    "camera",
    "cameraRoll",
    "clipboard",
    "datetimepicker",
    "location",
    "message",
    "postback",
    "richmenuswitch",
    "uri",
}
HTTPS_MEDIA = {
    "image": ("originalContentUrl", "previewImageUrl"),
    "video": ("originalContentUrl", "previewImageUrl"),
    "audio": ("originalContentUrl",),
}


def _too_long(value: Any, limit: int) -> bool:
    return isinstance(value, str) and len(value) > limit


def _length(path: str, limit: int, low: int = 0) -> Detail:
    return detail(path, f"Length must be between {low} and {limit}")


def check_user_id(value: Any, path: str, errors: list[Detail]) -> None:
    """LINE user ids: `U` and 32 lowercase hex digits."""
    if not isinstance(value, str) or not USER_ID.match(value):
        errors.append(detail(path, "must be a valid user ID (U followed by 32 hex digits)"))


def check_request(operation: str, body: Any, raw_size: int | None = None) -> list[Detail]:
    """The limits an operation's body breaks (the body already passed the schema).

    `raw_size`, the bytes of the request as sent: no part of a body can be larger in compact
    UTF-8 JSON than the whole was, so a request under 30 KB skips measuring its Flex parts.
    """
    errors: list[Detail] = []
    measure = raw_size is None or raw_size > MAX_BUBBLE_BYTES
    if not isinstance(body, dict):
        return [detail("", "must be an object")]
    if operation == "push":
        check_user_id(body.get("to"), "to", errors)
    elif operation == "multicast":
        recipients = body.get("to")
        if not isinstance(recipients, list) or not 1 <= len(recipients) <= MAX_MULTICAST_TO:
            errors.append(detail("to", f"Size must be between 1 and {MAX_MULTICAST_TO}"))
        else:
            for index, user_id in enumerate(recipients):
                check_user_id(user_id, f"to[{index}]", errors)
    elif operation == "reply":
        token = body.get("replyToken")
        if not isinstance(token, str) or not token:
            errors.append(detail("replyToken", "must be specified"))
    elif operation == "loading":
        check_user_id(body.get("chatId"), "chatId", errors)
        seconds = body.get("loadingSeconds", 20)
        if not isinstance(seconds, int) or seconds % 5 or not 5 <= seconds <= 60:
            errors.append(detail("loadingSeconds", "must be a multiple of 5 between 5 and 60"))
    if operation in {"richmenu_create", "richmenu_validate"}:
        check_rich_menu(body, errors)
    elif operation != "loading":
        check_messages(body.get("messages"), errors, measure=measure)
    return errors


def check_messages(messages: Any, errors: list[Detail], *, measure: bool = True) -> None:
    """At most five messages, each within LINE's limits (sizes only when `measure`)."""
    if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
        errors.append(detail("messages", f"Size must be between 1 and {MAX_MESSAGES}"))
        return
    for index, message in enumerate(messages):
        check_message(message, f"messages[{index}]", errors, measure=measure)


def check_message(message: Any, path: str, errors: list[Detail], *, measure: bool = True) -> None:
    """One message object."""
    if not isinstance(message, dict):
        errors.append(detail(path, "must be an object"))
        return
    kind = message.get("type")
    if kind not in MESSAGE_TYPES:
        errors.append(detail(child(path, "type"), f"unknown message type {kind!r}"))
        return
    if kind in {"text", "textV2"}:
        text = message.get("text")
        if not isinstance(text, str) or not text:
            errors.append(detail(child(path, "text"), "must be specified"))
        elif len(text) > MAX_TEXT:
            errors.append(_length(child(path, "text"), MAX_TEXT))
    for field in HTTPS_MEDIA.get(kind, ()):
        _check_https(message.get(field), child(path, field), errors)
    if kind == "template":
        _check_alt_text(message, path, MAX_TEMPLATE_ALT_TEXT, errors)
        check_template(message.get("template"), child(path, "template"), errors)
    elif kind == "imagemap":
        _check_alt_text(message, path, MAX_TEMPLATE_ALT_TEXT, errors)
    elif kind == "flex":
        _check_alt_text(message, path, MAX_FLEX_ALT_TEXT, errors)
        check_flex(message.get("contents"), child(path, "contents"), errors, measure=measure)
    quick_reply = message.get("quickReply")
    if isinstance(quick_reply, dict):
        _check_quick_reply(quick_reply, child(path, "quickReply"), errors)


def _check_https(url: Any, path: str, errors: list[Detail]) -> None:
    if isinstance(url, str):
        if not url.startswith("https://"):
            errors.append(detail(path, "must be an HTTPS URL"))
        elif len(url) > 2000:
            errors.append(_length(path, 2000))


def _check_alt_text(message: dict[str, Any], path: str, limit: int, errors: list[Detail]) -> None:
    alt_text = message.get("altText")
    if not isinstance(alt_text, str) or not alt_text:
        errors.append(detail(child(path, "altText"), "must be specified"))
    elif len(alt_text) > limit:
        errors.append(_length(child(path, "altText"), limit, 1))


def _check_quick_reply(quick_reply: dict[str, Any], path: str, errors: list[Detail]) -> None:
    items = quick_reply.get("items")
    items_path = child(path, "items")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_QUICK_REPLY_ITEMS:
        errors.append(detail(items_path, f"Size must be between 1 and {MAX_QUICK_REPLY_ITEMS}"))
        return
    for index, item in enumerate(items):
        item_path = f"{items_path}[{index}]"
        action = item.get("action") if isinstance(item, dict) else None
        if action is None:
            errors.append(detail(child(item_path, "action"), "must be specified"))
            continue
        # A quick reply button shows its label, so LINE requires one.
        check_action(action, child(item_path, "action"), errors, label_required=True)


def check_action(
    action: Any,
    path: str,
    errors: list[Detail],
    *,
    label_required: bool = False,
    label_limit: int = MAX_LABEL,
) -> None:
    """One action object: type, label, postback data and texts within LINE's limits."""
    if not isinstance(action, dict):
        errors.append(detail(path, "must be an object"))
        return
    kind = action.get("type")
    if kind not in ACTION_TYPES:
        errors.append(detail(child(path, "type"), f"unknown action type {kind!r}"))
        return
    label = action.get("label")
    if label is None or label == "":
        if label_required:
            errors.append(detail(child(path, "label"), "must be specified"))
    elif _too_long(label, label_limit):
        errors.append(_length(child(path, "label"), label_limit))
    if kind in {"postback", "datetimepicker"}:
        data = action.get("data")
        if not isinstance(data, str):
            errors.append(detail(child(path, "data"), "must be specified"))
        elif len(data) > MAX_POSTBACK_DATA:
            errors.append(_length(child(path, "data"), MAX_POSTBACK_DATA))
    if kind == "datetimepicker" and action.get("mode") not in {"date", "time", "datetime"}:
        errors.append(detail(child(path, "mode"), "must be one of date, time, datetime"))
    if kind == "message":
        text = action.get("text")
        if not isinstance(text, str) or not text:
            errors.append(detail(child(path, "text"), "must be specified"))
        elif len(text) > MAX_ACTION_TEXT:
            errors.append(_length(child(path, "text"), MAX_ACTION_TEXT))
    for field in ("displayText", "text", "fillInText"):
        if kind == "postback" and _too_long(action.get(field), MAX_ACTION_TEXT):
            errors.append(_length(child(path, field), MAX_ACTION_TEXT))
    if kind == "uri":
        uri = action.get("uri")
        if not isinstance(uri, str) or not uri:
            errors.append(detail(child(path, "uri"), "must be specified"))
        elif len(uri) > MAX_URI:
            errors.append(_length(child(path, "uri"), MAX_URI))


def check_template(template: Any, path: str, errors: list[Detail]) -> None:
    """Buttons, confirm, carousel and image carousel templates."""
    if not isinstance(template, dict):
        errors.append(detail(path, "must be specified"))
        return
    kind = template.get("type")
    if kind == "buttons":
        has_header = bool(template.get("thumbnailImageUrl") or template.get("title"))
        _check_column(template, path, errors, text_limit=60 if has_header else 160, actions=4)
    elif kind == "confirm":
        if _too_long(template.get("text"), 240):
            errors.append(_length(child(path, "text"), 240))
        actions = template.get("actions")
        if not isinstance(actions, list) or len(actions) != 2:
            errors.append(detail(child(path, "actions"), "Size must be between 2 and 2"))
        else:
            for index, action in enumerate(actions):
                check_action(action, f"{path}.actions[{index}]", errors, label_required=True)
    elif kind in {"carousel", "image_carousel"}:
        columns = template.get("columns")
        if not isinstance(columns, list) or not 1 <= len(columns) <= 10:
            errors.append(detail(child(path, "columns"), "Size must be between 1 and 10"))
            return
        for index, column in enumerate(columns):
            column_path = f"{path}.columns[{index}]"
            if not isinstance(column, dict):
                errors.append(detail(column_path, "must be an object"))
            elif kind == "carousel":
                has_header = bool(column.get("thumbnailImageUrl") or column.get("title"))
                _check_column(
                    column, column_path, errors, text_limit=60 if has_header else 120, actions=3
                )
            else:
                check_action(column.get("action"), child(column_path, "action"), errors)


def _check_column(
    column: dict[str, Any], path: str, errors: list[Detail], *, text_limit: int, actions: int
) -> None:
    if _too_long(column.get("title"), 40):
        errors.append(_length(child(path, "title"), 40))
    text = column.get("text")
    if not isinstance(text, str) or not text:
        errors.append(detail(child(path, "text"), "must be specified"))
    elif len(text) > text_limit:
        errors.append(_length(child(path, "text"), text_limit, 1))
    listed = column.get("actions")
    if not isinstance(listed, list) or not 1 <= len(listed) <= actions:
        errors.append(detail(child(path, "actions"), f"Size must be between 1 and {actions}"))
        return
    for index, action in enumerate(listed):
        check_action(action, f"{path}.actions[{index}]", errors, label_required=True)
    if column.get("defaultAction") is not None:
        check_action(column["defaultAction"], child(path, "defaultAction"), errors)


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def check_flex(container: Any, path: str, errors: list[Detail], *, measure: bool = True) -> None:
    """A Flex bubble ≤ 30 KB, a carousel ≤ 12 bubbles and ≤ 50 KB, actions within limits."""
    if not isinstance(container, dict):
        errors.append(detail(path, "must be specified"))
        return
    if container.get("type") == "carousel":
        bubbles = container.get("contents")
        if not isinstance(bubbles, list) or not 1 <= len(bubbles) <= MAX_CAROUSEL_BUBBLES:
            errors.append(
                detail(
                    child(path, "contents"), f"Size must be between 1 and {MAX_CAROUSEL_BUBBLES}"
                )
            )
            return
        if measure and _json_size(container) > MAX_CAROUSEL_BYTES:
            errors.append(detail(path, f"must be at most {MAX_CAROUSEL_BYTES} bytes of JSON"))
        for index, bubble in enumerate(bubbles):
            _check_bubble(bubble, f"{path}.contents[{index}]", errors, measure)
    else:
        _check_bubble(container, path, errors, measure)


def _check_bubble(bubble: Any, path: str, errors: list[Detail], measure: bool = True) -> None:
    if measure and _json_size(bubble) > MAX_BUBBLE_BYTES:
        errors.append(detail(path, f"must be at most {MAX_BUBBLE_BYTES} bytes of JSON"))
    if isinstance(bubble, dict):
        for block in ("header", "hero", "body", "footer"):
            _check_flex_actions(bubble.get(block), child(path, block), errors)
        if bubble.get("action") is not None:
            check_action(
                bubble["action"], child(path, "action"), errors, label_limit=MAX_FLEX_LABEL
            )


def _check_flex_actions(component: Any, path: str, errors: list[Detail]) -> None:
    if not isinstance(component, dict):
        return
    if component.get("action") is not None:
        check_action(
            component["action"],
            child(path, "action"),
            errors,
            label_required=component.get("type") == "button",
            label_limit=MAX_FLEX_LABEL,
        )
    if component.get("type") == "image":
        _check_https(component.get("url"), child(path, "url"), errors)
    contents = component.get("contents")
    if component.get("type") == "box" and isinstance(contents, list):
        for index, inner in enumerate(contents):
            _check_flex_actions(inner, f"{path}.contents[{index}]", errors)


def check_rich_menu(menu: dict[str, Any], errors: list[Detail]) -> None:
    """The rich menu object: every field LINE requires, its size and its areas."""
    for name in ("size", "selected", "name", "chatBarText", "areas"):
        if menu.get(name) is None:
            errors.append(detail(name, "must be specified"))
    size = menu.get("size")
    if isinstance(size, dict):
        width, height = size.get("width"), size.get("height")
        if not isinstance(width, int) or not 800 <= width <= 2500:
            errors.append(detail("size.width", "must be between 800 and 2500"))
        elif not isinstance(height, int) or height < 250 or width / height < 1.45:
            errors.append(detail("size.height", "must be at least 250 with width/height ≥ 1.45"))
    if _too_long(menu.get("chatBarText"), 14):
        errors.append(_length("chatBarText", 14))
    if _too_long(menu.get("name"), 300):
        errors.append(_length("name", 300))
    areas = menu.get("areas")
    if isinstance(areas, list):
        if len(areas) > MAX_RICH_MENU_AREAS:
            errors.append(detail("areas", f"Size must be between 0 and {MAX_RICH_MENU_AREAS}"))
        for index, area in enumerate(areas):
            path = f"areas[{index}]"
            if not isinstance(area, dict) or area.get("bounds") is None:
                errors.append(detail(child(path, "bounds"), "must be specified"))
                continue
            check_action(area.get("action"), child(path, "action"), errors)
            if isinstance(size, dict):
                _check_bounds(area["bounds"], size, child(path, "bounds"), errors)


def _check_bounds(bounds: Any, size: dict[str, Any], path: str, errors: list[Detail]) -> None:
    if not isinstance(bounds, dict):
        errors.append(detail(path, "must be an object"))
        return
    try:
        x, y = int(bounds.get("x", 0)), int(bounds.get("y", 0))
        width, height = int(bounds["width"]), int(bounds["height"])
        inside = x >= 0 and y >= 0 and x + width <= size["width"] and y + height <= size["height"]
    except (KeyError, TypeError, ValueError):
        inside = False
    if not inside:
        errors.append(detail(path, "must lie inside the rich menu"))
