"""Playing the users: webhook events built, signed and delivered the way LINE does it.

This module drives the `state.Emulator` (`play(emulator, user_id, spec)` is what
`POST /_emulator/users/{userId}/events` does, from Python); the state never calls back here.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
from typing import Any

import aiohttp

from integrations.line_emulator.limits import USER_ID
from integrations.line_emulator.state import Emulator, LineError

EVENT_TYPES = {"follow", "unfollow", "message", "postback", "location"}
MODES = {"active", "standby"}
WEBHOOK_USER_AGENT = "LineBotWebhook/2.0"


def sign(body: bytes, channel_secret: str) -> str:
    """`x-line-signature`: base64 of HMAC-SHA256 over the raw body, keyed by the secret."""
    digest = hmac.new(channel_secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def encode_body(destination: str, events: list[dict[str, Any]]) -> bytes:
    """The webhook body as LINE sends it: compact UTF-8 JSON, Japanese left unescaped."""
    payload = {"destination": destination, "events": events}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _bad(message: str) -> LineError:
    return LineError(400, message)


def _text(spec: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = spec.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise _bad(f"`{name}` must be a non-empty string")
    return value


def build_event(emulator: Emulator, user_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A new webhook event from a short description, and the user's state moved along."""
    if not isinstance(user_id, str) or not USER_ID.match(user_id):
        raise _bad("userId must be `U` followed by 32 lowercase hex digits")
    kind = spec.get("type")
    if kind not in EVENT_TYPES:
        raise _bad(f"type must be one of {sorted(EVENT_TYPES)}")
    mode = spec.get("mode", "active")
    if mode not in MODES:
        raise _bad("mode must be active or standby")
    known = emulator.users.get(user_id)
    blocked = known is not None and known.status == "blocked"
    if kind in {"message", "postback", "location"} and blocked:
        # A user who blocked the account has no chat with it; follow (unblock) first.
        raise LineError(409, "this user has blocked the account: send a follow event first")
    event: dict[str, Any] = {"type": "message" if kind == "location" else kind}
    if kind == "follow":
        unblocked = spec.get("isUnblocked", blocked)
        if not isinstance(unblocked, bool):
            raise _bad("isUnblocked must be a boolean")
        event["follow"] = {"isUnblocked": unblocked}
    elif kind == "message":
        text = _text(spec, "text", required=True)
        event["message"] = {
            "id": emulator.new_message_id(),
            "type": "text",
            "text": text,
            "quoteToken": emulator.new_hex(32),
        }
    elif kind == "location":
        latitude, longitude = spec.get("latitude"), spec.get("longitude")
        if not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in (latitude, longitude)
        ):
            raise _bad("latitude and longitude must be numbers")
        message: dict[str, Any] = {"id": emulator.new_message_id(), "type": "location"}
        for name in ("title", "address"):
            value = _text(spec, name, required=False)
            if value is not None:
                message[name] = value
        message.update(latitude=latitude, longitude=longitude)
        event["message"] = message
    elif kind == "postback":
        postback: dict[str, Any] = {"data": _text(spec, "data", required=True)}
        params = spec.get("params")
        if params is not None:
            if not isinstance(params, dict) or not all(
                isinstance(v, str) for v in params.values()
            ):
                raise _bad("params must be an object of strings")
            postback["params"] = params
        event["postback"] = postback
    now = emulator.now()
    if kind != "unfollow":  # LINE gives no reply token for an unfollow: there is no one to answer
        event["replyToken"] = emulator.issue_reply_token(user_id)
    event.update(
        mode=mode,
        timestamp=int(now.timestamp() * 1000),
        source={"type": "user", "userId": user_id},
        webhookEventId=emulator.new_ulid(),
        deliveryContext={"isRedelivery": False},
    )
    user = emulator.user(user_id)
    if kind == "follow":
        user.status, user.since = "follower", now
    elif kind == "unfollow":
        user.status, user.since = "blocked", now
    _remember(emulator, user_id, event)
    return event


def _remember(emulator: Emulator, user_id: str, event: dict[str, Any]) -> None:
    emulator.events[event["webhookEventId"]] = (user_id, event)
    if len(emulator.events) > emulator.config.request_log_limit:
        del emulator.events[next(iter(emulator.events))]


def redelivery(emulator: Emulator, user_id: str, webhook_event_id: Any) -> dict[str, Any]:
    """An earlier event again: same id and body, `deliveryContext.isRedelivery` true."""
    found = emulator.events.get(webhook_event_id) if isinstance(webhook_event_id, str) else None
    if found is None or found[0] != user_id:
        raise LineError(404, f"no event {webhook_event_id!r} of user {user_id}")
    event = copy.deepcopy(found[1])
    event["deliveryContext"] = {"isRedelivery": True}
    return event


async def post_webhook(
    emulator: Emulator, events: list[dict[str, Any]], *, signature: str | None = None
) -> dict[str, Any] | None:
    """POST events to the webhook URL, signed; its status and time, None with no URL set."""
    url = emulator.config.webhook_url
    if not url:
        return None
    if emulator.session is None:
        raise LineError(503, "the emulator is not running (its HTTP client is closed)")
    body = encode_body(emulator.config.bot_user_id, events)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "x-line-signature": signature or sign(body, emulator.config.channel_secret),
        "User-Agent": WEBHOOK_USER_AGENT,
    }
    started = time.perf_counter()
    try:
        async with emulator.session.post(url, data=body, headers=headers) as response:
            await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        emulator.webhook_counts["unreachable"] += 1
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        raise LineError(
            502,
            f"webhook {url} unreachable: {type(exc).__name__} {exc}".strip(),
            extra={"webhook": {"status": None, "elapsed_ms": elapsed}},
        ) from exc
    emulator.webhook_counts[str(status)] += 1
    return {"status": status, "elapsed_ms": round((time.perf_counter() - started) * 1000, 1)}


async def play(emulator: Emulator, user_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    """One user action (or a redelivery) sent to the bot; the event and the webhook's answer."""
    if "redeliver" in spec:
        event = redelivery(emulator, user_id, spec["redeliver"])
    else:
        event = build_event(emulator, user_id, spec)
    try:
        webhook = await post_webhook(emulator, [event])
    except LineError as exc:
        exc.extra["event"] = event  # the user acted even if the bot did not hear it
        raise
    return {"event": event, "webhook": webhook}


async def play_raw(
    emulator: Emulator, items: list[Any], *, signature: str | None = None
) -> dict[str, Any]:
    """Several events in one delivery: full event objects as given, or user actions to build."""
    events = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _bad(f"events[{index}] must be an object")
        if "webhookEventId" in item:
            events.append(item)
        else:
            spec = {k: v for k, v in item.items() if k != "userId"}
            events.append(build_event(emulator, item.get("userId", ""), spec))
    webhook = await post_webhook(emulator, events, signature=signature)
    return {"events": events, "webhook": webhook}
