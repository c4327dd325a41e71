"""Rendering, languages, console sessions and CSRF for the server-rendered pages.

Sessions live in Redis under the SHA-256 of a random cookie token (the cookie alone is worth
nothing once signed out); each holds the user id and a CSRF token. Every unsafe request under
`/console/` must carry that token (form field `_csrf` or header `X-CSRF-Token`) and, when the
browser sends one, an Origin of this very site. Pages get a strict Content-Security-Policy:
scripts and styles only from `/static/`, nothing from elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from html import escape
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import jinja2
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy
from sqlmodel import select

from registry.http import SESSIONS
from registry.models import ConsoleUser, Municipality

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

TEMPLATES: web.AppKey[jinja2.Environment] = web.AppKey("templates", jinja2.Environment)

SESSION_COOKIE = "hagukumi_console"
LANG_COOKIE = "hagukumi_lang"
SIGNIN_CSRF_COOKIE = "hagukumi_signin"
SESSION_SECONDS = 8 * 3600  # idle time after which a session ends
MAX_FORM_BYTES = 1_000_000
LANGS = ("ja", "en")
_SESSION_PREFIX = "hagukumi:console:session:"

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


@dataclass
class WebConfig:
    """What the pages need from the settings (read once by the composition root)."""

    zone: tzinfo
    secure_cookies: bool
    redis: Any = None
    operator_issuer_names: dict[str, str] = field(default_factory=dict)


@dataclass
class ConsoleSession:
    """The signed-in user of a request, with the session's CSRF token and flash messages."""

    token_hash: str
    user: ConsoleUser
    csrf: str
    flash: list[dict[str, str]] = field(default_factory=list)
    password_mark: str = ""

    @property
    def can_edit(self) -> bool:
        """Editors and operators change things; viewers only read."""
        return self.user.role in {"editor", "operator"}

    @property
    def is_operator(self) -> bool:
        """Operators see every municipality and the operations view."""
        return self.user.role == "operator"


SESSION: web.RequestKey[ConsoleSession] = web.RequestKey("console_session", ConsoleSession)
# For an operator's pages: (code, name in Japanese, name in English) of every municipality.
MUNICIPALITIES: web.RequestKey[list[tuple[str, str, str]]] = web.RequestKey(
    "console_municipalities", list
)
WEB: web.AppKey[WebConfig] = web.AppKey("web_config", WebConfig)


def make_templates(packages: Iterable[str]) -> jinja2.Environment:
    """One Jinja2 environment over each package's `templates/` folder (autoescaped)."""
    loaders: list[jinja2.BaseLoader] = [jinja2.PackageLoader(p, "templates") for p in packages]
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["yen"] = lambda v: "—" if v is None else f"{int(v):,}"
    env.filters["num"] = lambda v: "—" if v is None else f"{v:,}"
    return env


def language(request: web.Request) -> str:
    """`?lang=` first, then the language cookie, then the browser's, else Japanese."""
    asked = request.query.get("lang")
    if asked in LANGS:
        return asked
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in LANGS:
        return cookie
    accept = request.headers.get("Accept-Language", "").lower()
    first = accept.split(",")[0].strip()
    return "en" if first.startswith("en") else "ja"


def translator(lang: str) -> Callable[[str, str], str]:
    """t("日本語", "English"): the text of the page's language, written side by side."""

    def t(ja: str, en: str) -> str:
        return en if lang == "en" else ja

    return t


