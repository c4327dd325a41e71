"""`/_emulator/*`: play the users, inspect what the bot sent, tune faults, and the chat page."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web

from integrations.line_emulator.api import EMULATOR
from integrations.line_emulator.events import play, play_raw
from integrations.line_emulator.limits import USER_ID
from integrations.line_emulator.state import LineError


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LineError(400, f"the body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise LineError(400, "the body must be a JSON object")
    return body


def _int_query(request: web.Request, name: str, default: int | None) -> int | None:
    text = request.query.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError as exc:
        raise LineError(400, f"`{name}` must be an integer") from exc


ControlHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Set by a reverse proxy: the request came from elsewhere, whatever the peer address says.
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def from_loopback(request: web.Request) -> bool:
    """The request comes from this machine itself, not through a proxy."""
    if any(name in request.headers for name in PROXY_HEADERS):
        return False
    try:
        address = ipaddress.ip_address((request.remote or "").split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _local_only(handler: ControlHandler) -> ControlHandler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        # Whoever reaches these routes plays any user and changes the emulator's settings: only
        # someone on this machine may.
        if not from_loopback(request):
            raise LineError(
                403,
                "the LINE emulator's control routes and chat page answer only requests from "
                "this machine (loopback, not through a proxy)",
            )
        return await handler(request)

    return guarded


def _user_id(request: web.Request) -> str:
    user_id = request.match_info["userId"]
    if not USER_ID.match(user_id):
        raise LineError(400, "userId must be `U` followed by 32 lowercase hex digits")
    return user_id


async def page(request: web.Request) -> web.Response:
    """The chat page (relative URLs, so it works under any mount prefix)."""
    html = resources.files("integrations.line_emulator").joinpath("page.html").read_bytes()
    return web.Response(body=html, content_type="text/html", charset="utf-8")


async def page_redirect(request: web.Request) -> web.Response:
    """`/_emulator` → `/_emulator/` so the page's relative URLs resolve under it."""
    raise web.HTTPFound(request.path + "/")


async def list_requests(request: web.Request) -> web.Response:
    """Logged API requests: `?path=/v2/bot/message/push&since=<seq>&status=<code>`.

    `&compact=1` leaves out bodies and headers, keeping for each request its seq, path, status,
    retry key, recipients (`to`) and number of messages: what a load test needs to count
    deliveries, at a fraction of the size.
    """
    emulator = request.app[EMULATOR]
    found = emulator.requests(
        path=request.query.get("path") or None,
        since=_int_query(request, "since", 0) or 0,
        status=_int_query(request, "status", None),
    )
    if request.query.get("compact") in {"1", "true"}:
        found = [_compact(entry) for entry in found]
    return web.json_response({"requests": found, "last_seq": emulator.last_request_seq})


def _compact(entry: dict[str, Any]) -> dict[str, Any]:
    logged = entry.get("body")
    body: dict[str, Any] = logged if isinstance(logged, dict) else {}
    messages = body.get("messages")
    return {
        "seq": entry["seq"],
        "path": entry["path"],
        "status": entry["status"],
        "retry_key": (entry.get("headers") or {}).get("X-Line-Retry-Key"),
        "to": body.get("to"),
        "messages": len(messages) if isinstance(messages, list) else 0,
    }


async def list_users(request: web.Request) -> web.Response:
    """Every user seen, with their state and rich menu."""
    emulator = request.app[EMULATOR]
    users = [
        {**u.as_json(), "richMenuId": emulator.rich_menus.menu_for(u.user_id)}
        for u in emulator.users.values()
    ]
    return web.json_response({"users": users})


async def user_messages(request: web.Request) -> web.Response:
    """What reached one user, in order: `{seq, via, time, requestId, id, message}`."""
    emulator = request.app[EMULATOR]
    user_id = _user_id(request)
    since = _int_query(request, "since", 0) or 0
    user = emulator.users.get(user_id)
    return web.json_response(
        {
            "userId": user_id,
            "user": user.as_json() if user else None,
            "messages": emulator.messages_for(user_id, since),
        }
    )


async def user_events(request: web.Request) -> web.Response:
    """One action of a user, sent to the webhook: `{"event", "webhook": {status, elapsed_ms}}`."""
    answer = await play(request.app[EMULATOR], _user_id(request), await _json_object(request))
    return web.json_response(answer)


async def reply_tokens(request: web.Request) -> web.Response:
    """Issue reply tokens for a user's events built elsewhere: `{"count": N}` → tokens.

    For load tests that sign and post their own webhooks yet want the bot's replies accepted.
    """
    user_id = _user_id(request)
    body = await _json_object(request)
    count = body.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 1000:
        raise LineError(400, "count must be an integer from 1 to 1000")
    emulator = request.app[EMULATOR]
    emulator.user(user_id)
    tokens = [emulator.issue_reply_token(user_id) for _ in range(count)]
    return web.json_response({"userId": user_id, "replyTokens": tokens})


