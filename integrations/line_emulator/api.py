"""The Messaging API at LINE's paths, with LINE's status codes, bodies and headers.

Every request passes the same gate as at LINE: latency, `Authorization`, the endpoint's rate
limit and (when configured) an injected 500, and is logged with its answer. Handlers are plain
functions: nothing awaits between checking a retry key or the budget and using it, so
concurrent requests cannot both pass.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from integrations.line_emulator.limits import USER_ID
from integrations.line_emulator.richmenus import IMAGE_TYPES, MAX_IMAGE_BYTES, RichMenu, image_size
from integrations.line_emulator.state import Emulator, LineError

EMULATOR: web.AppKey[Emulator] = web.AppKey("line_emulator", Emulator)

MAX_REQUEST_BYTES = 4 * 1024 * 1024  # room to answer an oversized image with LINE's 413
LOGGED_HEADERS = ("Content-Type", "X-Line-Retry-Key", "User-Agent")
NOT_FOUND = "Not found"


@dataclass
class Answer:
    """What a handler answers: JSON by default, or raw bytes (rich menu images)."""

    status: int = 200
    body: Any = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    """One API request as a handler sees it."""

    request: web.Request
    emulator: Emulator
    request_id: str
    raw: bytes
    parsed: Any = field(default=None, init=False, repr=False)  # the body, once json() read it

    def json(self) -> Any:
        """The body parsed as JSON, or LINE's 400."""
        try:
            if self.parsed is None:
                self.parsed = json.loads(self.raw)
            return self.parsed
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LineError(
                400,
                "The request body has 1 error(s)",
                [{"message": f"malformed JSON: {exc}", "property": ""}],
            ) from exc

    def retry_key(self) -> str | None:
        """The `X-Line-Retry-Key` header, if any."""
        return self.request.headers.get("X-Line-Retry-Key")

    def user_id(self) -> str:
        """The `{userId}` path parameter, or 400."""
        user_id = self.request.match_info["userId"]
        if not USER_ID.match(user_id):
            raise LineError(400, "The value for the 'userId' parameter is invalid")
        return user_id

    def rich_menu(self, *, with_image: bool = False) -> RichMenu:
        """The `{richMenuId}` named by the path, or 404 (or 400 if its image is missing)."""
        menu = self.emulator.rich_menus.menus.get(self.request.match_info["richMenuId"])
        if menu is None:
            raise LineError(404, NOT_FOUND)
        if with_image and menu.image is None:
            raise LineError(400, "must upload richmenu image before applying it to user")
        return menu


Handler = Callable[[Call], Answer]


async def _read_body(request: web.Request) -> bytes:
    # Read the stream ourselves: a parent app's client_max_size must not cut off an upload
    # that LINE would refuse with its own 413.
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            raise LineError(413, "Payload Too Large")
        chunks.append(chunk)
    return b"".join(chunks)


def _logged_body(raw: bytes, content_type: str, parsed: Any = None) -> Any:
    if not raw:
        return None
    if parsed is not None:
        return parsed  # the handler parsed it already: parsing a push twice cost 13 % of a send
    if "json" in content_type:
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return raw[:2000].decode("utf-8", "replace")
    return f"<{len(raw)} bytes {content_type}>"


def api_path(request: web.Request) -> str:
    """The path as LINE sees it, without the prefix the emulator may be mounted under."""
    start = request.path.find("/v2/")
    return request.path[start:] if start >= 0 else request.path