def local_time(value: datetime | None, zone: tzinfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time as people read it (Asia/Tokyo by default)."""
    return "—" if value is None else value.astimezone(zone).strftime(fmt)


def url_with(request: web.Request, **changes: Any) -> str:
    """This page's address with some query parameters changed (None removes one)."""
    query = dict(request.query)
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = str(value)
    return request.path + ("?" + urlencode(query) if query else "")


def operator_m(request: web.Request) -> str | None:
    """The municipality an operator picked with `?m=` (None for others, or none picked)."""
    session = request.get(SESSION)
    if session is None or not session.is_operator:
        return None
    asked = request.query.get("m", "")
    return asked if len(asked) == 6 and asked.isdigit() else None


def console_link(request: web.Request, href: str) -> str:
    """A console address that keeps an operator's `?m=` (others' links never carry it)."""
    picked = operator_m(request)
    if picked is None:
        return href
    return href + ("&" if "?" in href else "?") + urlencode({"m": picked})


def render(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    """A page from its template, in the request's language, with the session's flash."""
    lang = language(request)
    config = request.app[WEB]
    session = request.get(SESSION)
    flash = list(session.flash) if session else []
    if session is not None:
        session.flash.clear()
    template = request.app[TEMPLATES].get_template(name)
    html = template.render(
        request=request,
        lang=lang,
        t=translator(lang),
        session=session,
        user=session.user if session else None,
        csrf=session.csrf if session else "",
        flash=flash,
        when=lambda v, fmt="%Y-%m-%d %H:%M": local_time(v, config.zone, fmt),
        url_with=lambda **kw: url_with(request, **kw),
        link=lambda href: console_link(request, href),
        picked_m=operator_m(request),
        scope_m=scope_issuer(request) if session is not None else None,
        municipalities=request.get(MUNICIPALITIES, []),
        path=request.path,
        **context,
    )
    response = web.Response(text=html, status=status, content_type="text/html")
    if request.query.get("lang") in LANGS:
        response.set_cookie(
            LANG_COOKIE,
            request.query["lang"],
            max_age=365 * 86400,
            httponly=True,
            samesite="Lax",
            secure=config.secure_cookies,
        )
    return response


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _password_mark(user: ConsoleUser) -> str:
    # Which password the session was opened with: a new password (`hagukumi users
    # set-password`, after a leak) ends every session opened with the old one.
    return _hash("password:" + user.password_hash)[:32]


async def start_session(
    request: web.Request, response: web.StreamResponse, user: ConsoleUser
) -> None:
    """A new session for a user who just signed in (a fresh token: no fixation)."""
    config = request.app[WEB]
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        # The browser's earlier session (someone else's, on a shared computer) ends here.
        await config.redis.delete(_SESSION_PREFIX + _hash(previous))
    token = secrets.token_urlsafe(32)
    data: dict[str, Any] = {
        "user_id": user.id,
        "csrf": secrets.token_urlsafe(32),
        "flash": [],
        "password": _password_mark(user),
    }
    await config.redis.set(_SESSION_PREFIX + _hash(token), json.dumps(data), ex=SESSION_SECONDS)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=config.secure_cookies,
        path="/",
    )


async def end_session(request: web.Request, response: web.StreamResponse) -> None:
    """Forget the session on the server and in the browser."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await request.app[WEB].redis.delete(_SESSION_PREFIX + _hash(token))
    response.del_cookie(SESSION_COOKIE, path="/")


async def load_session(request: web.Request) -> ConsoleSession | None:
    """The request's session, if its cookie names a live one of an enabled user."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 100:
        return None
    redis = request.app[WEB].redis
    key = _SESSION_PREFIX + _hash(token)
    raw = await redis.get(key)
    if raw is None:
        return None
    data = json.loads(raw)
    async with request.app[SESSIONS]() as session:
        user = await session.get(ConsoleUser, data["user_id"])
    mark = _password_mark(user) if user is not None else ""
    if user is None or user.disabled_at is not None or data.get("password") != mark:
        await redis.delete(key)
        return None
    await redis.expire(key, SESSION_SECONDS)
    return ConsoleSession(_hash(token), user, data["csrf"], list(data.get("flash", [])), mark)


async def save_flash(request: web.Request, session: ConsoleSession) -> None:
    """Keep flash messages not yet shown for the next page (after a redirect)."""
    redis = request.app[WEB].redis
    key = _SESSION_PREFIX + session.token_hash
    data = {
        "user_id": session.user.id,
        "csrf": session.csrf,
        "flash": session.flash,
        "password": session.password_mark,
    }
    await redis.set(key, json.dumps(data), keepttl=True)


def flash(request: web.Request, text: str, kind: str = "ok") -> None:
    """A message for the next page the user sees (kind: ok, error)."""
    request[SESSION].flash.append({"kind": kind, "text": text})


def redirect(location: str) -> web.HTTPSeeOther:
    """303 See Other: after a form post, the browser GETs the next page."""
    return web.HTTPSeeOther(location)


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        referer = request.headers.get("Referer")
        if referer is None:
            return True  # not a browser's cross-site form post; the CSRF token still decides
        origin = referer
    if origin == "null":
        return False
    parts = urlsplit(origin)
    return parts.netloc == request.host


async def read_form(request: web.Request) -> MultiDictProxy[Any]:
    """The posted form (urlencoded or multipart), refusing bodies over MAX_FORM_BYTES."""
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES * 10:
        raise web.HTTPRequestEntityTooLarge(
            max_size=MAX_FORM_BYTES * 10, actual_size=request.content_length
        )
    try:
        return await request.post()
    except (ValueError, HttpProcessingError) as exc:  # UnicodeDecodeError is a ValueError
        # Bytes that are not UTF-8, or a broken multipart body: the sender's fault (400).
        raise web.HTTPBadRequest() from exc


def csrf_ok(request: web.Request, session: ConsoleSession, form: Any | None) -> bool:
    """The session's token came back in the header or the form, from this site."""
    if not _same_origin(request):
        return False
    sent = request.headers.get("X-CSRF-Token") or (form.get("_csrf") if form else None) or ""
    return isinstance(sent, str) and hmac.compare_digest(sent.encode(), session.csrf.encode())


PUBLIC_CONSOLE_PATHS = ("/console/signin",)


@web.middleware
async def pages_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Console pages need a session (else: to the sign-in page) and a CSRF token on every
    change; every page gets the security headers."""
    path = request.path
    is_console = path == "/console" or path.startswith("/console/")
    had_flash = False
    if not is_console and not path.startswith(("/quality", "/static/")):
        return await handler(request)
    if is_console and not path.startswith(PUBLIC_CONSOLE_PATHS):
        session = await load_session(request)
        if session is None:
            if request.method in {"GET", "HEAD"}:
                target = "/console/signin?next=" + quote(request.path_qs, safe="")
                raise web.HTTPSeeOther(target)
            return forbidden(request, "signed_out")
        request[SESSION] = session
        had_flash = bool(session.flash)
        if session.is_operator and request.method in {"GET", "HEAD", "POST"}:
            request[MUNICIPALITIES] = await _municipalities(request)
        if request.method not in {"GET", "HEAD", "OPTIONS"}:
            form = None
            if request.content_type in {
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            }:
                try:
                    form = await read_form(request)
                except web.HTTPException as exc:
                    # A body over the server's limit (an upload too large): a page, not JSON.
                    too_large = error_page(request, exc.status)
                    _secure_headers(too_large, True)
                    return too_large
            if not csrf_ok(request, session, form):
                return forbidden(request, "csrf")
    try:
        await _check_scope(request)
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            # A redirect raised after a change: its flash is for the page it leads to.
            session = request.get(SESSION)
            if session is not None and session.flash:
                await save_flash(request, session)
            raise
        response = error_page(request, exc.status, exc.text if exc.status == 403 else None)
    except Exception:
        log.exception("page failed", extra={"path": request.path, "method": request.method})
        response = error_page(request, 500)
    session = request.get(SESSION)
    if session is not None and (session.flash or had_flash):
        # New messages are kept for the next page; shown ones are forgotten.
        await save_flash(request, session)
    _secure_headers(response, is_console)
    return response


async def _municipalities(request: web.Request) -> list[tuple[str, str, str]]:
    """Every municipality (for an operator's switcher), by code."""
    async with request.app[SESSIONS]() as db:
        rows = (await db.exec(select(Municipality).order_by(Municipality.code))).all()
    return [(m.code, m.name_ja, m.name_en) for m in rows]


async def _check_scope(request: web.Request) -> None:
    """An operator's `?m=` names a municipality this service serves (else 404): pages would
    otherwise show an empty one, and changes would fail on the missing municipality."""
    session = request.get(SESSION)
    asked = request.query.get("m", "")
    if session is None or not session.is_operator or scope_issuer(request) != asked:
        return
    if asked == session.user.issuer:
        return
    async with request.app[SESSIONS]() as db:
        if await db.get(Municipality, asked) is None:
            raise web.HTTPNotFound()


def _secure_headers(response: web.StreamResponse, private: bool) -> None:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    if private:
        headers.setdefault("Cache-Control", "no-store")


def forbidden(request: web.Request, why: str) -> web.Response:
    """403 for a change without a valid session or CSRF token: the form is to be reloaded."""
    lang = language(request)
    t = translator(lang)
    text = {
        "signed_out": t(
            "サインインが切れました。もう一度サインインしてください。",
            "Your session has ended: please sign in again.",
        ),
        "csrf": t(
            "このフォームは古くなったか、別のサイトから送られました。ページを読み込み直してください。",
            "This form is out of date or came from another site: reload the page and try again.",
        ),
        "role": t(
            "閲覧のみの権限です。変更は編集者に依頼してください。",
            "Your role is read-only: ask an editor to make this change.",
        ),
    }[why]
    body = (
        f'<!doctype html><html lang="{lang}"><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>403</title><link rel=stylesheet href=/static/console.css>"
        f'<main class="narrow"><h1>403</h1><p>{text}</p>'
        f'<p><a href="/console/">{t("コンソールへ戻る", "Back to the console")}</a></p></main>'
    )
    response = web.Response(text=body, status=403, content_type="text/html")
    _secure_headers(response, True)
    return response


def error_page(request: web.Request, status: int, text: str | None = None) -> web.Response:
    """A plain page for an error, in the request's language (never a JSON body to a person)."""
    t = translator(language(request))
    messages = {
        404: t("ページが見つかりません。", "This page does not exist."),
        405: t("この操作はできません。", "This action is not allowed here."),
        413: t("送られたファイルが大きすぎます。", "The file sent is too large."),
        500: t(
            "問題が起きました。記録しましたので、時間をおいてお試しください。",
            "Something went wrong on our side; it has been logged. Please try again later.",
        ),
    }
    message = (
        text
        if text and not text.startswith(str(status))
        else messages.get(
            status, t("この要求は処理できません。", "This request cannot be handled.")
        )
    )
    lang = language(request)
    body = (
        f'<!doctype html><html lang="{lang}"><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{status}</title><link rel=stylesheet href=/static/console.css>"
        f'<main class="narrow"><h1>{status}</h1><p>{escape(message)}</p>'
        f'<p><a href="/console/">{t("コンソールへ戻る", "Back to the console")}</a> · '
        f'<a href="/quality">{t("サービス品質", "Service quality")}</a></p></main>'
    )
    return web.Response(text=body, status=status, content_type="text/html")


def require_session(request: web.Request) -> ConsoleSession:
    """The signed-in user's session (the middleware guarantees one under /console/)."""
    return request[SESSION]


def require_editor(request: web.Request) -> ConsoleSession:
    """The session, if its user may change things (else 403)."""
    session = request[SESSION]
    if not session.can_edit:
        raise web.HTTPForbidden(
            text=translator(language(request))("閲覧のみの権限です。", "Your role is read-only.")
        )
    return session


def scope_issuer(request: web.Request) -> str:
    """The municipality the page is about: the user's own; an operator may pick one with
    `?m=CODE` (remembered for nothing; links carry it)."""
    session = request[SESSION]
    if session.is_operator:
        asked = request.query.get("m", "")
        if len(asked) == 6 and asked.isdigit():
            return asked
    return session.user.issuer


def safe_next(value: str | None) -> str:
    """Where to go after signing in: only a path of the console itself."""
    if value and value.startswith("/console") and not value.startswith("//") and "\\" not in value:
        return value
    return "/console/"
