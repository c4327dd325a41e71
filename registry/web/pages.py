"""The console's own pages: sign-in, sign-out, the home page, the history of changes, and
the static files (CSS, the little JS) that every page uses."""

from __future__ import annotations

import hmac
import logging
import secrets
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from registry.db import transaction
from registry.http import SESSIONS
from registry.models import ConsoleAudit, Municipality, Program
from registry.users import LOCKOUT_SECONDS, audit_trail, authenticate, record_audit
from registry.web.audit_texts import (
    SHOW_ALL,
    SIGN_INS,
    EntryView,
    entry_views,
    filter_options,
    hidden_for,
    program_ids,
    target_of,
)
from registry.web.kit import (
    SIGNIN_CSRF_COOKIE,
    WEB,
    end_session,
    language,
    read_form,
    redirect,
    render,
    require_session,
    safe_next,
    scope_issuer,
    start_session,
    translator,
)

log = logging.getLogger(__name__)

routes = web.RouteTableDef()
STATIC_DIR = Path(__file__).parent / "static"
_STATIC_TYPES = {".css": "text/css", ".js": "application/javascript", ".svg": "image/svg+xml"}


@routes.get("/static/{name}")
async def static_file(request: web.Request) -> web.StreamResponse:
    """A file of `registry/web/static/` (no directories, no listing)."""
    name = request.match_info["name"]
    path = STATIC_DIR / name
    if (
        "/" in name
        or name.startswith(".")
        or path.suffix not in _STATIC_TYPES
        or not path.is_file()
    ):
        raise web.HTTPNotFound()
    response = web.FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})
    response.content_type = _STATIC_TYPES[path.suffix]
    return response


@routes.get("/favicon.ico")
async def favicon(request: web.Request) -> web.StreamResponse:
    """The site's small icon (browsers ask for it on every page)."""
    response = web.FileResponse(
        STATIC_DIR / "favicon.ico", headers={"Cache-Control": "public, max-age=86400"}
    )
    response.content_type = "image/x-icon"
    return response


@routes.get("/console")
async def console_root(request: web.Request) -> web.StreamResponse:
    """`/console` → `/console/`."""
    raise redirect("/console/")


def _signin_page(
    request: web.Request, *, error: str = "", email: str = "", status: int = 200
) -> web.Response:
    token = request.cookies.get(SIGNIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = render(
        request,
        "signin.html",
        status=status,
        error=error,
        email=email,
        signin_csrf=token,
        next=safe_next(request.query.get("next")),
    )
    response.set_cookie(
        SIGNIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=request.app[WEB].secure_cookies,
        path="/console/signin",
    )
    return response


@routes.get("/console/signin")
async def signin_form(request: web.Request) -> web.Response:
    """The sign-in form."""
    return _signin_page(request)


@routes.post("/console/signin")
async def signin(request: web.Request) -> web.StreamResponse:
    """Check the email and password; lock out after repeated failures."""
    t = translator(language(request))
    form = await read_form(request)
    email = str(form.get("email", ""))[:254].strip()
    password = str(form.get("password", ""))
    cookie = request.cookies.get(SIGNIN_CSRF_COOKIE, "")
    sent = str(form.get("_csrf", ""))
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        return _signin_page(
            request,
            error=t(
                "フォームの有効期限が切れました。もう一度入力してください。",
                "The form had expired: please enter your details again.",
            ),
            email=email,
            status=400,
        )
    if not email or not password:
        return _signin_page(
            request,
            error=t(
                "メールアドレスとパスワードを入力してください。",
                "Enter your email address and password.",
            ),
            email=email,
            status=422,
        )
    redis = request.app[WEB].redis
    async with transaction(request.app[SESSIONS]) as session:
        outcome = await authenticate(session, redis, email, password, str(request.remote))
        if outcome.user is not None:
            await record_audit(session, outcome.user, "user.sign_in", target=outcome.user.email)
    if outcome.user is None:
        if outcome.locked_seconds:
            minutes = max(1, -(-outcome.locked_seconds // 60))
            error = t(
                f"サインインの失敗が続いたため、{minutes}分間ロックしています。"
                "しばらくしてからお試しください。",
                f"Too many failed sign-ins: locked for {minutes} more minute(s). Try again later.",
            )
            log.warning("console sign-in locked", extra={"lockout_s": LOCKOUT_SECONDS})
            return _signin_page(request, error=error, email=email, status=429)
        return _signin_page(
            request,
            error=t(
                "メールアドレスかパスワードが違います。",
                "The email address or password is not right.",
            ),
            email=email,
            status=401,
        )
    response = redirect(safe_next(str(form.get("next", ""))))
    await start_session(request, response, outcome.user)
    response.del_cookie(SIGNIN_CSRF_COOKIE, path="/console/signin")
    return response


@routes.post("/console/signout")
async def signout(request: web.Request) -> web.StreamResponse:
    """End the session."""
    session = require_session(request)
    async with transaction(request.app[SESSIONS]) as db:
        await record_audit(db, session.user, "user.sign_out", target=session.user.email)
    response = redirect("/console/signin")
    await end_session(request, response)
    return response


async def _views(
    request: web.Request, db: AsyncSession, entries: list[ConsoleAudit], issuer: str
) -> list[EntryView]:
    """The entries as shown, programs that still exist linked."""
    wanted = program_ids(entries)
    existing: set[int] = set()
    if wanted:
        found = await db.exec(select(Program.id).where(col(Program.id).in_(sorted(wanted))))
        existing = {i for i in found.all() if i is not None}
    session = require_session(request)
    query = f"?m={issuer}" if session.is_operator and issuer != session.user.issuer else ""
    return entry_views(entries, language(request), existing, query)


@routes.get("/console/")
async def home(request: web.Request) -> web.Response:
    """The console's home: where to go, and the latest changes (sign-ins left out)."""
    issuer = scope_issuer(request)
    async with request.app[SESSIONS]() as db:
        municipality = await db.get(Municipality, issuer)
        entries = await audit_trail(db, issuer=issuer, limit=8, hide=SIGN_INS)
        latest = await _views(request, db, entries, issuer)
    return render(request, "home.html", municipality=municipality, latest=latest, issuer=issuer)


@routes.get("/console/history")
async def history(request: web.Request) -> web.Response:
    """Every change in this municipality, newest first, filterable by kind and target;
    sign-ins and sign-outs only when the filter asks for them."""
    issuer = scope_issuer(request)
    action = request.query.get("action", "")[:64] or None
    target = request.query.get("target", "")[:200] or None
    before_text = request.query.get("before", "")
    before = None
    if before_text:
        try:
            before = datetime.fromisoformat(before_text)
            before = before.astimezone(UTC) if before.tzinfo is not None else None
        except (ValueError, OverflowError):  # unreadable, or out of range once in UTC
            before = None
    async with request.app[SESSIONS]() as db:
        entries = await audit_trail(
            db,
            issuer=issuer,
            action=None if action == SHOW_ALL else action,
            target=target,
            before=before,
            limit=101,
            hide=hidden_for(action),
        )
        more = len(entries) > 100
        entries = entries[:100]
        views = await _views(request, db, entries, issuer)
    t = translator(language(request))
    target_words = target_of(target, t, ())[0] if target else ""
    return render(
        request,
        "history.html",
        entries=views,
        more=more,
        next_before=entries[-1].at.isoformat() if more and entries else None,
        action=action or "",
        actions=filter_options(t),
        target=target or "",
        target_words=target_words,
        issuer=issuer,
    )