def gate(operation: str, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Wrap a handler in LINE's gate, the `x-line-request-id` header and the request log."""

    async def handle(request: web.Request) -> web.Response:
        emulator = request.app[EMULATOR]
        request_id = emulator.new_request_id()
        raw = b""
        call: Call | None = None
        try:
            raw = await _read_body(request)
            if emulator.config.latency_ms > 0:
                await asyncio.sleep(emulator.config.latency_ms / 1000)
            emulator.check_token(request.headers.get("Authorization"))
            emulator.take_rate(operation)
            emulator.inject_fault()
            call = Call(request, emulator, request_id, raw)
            answer = handler(call)
        except LineError as exc:
            answer = Answer(exc.status, exc.body(), headers=exc.headers)
        headers = {**answer.headers, "x-line-request-id": request_id}
        if answer.raw is not None:
            response = web.Response(
                body=answer.raw,
                status=answer.status,
                headers=headers,
                content_type=answer.content_type,
            )
        else:
            response = web.json_response(answer.body, status=answer.status, headers=headers)
        sent_headers = {k: v for k in LOGGED_HEADERS if (v := request.headers.get(k)) is not None}
        if "Authorization" in request.headers:
            sent_headers["Authorization"] = "<redacted>"
        emulator.record(
            {
                "time": emulator.now().isoformat(),
                "method": request.method,
                "path": api_path(request),
                "query": dict(request.query),
                "headers": sent_headers,
                "body": _logged_body(
                    raw,
                    request.headers.get("Content-Type", ""),
                    call.parsed if call is not None else None,
                ),
                "status": answer.status,
                "response": answer.body if answer.raw is None else f"<{len(answer.raw)} bytes>",
                "requestId": request_id,
                "operation": operation,
            },
            operation,
        )
        return response

    return handle


# -- messages ---------------------------------------------------------------------------------


def reply(call: Call) -> Answer:
    """Answer an event with its reply token (free, one use, within a minute)."""
    em = call.emulator
    if call.retry_key() is not None:
        raise LineError(400, "X-Line-Retry-Key is not supported by this endpoint")
    body = call.json()
    em.validate("reply", body, len(call.raw))
    user_id = em.use_reply_token(body["replyToken"])
    sent = em.sent_messages(body["messages"])
    em.deliver([user_id], "reply", body["messages"], sent, call.request_id)
    return Answer(body={"sentMessages": sent})


def push(call: Call) -> Answer:
    """Send to one user; counts against the monthly budget unless the user blocked us."""
    em = call.emulator
    key = call.retry_key()
    em.check_retry_key(key)
    body = call.json()
    em.validate("push", body, len(call.raw))
    messages = body["messages"]
    reachable = [body["to"]] if em.can_receive(body["to"]) else []
    em.charge(len(messages) * len(reachable))
    sent = em.sent_messages(messages)
    em.deliver(reachable, "push", messages, sent, call.request_id)
    em.accept_retry_key(key, call.request_id, sent)
    return Answer(body={"sentMessages": sent})


def _send_to_many(call: Call, operation: str, recipients: list[str], status: int = 200) -> Answer:
    em = call.emulator
    body = call.json()
    messages = body["messages"]
    reachable = [user_id for user_id in recipients if em.can_receive(user_id)]
    em.charge(len(messages) * len(reachable))
    sent = em.sent_messages(messages)
    em.deliver(reachable, operation, messages, sent, call.request_id)
    em.accept_retry_key(call.retry_key(), call.request_id, None)
    return Answer(status=status, body={})


def multicast(call: Call) -> Answer:
    """Send to up to 500 users; budget counts messages × reachable recipients."""
    call.emulator.check_retry_key(call.retry_key())
    body = call.json()
    call.emulator.validate("multicast", body, len(call.raw))
    return _send_to_many(call, "multicast", list(dict.fromkeys(body["to"])))


def broadcast(call: Call) -> Answer:
    """Send to every follower."""
    call.emulator.check_retry_key(call.retry_key())
    call.emulator.validate("broadcast", call.json())
    return _send_to_many(call, "broadcast", call.emulator.followers())


def narrowcast(call: Call) -> Answer:
    """Accepted (202); without a recipient or filter it reaches every follower, as at LINE."""
    em = call.emulator
    em.check_retry_key(call.retry_key())
    body = call.json()
    em.validate("narrowcast", body)
    # Audiences and demographic filters are not emulated: such a narrowcast reaches no one.
    everyone = body.get("recipient") is None and body.get("filter") is None
    recipients = em.followers() if everyone else []
    answer = _send_to_many(call, "narrowcast", recipients, status=202)
    now = em.now().isoformat()
    count = len([u for u in recipients if em.can_receive(u)])
    em.narrowcasts[call.request_id] = {
        "phase": "succeeded",
        "successCount": count,
        "failureCount": 0,
        "targetCount": count,
        "acceptedTime": now,
        "completedTime": now,
    }
    return answer


def narrowcast_progress(call: Call) -> Answer:
    """The progress of a narrowcast (they all finish at once here)."""
    found = call.emulator.narrowcasts.get(call.request.query.get("requestId", ""))
    if found is None:
        raise LineError(404, NOT_FOUND)
    return Answer(body=found)


def quota(call: Call) -> Answer:
    """The monthly target: `limited` with a value, or `none`."""
    limit = call.emulator.config.monthly_limit
    return Answer(body={"type": "none"} if limit is None else {"type": "limited", "value": limit})


def quota_consumption(call: Call) -> Answer:
    """Messages counted this month."""
    return Answer(body={"totalUsage": call.emulator.budget_used()})


def loading(call: Call) -> Answer:
    """The loading animation: accepted, nothing to show."""
    call.emulator.validate("loading", call.json())
    return Answer(status=202, body={})


# -- users and the bot --------------------------------------------------------------------------


def profile(call: Call) -> Answer:
    """A follower's profile; 404 for anyone else (LINE shows only friends)."""
    user = call.emulator.users.get(call.user_id())
    if user is None or user.status != "follower":
        raise LineError(404, NOT_FOUND)
    return Answer(
        body={"displayName": user.display_name, "userId": user.user_id, "language": "ja"}
    )


def bot_info(call: Call) -> Answer:
    """The bot's own account."""
    config = call.emulator.config
    return Answer(
        body={
            "userId": config.bot_user_id,
            "basicId": config.bot_basic_id,
            "displayName": config.bot_display_name,
            "chatMode": "bot",
            "markAsReadMode": "auto",
        }
    )


def followers(call: Call) -> Answer:
    """Follower ids, a page at a time (`limit` ≤ 1000, `start` from `next`)."""
    query = call.request.query
    try:
        limit = int(query.get("limit", "300"))
        start = int(query.get("start", "0"))
    except ValueError as exc:
        raise LineError(400, "limit and start must be numbers") from exc
    if not 1 <= limit <= 1000 or start < 0:
        raise LineError(400, "limit must be between 1 and 1000")
    everyone = call.emulator.followers()
    body: dict[str, Any] = {"userIds": everyone[start : start + limit]}
    if start + limit < len(everyone):
        body["next"] = str(start + limit)
    return Answer(body=body)


# -- rich menus ---------------------------------------------------------------------------------


def richmenu_create(call: Call) -> Answer:
    """Create a rich menu (its image comes separately)."""
    em = call.emulator
    body = call.json()
    em.validate("richmenu_create", body)
    rich_menu_id = f"richmenu-{em.new_hex(32)}"
    em.rich_menus.menus[rich_menu_id] = RichMenu(rich_menu_id, body)
    return Answer(body={"richMenuId": rich_menu_id})


def richmenu_validate(call: Call) -> Answer:
    """Check a rich menu object without creating it."""
    call.emulator.validate("richmenu_validate", call.json())
    return Answer()


def richmenu_upload(call: Call) -> Answer:
    """The menu's one image: PNG or JPEG, ≤ 1 MB, exactly the menu's size."""
    menu = call.rich_menu()
    content_type = call.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type not in IMAGE_TYPES:
        raise LineError(415, "Content-Type must be image/jpeg or image/png")
    if len(call.raw) > MAX_IMAGE_BYTES:
        raise LineError(413, "The image must be 1 MB or smaller")
    if menu.image is not None:
        raise LineError(400, "An image has already been uploaded to the richmenu")
    size = image_size(call.raw)
    expected = (menu.body["size"]["width"], menu.body["size"]["height"])
    if size is None:
        raise LineError(400, "The image is not a readable PNG or JPEG")
    if size != expected:
        raise LineError(
            400,
            f"Image size {size[0]}x{size[1]} does not match the rich menu size "
            f"{expected[0]}x{expected[1]}",
        )
    menu.image, menu.content_type = call.raw, content_type
    return Answer()


def richmenu_download(call: Call) -> Answer:
    """The menu's image as uploaded."""
    menu = call.rich_menu()
    if menu.image is None:
        raise LineError(404, NOT_FOUND)
    return Answer(raw=menu.image, content_type=menu.content_type or "image/png")


def richmenu_get(call: Call) -> Answer:
    """One rich menu object."""
    return Answer(body=call.rich_menu().as_response())


def richmenu_delete(call: Call) -> Answer:
    """Delete a menu (and unset it as default and from users)."""
    call.emulator.rich_menus.delete(call.rich_menu().rich_menu_id)
    return Answer()


def richmenu_list(call: Call) -> Answer:
    """Every rich menu of the channel."""
    menus = call.emulator.rich_menus.menus.values()
    return Answer(body={"richmenus": [m.as_response() for m in menus]})


def default_set(call: Call) -> Answer:
    """Make a menu (with its image) everyone's default."""
    call.emulator.rich_menus.default_id = call.rich_menu(with_image=True).rich_menu_id
    return Answer()


def default_get(call: Call) -> Answer:
    """The default menu's id, or 404."""
    default_id = call.emulator.rich_menus.default_id
    if default_id is None:
        raise LineError(404, "no default richmenu")
    return Answer(body={"richMenuId": default_id})


def default_cancel(call: Call) -> Answer:
    """No default menu any more."""
    call.emulator.rich_menus.default_id = None
    return Answer()


def user_link(call: Call) -> Answer:
    """Link a menu (with its image) to one user."""
    user_id = call.user_id()
    call.emulator.rich_menus.links[user_id] = call.rich_menu(with_image=True).rich_menu_id
    return Answer()


def user_unlink(call: Call) -> Answer:
    """Remove a user's own menu (they see the default again)."""
    call.emulator.rich_menus.links.pop(call.user_id(), None)
    return Answer()


def user_menu(call: Call) -> Answer:
    """The menu linked to a user, or 404 (the default does not count, as at LINE)."""
    linked = call.emulator.rich_menus.links.get(call.user_id())
    if linked is None:
        raise LineError(404, "the user has no richmenu")
    return Answer(body={"richMenuId": linked})


def not_found(call: Call) -> Answer:
    """Any other path under /v2."""
    raise LineError(404, NOT_FOUND)


# Specific paths before parameterised ones: aiohttp matches in order of registration.
ROUTES: list[tuple[str, str, str, Handler]] = [
    ("POST", "/v2/bot/message/reply", "reply", reply),
    ("POST", "/v2/bot/message/push", "push", push),
    ("POST", "/v2/bot/message/multicast", "multicast", multicast),
    ("POST", "/v2/bot/message/broadcast", "broadcast", broadcast),
    ("POST", "/v2/bot/message/narrowcast", "narrowcast", narrowcast),
    ("GET", "/v2/bot/message/progress/narrowcast", "narrowcast_progress", narrowcast_progress),
    ("GET", "/v2/bot/message/quota", "quota", quota),
    ("GET", "/v2/bot/message/quota/consumption", "quota_consumption", quota_consumption),
    ("POST", "/v2/bot/chat/loading/start", "loading", loading),
    ("GET", "/v2/bot/profile/{userId}", "profile", profile),
    ("GET", "/v2/bot/info", "bot_info", bot_info),
    ("GET", "/v2/bot/followers/ids", "followers", followers),
    ("POST", "/v2/bot/richmenu", "richmenu_create", richmenu_create),
    ("POST", "/v2/bot/richmenu/validate", "richmenu_validate", richmenu_validate),
    ("GET", "/v2/bot/richmenu/list", "richmenu_list", richmenu_list),
    ("POST", "/v2/bot/richmenu/{richMenuId}/content", "richmenu_upload", richmenu_upload),
    ("GET", "/v2/bot/richmenu/{richMenuId}/content", "richmenu_download", richmenu_download),
    ("GET", "/v2/bot/richmenu/{richMenuId}", "richmenu_get", richmenu_get),
    ("DELETE", "/v2/bot/richmenu/{richMenuId}", "richmenu_delete", richmenu_delete),
    ("POST", "/v2/bot/user/all/richmenu/{richMenuId}", "default_set", default_set),
    ("GET", "/v2/bot/user/all/richmenu", "default_get", default_get),
    ("DELETE", "/v2/bot/user/all/richmenu", "default_cancel", default_cancel),
    ("POST", "/v2/bot/user/{userId}/richmenu/{richMenuId}", "user_link", user_link),
    ("GET", "/v2/bot/user/{userId}/richmenu", "user_menu", user_menu),
    ("DELETE", "/v2/bot/user/{userId}/richmenu", "user_unlink", user_unlink),
    ("*", "/v2/{tail:.*}", "unknown", not_found),
]


def install(app: web.Application) -> None:
    """Add the Messaging API routes to the emulator app."""
    for method, path, operation, handler in ROUTES:
        app.router.add_route(method, path, gate(operation, handler))