async def user_rich_menu(request: web.Request) -> web.Response:
    """The rich menu a user sees (own link, else default), for the chat page."""
    emulator = request.app[EMULATOR]
    menu_id = emulator.rich_menus.menu_for(_user_id(request))
    menu = emulator.rich_menus.menus.get(menu_id) if menu_id else None
    if menu is None:
        return web.json_response({"richMenu": None})
    return web.json_response({"richMenu": menu.as_response(), "hasImage": menu.image is not None})


async def rich_menu_image(request: web.Request) -> web.Response:
    """A rich menu's image without the API's token, for the chat page."""
    emulator = request.app[EMULATOR]
    menu = emulator.rich_menus.menus.get(request.match_info["richMenuId"])
    if menu is None or menu.image is None:
        raise LineError(404, "no such rich menu image")
    return web.Response(body=menu.image, content_type=menu.content_type or "image/png")


async def raw_webhook(request: web.Request) -> web.Response:
    """Several events in one signed delivery: `{"events": [...], "signature"?: "override"}`."""
    body = await _json_object(request)
    events = body.get("events")
    if not isinstance(events, list):
        raise LineError(400, "`events` must be a list")
    signature = body.get("signature")
    if signature is not None and not isinstance(signature, str):
        raise LineError(400, "`signature` must be a string")
    answer = await play_raw(request.app[EMULATOR], events, signature=signature)
    return web.json_response(answer)


async def stats(request: web.Request) -> web.Response:
    """Counts by endpoint and status, deliveries, budget and users."""
    return web.json_response(request.app[EMULATOR].stats())


async def reset(request: web.Request) -> web.Response:
    """Forget all state (the configuration stays)."""
    request.app[EMULATOR].reset()
    return web.json_response({"reset": True})


async def get_config(request: web.Request) -> web.Response:
    """The settings that can change at runtime."""
    return web.json_response(request.app[EMULATOR].settings())


async def set_config(request: web.Request) -> web.Response:
    """Change any of fail_rate, latency_ms, monthly_limit, webhook_url, rate_limits."""
    body = await _json_object(request)
    _check_settings(body)
    return web.json_response(request.app[EMULATOR].configure(**body))


def _check_settings(body: dict[str, Any]) -> None:
    if "fail_rate" in body:
        rate = body["fail_rate"]
        if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate <= 1:
            raise LineError(400, "fail_rate must be a number from 0 to 1")
    if "latency_ms" in body:
        latency = body["latency_ms"]
        if not isinstance(latency, int) or isinstance(latency, bool) or not 0 <= latency <= 60_000:
            raise LineError(400, "latency_ms must be an integer from 0 to 60000")
    if "monthly_limit" in body:
        limit = body["monthly_limit"]
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 0
        ):
            raise LineError(400, "monthly_limit must be a non-negative integer or null")
    if "webhook_url" in body:
        url = body["webhook_url"]
        if url is not None and (
            not isinstance(url, str) or not url.startswith(("http://", "https://"))
        ):
            raise LineError(400, "webhook_url must be an http(s) URL or null")
    if "rate_limits" in body:
        limits = body["rate_limits"]
        valid = limits is None or (
            isinstance(limits, dict)
            and all(
                isinstance(v, int | float) and not isinstance(v, bool) and v > 0
                for v in limits.values()
            )
        )
        if not valid:
            raise LineError(400, "rate_limits must map endpoint names to positive numbers")


def install(app: web.Application) -> None:
    """Add the `/_emulator` routes, answered only from loopback."""

    def add(method: str, path: str, handler: ControlHandler) -> None:
        app.router.add_route(method, path, _local_only(handler))

    add("GET", "/_emulator", page_redirect)
    add("GET", "/_emulator/", page)
    add("GET", "/_emulator/requests", list_requests)
    add("GET", "/_emulator/users", list_users)
    add("GET", "/_emulator/users/{userId}/messages", user_messages)
    add("POST", "/_emulator/users/{userId}/events", user_events)
    add("GET", "/_emulator/users/{userId}/richmenu", user_rich_menu)
    add("POST", "/_emulator/users/{userId}/reply-tokens", reply_tokens)
    add("GET", "/_emulator/richmenus/{richMenuId}/image", rich_menu_image)
    add("POST", "/_emulator/webhook/raw", raw_webhook)
    add("GET", "/_emulator/stats", stats)
    add("POST", "/_emulator/reset", reset)
    add("GET", "/_emulator/config", get_config)
    add("POST", "/_emulator/config", set_config)
