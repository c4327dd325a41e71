"""The HTTP toolkit every `/api/v1` package uses: typed routes, JSON errors, OpenAPI.

Each route is declared once with its pydantic models; the same declaration parses the
request, serialises the answer and generates `GET /openapi.json`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import ClientPayloadError, web
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from registry.eligibility import Catalog
from registry.events import Events
from registry.models import ApiKey
from registry.urls import CONTEXT_KEY as URL_CONTEXT_KEY
from registry.urls import STRICT as STRICT_URLS
from registry.urls import UrlPolicy

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ErrorDetail(BaseModel):
    """One thing wrong with a request."""

    location: str | None = None
    reason: str
    suggestion: str | None = None


class ErrorBody(BaseModel):
    """The error object."""

    code: str
    message: str
    details: list[dict[str, Any]] = []


class ErrorResponse(BaseModel):
    """Every error answer: `{"error": {"code", "message", "details"}}`."""

    error: ErrorBody


class ApiError(Exception):
    """An error the caller caused (4xx) or, rarely, one we name (503)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or {}


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A JSON error answer."""
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return web.json_response(body, status=status, headers=headers, dumps=json_dumps)


def json_dumps(value: Any) -> str:
    """JSON as the success bodies write it: Japanese stays readable, not `\\uXXXX` escaped."""
    return json.dumps(value, ensure_ascii=False)


def validation_details(exc: ValidationError, prefix: str = "body") -> list[dict[str, Any]]:
    """Pydantic errors as error details with a dotted location."""
    details = []
    for err in exc.errors(include_url=False, include_input=False):
        location = ".".join([prefix, *(str(p) for p in err["loc"])])
        details.append({"location": location, "reason": error_reason(err)})
    return details


_DATE_ERRORS = {"date_type", "date_parsing", "date_from_datetime_parsing"}
_DATETIME_ERRORS = {"datetime_type", "datetime_parsing", "datetime_from_date_parsing"}


def error_reason(err: Any) -> str:
    """A pydantic error's message; a date or a datetime that does not parse names the format
    expected (pydantic alone says "invalid character in year")."""
    kind = err.get("type", "")
    detail = (err.get("ctx") or {}).get("error")
    if kind in _DATE_ERRORS:
        return "expected a date as YYYY-MM-DD (e.g. 2026-11-26)" + (
            f": {detail}" if detail else ""
        )
    if kind == "date_from_datetime_inexact":
        return "expected a date as YYYY-MM-DD (e.g. 2026-11-26), without a time"
    if kind in _DATETIME_ERRORS:
        return "expected a date and time as YYYY-MM-DDTHH:MM+09:00 (ISO 8601 with an offset)" + (
            f": {detail}" if detail else ""
        )
    return str(err.get("msg", "invalid"))


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into the JSON error shape; a 5xx is logged as the bug it is."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)
    except web.HTTPRequestEntityTooLarge as exc:
        return error_response(413, "body_too_large", exc.text or "request body too large")
    except ClientGone:
        # A client that hangs up mid-body is not our bug; the answer reaches nobody.
        log.info("client went away mid-request", extra={"path": request.path})
        return error_response(400, "client_gone", "the request body did not arrive")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "http_error")
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_response(exc.status, code, exc.reason, headers=headers)
    except Exception:
        log.exception("unhandled error", extra={"path": request.path, "method": request.method})
        return error_response(500, "internal_error", "internal error (a bug: it has been logged)")


MAX_JSON_DEPTH = 64  # arrays and objects inside each other; real bodies nest a handful


class ClientGone(Exception):
    """The client went away before its request body arrived: nobody is left to answer."""


async def read_json(request: web.Request, model: type[BaseModel]) -> Any:
    """Parse the body as JSON into `model` (strict types: 0 is no date), or raise the right 4xx.

    The body is validated in pydantic's strict JSON mode: `"dry_run": 0`, `"date": 0` or
    `"per_child": "yes"` are refused rather than coerced. The app's URL policy goes along in
    the validation context (callback URLs, links for parents).
    """
    if request.content_length is not None and request.content_length > request.app.get(
        MAX_BODY, 1_000_000
    ):
        raise ApiError(413, "body_too_large", "request body too large")
    try:
        raw = await request.read()
    except (ConnectionError, ClientPayloadError) as exc:
        raise ClientGone() from exc
    if not raw:
        raise ApiError(400, "empty_body", "a JSON body is required")
    try:
        data = json.loads(raw)
    except RecursionError as exc:
        raise _too_deep() from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from exc
    except ValueError as exc:  # an integer of more digits than Python converts
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from exc
    if _depth_over(data, MAX_JSON_DEPTH):
        raise _too_deep()
    nul = _nul_at(data, "body")
    if nul is not None:
        raise ApiError(422, "invalid_request", "the request body is not valid", [nul])
    context = {URL_CONTEXT_KEY: request.app.get(URL_POLICY, STRICT_URLS)}
    try:
        return model.model_validate_json(raw, strict=True, context=context)
    except ValidationError as exc:
        raise ApiError(
            422, "invalid_request", "the request body is not valid", validation_details(exc)
        ) from exc


def _too_deep() -> ApiError:
    return ApiError(400, "malformed_json", f"the body nests deeper than {MAX_JSON_DEPTH} levels")


def _depth_over(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest deeper than `limit` (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


NUL_REASON = "must not contain the NUL character (U+0000)"


def _nul_at(value: Any, location: str) -> dict[str, str] | None:
    """Where a NUL character hides in a parsed JSON value, if anywhere.

    PostgreSQL refuses U+0000 in text (and SQLite would keep it, cutting strings short for many
    readers): such input is the client's error, not a 500.
    """
    if isinstance(value, str):
        return {"location": location, "reason": NUL_REASON} if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _nul_at(key, location) or _nul_at(item, f"{location}.{key}")
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_at(item, f"{location}.{index}")
            if found is not None:
                return found
    return None


def parse_query(request: web.Request, model: type[BaseModel]) -> Any:
    """Query parameters into `model`, or a 422."""
    for name, value in request.query.items():
        nul = _nul_at(name, "query") or _nul_at(value, f"query.{name}")
        if nul is not None:
            raise ApiError(422, "invalid_query", "query parameters are not valid", [nul])
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise ApiError(
            422,
            "invalid_query",
            "query parameters are not valid",
            validation_details(exc, "query"),
        ) from exc


def path_int(request: web.Request, name: str) -> int:
    """An integer path parameter, or 404 (a non-number id names nothing)."""
    text = request.match_info[name]
    if not text.isascii() or not text.isdigit() or not 0 < int(text) <= MAX_ID:
        raise ApiError(404, "not_found", f"no such {name}: {text[:40]}")
    return int(text)


MAX_ID = 2**31 - 1  # ids are 32-bit integers in PostgreSQL


def json_model(model: BaseModel, status: int = 200) -> web.Response:
    """Serialise a pydantic model as the answer."""
    return web.Response(
        text=model.model_dump_json(), status=status, content_type="application/json"
    )


MAX_BODY: web.AppKey[int] = web.AppKey("max_body", int)
URL_POLICY: web.AppKey[UrlPolicy] = web.AppKey("url_policy", UrlPolicy)


class BackgroundTasks:
    """Work started by a request that must not hold up its answer; drained on shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coroutine: Awaitable[Any], what: str) -> None:
        """Run a coroutine in the background; a failure is logged, never lost silently."""

        async def run() -> None:
            try:
                await coroutine
            except Exception:
                log.exception("background work failed", extra={"what": what})

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait for the work in hand (on shutdown, and in tests)."""
        while self._tasks:
            done, _pending = await asyncio.wait(list(self._tasks), timeout=timeout)
            if not done:
                return


BACKGROUND: web.AppKey[BackgroundTasks] = web.AppKey("background", BackgroundTasks)

# The keys every door's handlers share; the composition root fills them.
SESSIONS: web.AppKey[async_sessionmaker[AsyncSession]] = web.AppKey("sessions", async_sessionmaker)
CATALOG: web.AppKey[Catalog] = web.AppKey("catalog", Catalog)
TODAY: web.AppKey[Any] = web.AppKey("today", object)
# The app's clock (aware UTC datetimes); tests give a fixed one. Set by the composition root.
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock", object)  # type: ignore[arg-type]
# "Program changed" and "family changed", announced by the doors after commit.
EVENTS: web.AppKey[Events] = web.AppKey("events", Events)
# The API key the auth middleware found on the request (absent for anonymous requests).
API_KEY: web.RequestKey[ApiKey] = web.RequestKey("api_key", ApiKey)


@dataclass
class Route:
    """One `/api/v1` route and its contract."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    responses: dict[int, type[BaseModel] | None] = field(default_factory=dict)
    auth: str = "none"  # none, optional, required
    # For routes outside the JSON API (health, metrics, the spec, the LINE webhook):
    parameters: list[dict[str, Any]] = field(default_factory=list)  # e.g. a required header
    content: dict[str, Any] | None = None  # the success body's media types when not a model
    errors: frozenset[int] | None = None  # the error statuses it answers (None: derived)


@dataclass
class RouteTable:
    """The routes a package exposes, collected by the composition root."""

    routes: list[Route] = field(default_factory=list)

    def add(self, method: str, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        """Decorator declaring a route."""

        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method=method, path=path, handler=handler, **kwargs))
            return handler

        return register

    def install(self, app: web.Application) -> None:
        """Add the routes to an aiohttp app."""
        for route in self.routes:
            app.router.add_route(route.method, route.path, route.handler)


_ERRORS = {
    400: "malformed request",
    401: "missing or wrong API key",
    403: "the key may not act here",
    404: "not found",
    409: "conflict with the current state",
    413: "body too large",
    422: "invalid input",
    429: "rate limited",
}


def build_openapi(tables: list[RouteTable], *, title: str, version: str) -> dict[str, Any]:
    """OpenAPI 3.1 generated from the routes' pydantic models."""
    from pydantic.json_schema import models_json_schema

    models: set[type[BaseModel]] = {ErrorResponse}
    routes = [route for table in tables for route in table.routes]
    for route in routes:
        for model in (route.body, *route.responses.values()):
            if model is not None:
                models.add(model)
    ordered = sorted(models, key=lambda m: m.__name__)
    keyed, schema = models_json_schema(
        [(m, "validation") for m in ordered], ref_template="#/components/schemas/{model}"
    )
    components = schema.get("$defs", {})

    def ref(model: type[BaseModel]) -> dict[str, Any]:
        return keyed[(model, "validation")]

    paths: dict[str, Any] = {}
    for route in routes:
        operation: dict[str, Any] = {
            "summary": route.summary,
            "tags": [route.tag],
            "operationId": f"{route.method.lower()}_{route.handler.__name__}",
            "responses": {},
        }
        parameters = []
        for name in _path_params(route.path):
            parameters.append(
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                }
            )
        if route.query is not None:
            query_schema = route.query.model_json_schema()
            required = set(query_schema.get("required", []))
            for name, prop in query_schema.get("properties", {}).items():
                parameters.append(
                    {
                        "name": name,
                        "in": "query",
                        "required": name in required,
                        "schema": {k: v for k, v in prop.items() if k != "title"},
                    }
                )
        parameters += route.parameters
        if parameters:
            operation["parameters"] = parameters
        if route.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(route.body)}},
            }
        for status, model in route.responses.items():
            entry: dict[str, Any] = {"description": "success" if status < 300 else "error"}
            if model is not None:
                entry["content"] = {"application/json": {"schema": ref(model)}}
            elif route.content is not None and status < 300:
                entry["content"] = route.content
            operation["responses"][str(status)] = entry
        statuses = {400, 404, 413, 422, 429} if route.body or route.query else {404, 429}
        if route.body is not None:
            statuses.add(400)
        if route.errors is not None:
            statuses = set(route.errors)
        if route.auth != "none":
            statuses |= {401, 403}
        if route.method in {"PATCH", "POST", "DELETE"} and "{" in route.path:
            statuses.add(409)
        for status in sorted(statuses):
            operation["responses"].setdefault(
                str(status),
                {
                    "description": _ERRORS[status],
                    "content": {"application/json": {"schema": ref(ErrorResponse)}},
                },
            )
        if route.auth == "required":
            operation["security"] = [{"bearer": []}]
        elif route.auth == "optional":
            operation["security"] = [{}, {"bearer": []}]
        paths.setdefault(_openapi_path(route.path), {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _openapi_path(path: str) -> str:
    """The path as OpenAPI writes it: `{id:\\d+}` (an aiohttp pattern) becomes `{id}`."""
    return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)


def _path_params(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]
