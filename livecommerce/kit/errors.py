"""The app's error types and their rendering as RFC 9457 problem+json."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from livecommerce.kit.types import MAX_ID

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger(__name__)


class LiveCommerceError(Exception):
    """Base of every error the app raises on purpose; rendered as problem+json."""

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}
        self.headers = headers or {}


class BadRequest(LiveCommerceError):
    status, slug, title = 400, "bad-request", "Bad request"


class InvalidInput(LiveCommerceError):
    status, slug, title = 422, "validation-error", "Invalid input"


class Unauthorized(LiveCommerceError):
    status, slug, title = 401, "unauthorized", "Not signed in"

    def __init__(self, detail: str = "Sign in to do this.", **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kwargs)


class Forbidden(LiveCommerceError):
    status, slug, title = 403, "forbidden", "Not allowed"


class NotFound(LiveCommerceError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(LiveCommerceError):
    status, slug, title = 409, "conflict", "Conflict"


class OutOfStock(Conflict):
    slug, title = "out-of-stock", "Out of stock"


class InvalidState(Conflict):
    slug, title = "invalid-state", "Not possible in the current state"


class PayloadTooLarge(LiveCommerceError):
    status, slug, title = 413, "payload-too-large", "Request too large"


class RateLimited(LiveCommerceError):
    status, slug, title = 429, "rate-limited", "Too many requests"


class ServiceUnavailable(LiveCommerceError):
    status, slug, title = 503, "service-unavailable", "Service unavailable"


def problem(status: int, title: str, detail: str, slug: str | None = None, **extra: Any) -> dict[str, Any]:
    """A problem+json body."""
    body: dict[str, Any] = {
        "type": f"/problems/{slug or HTTPStatus(status).phrase.lower().replace(' ', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update(extra)
    return body


def problem_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSONResponse with the problem+json media type."""
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _location(err: Any) -> str:
    if err.get("type") == "json_invalid":
        return "body"  # the location of a JSON decode error is a character offset, not a field
    parts = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
    return ".".join(parts) or "body"


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette's own Allow names only the first route's)."""
    routes = request.app.router.routes
    return [
        method
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


def _out_of_range(exc: BaseException) -> bool:
    """True when a database driver refused a bound number as too large (a huge id in a request)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OverflowError):
            return True
        if type(current).__name__ == "DataError" and "out of" in str(current) and "range" in str(current):
            return True
        current = getattr(current, "orig", None) or current.__cause__
    return False


def _unstorable_text(exc: BaseException) -> bool:
    """True when PostgreSQL refused a text value it cannot store (a NUL character in a request's string)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ in ("CharacterNotInRepertoireError", "UntranslatableCharacterError"):
            return True
        current = getattr(current, "orig", None) or current.__cause__
    return False


def _out_of_range_response() -> JSONResponse:
    body = problem(422, "Invalid input", "A number in the request is out of range.", "validation-error", errors=[])
    return problem_response(422, body)


class UnhandledErrorMiddleware:
    """Turns an exception nobody handled into a 500 problem+json inside the middleware stack.

    Starlette answers an unhandled exception from its outermost `ServerErrorMiddleware`, outside
    every middleware we add, so that answer had no security headers and no request id. Placed
    innermost, this one answers first and the response passes out through them all; the error
    is logged here with its traceback.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if started:
                raise  # the status line is gone; only closing the connection is left, which the server does
            log.exception("unhandled_error", method=scope.get("method"), path=scope.get("path"))
            response = problem_response(500, problem(500, "Internal error", "An unexpected error occurred.", "internal-error"))
            await response(scope, receive, send)


# The answers every operation may give besides its own (API conventions), all problem+json.
DOCUMENTED_PROBLEMS: dict[int, str] = {
    400: "Malformed request",
    401: "Not signed in, or the token is expired or revoked",
    403: "Not allowed for this role or outside its counties",
    404: "No such resource",
    409: "Conflicts with the current state (stock, schedule, order state)",
    413: "Request body too large",
    422: "Invalid input; `errors` lists each bad field",
    429: "Rate limited; `Retry-After` says when to try again",
    503: "A backing service is unreachable or busy; retry after `Retry-After`",
}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem; validation errors add `errors`, scheduling conflicts `conflicts`.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
        "conflicts": {"type": "array", "items": {"type": "object"}},
    },
}


def _bound_ids(operation: dict[str, Any]) -> None:
    """An id parameter names a positive 32-bit INTEGER column: say so, as the server refuses larger ones (422)."""
    for parameter in operation.get("parameters", []):
        name, param_schema = parameter.get("name", ""), parameter.get("schema", {})
        if name != "id" and not name.endswith("_id"):
            continue
        for variant in [param_schema, *param_schema.get("anyOf", [])]:  # `int | None` is anyOf integer, null
            if variant.get("type") == "integer":
                variant.setdefault("minimum", 1)
                variant.setdefault("maximum", MAX_ID)


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare the problem+json answers (and id bounds) on every operation of an OpenAPI schema (in place; returned)."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            _bound_ids(operation)
            responses = operation.setdefault("responses", {})
            for status, description in DOCUMENTED_PROBLEMS.items():
                entry = responses.setdefault(str(status), {"description": description})
                if str(status) == "422":
                    entry["description"] = description  # FastAPI's own text describes its JSON shape, not ours
                entry["content"] = content
    return schema


def _install_problem_docs(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise the schema


def install_error_handlers(app: FastAPI) -> None:
    """Render every error the app can produce as problem+json, and say so in the OpenAPI schema."""
    _install_problem_docs(app)

    @app.exception_handler(LiveCommerceError)
    async def _domain_error(_request: Request, exc: LiveCommerceError) -> JSONResponse:
        body = problem(exc.status, exc.title, exc.detail, exc.slug, **exc.extra)
        return problem_response(exc.status, body, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _location(err), "message": err.get("msg", "invalid"), "type": err.get("type")} for err in exc.errors()]
        fields = ", ".join(sorted({e["field"] for e in errors}))
        body = problem(422, "Invalid input", f"The request is not valid: {fields}.", "validation-error", errors=errors)
        return problem_response(422, body)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        phrase = HTTPStatus(exc.status_code).phrase
        detail = exc.detail if isinstance(exc.detail, str) else phrase
        headers = dict(getattr(exc, "headers", None) or {})
        allowed = _allowed_methods(request) if exc.status_code == 405 else []
        if allowed:
            headers["Allow"] = ", ".join(allowed)
            detail = f"{request.method} is not allowed here; use {' or '.join(allowed)}."
        return problem_response(exc.status_code, problem(exc.status_code, phrase, detail), headers)

    @app.exception_handler(PoolTimeoutError)
    @app.exception_handler(OperationalError)
    async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
        log.warning("database_unavailable", error=type(exc).__name__)
        body = problem(503, "Service unavailable", "The database is not reachable; try again shortly.", "service-unavailable")
        return problem_response(503, body, {"Retry-After": "2"})

    @app.exception_handler(OverflowError)
    async def _overflow(_request: Request, exc: OverflowError) -> JSONResponse:
        # SQLite's driver raises this (unwrapped) for an integer wider than 64 bits.
        log.warning("number_out_of_range", error=str(exc))
        return _out_of_range_response()

    @app.exception_handler(ConnectionError)
    @app.exception_handler(TimeoutError)
    async def _backend_unreachable(_request: Request, exc: Exception) -> JSONResponse:
        # asyncpg raises plain OSError subclasses when the server is down or restarting.
        log.warning("backend_unreachable", error=type(exc).__name__)
        body = problem(503, "Service unavailable", "A backing service is not reachable; try again shortly.", "service-unavailable")
        return problem_response(503, body, {"Retry-After": "2"})

    @app.exception_handler(DBAPIError)
    async def _database_error(_request: Request, exc: DBAPIError) -> JSONResponse:
        if _out_of_range(exc):
            # asyncpg refuses an id beyond int32 before the query runs: bad input, not a fault.
            log.warning("number_out_of_range", error=type(exc.orig).__name__ if exc.orig else type(exc).__name__)
            return _out_of_range_response()
        if _unstorable_text(exc):
            log.warning("unstorable_text", error=type(exc.orig).__name__ if exc.orig else type(exc).__name__)
            body = problem(
                422,
                "Invalid input",
                "A text in the request contains a character that cannot be stored (NUL).",
                "validation-error",
                errors=[],
            )
            return problem_response(422, body)
        if exc.connection_invalidated or _is_connection_error(exc):
            body = problem(503, "Service unavailable", "The database is not reachable; try again shortly.", "service-unavailable")
            return problem_response(503, body, {"Retry-After": "2"})
        if _sqlstate(exc) in _TRANSIENT_SQLSTATES:
            # A serialization failure, deadlock or lock/statement timeout rolled the work back:
            # nothing changed, and the client may retry (with the same Idempotency-Key).
            log.warning("database_contention", sqlstate=_sqlstate(exc))
            body = problem(503, "Service unavailable", "The database was too busy to finish this; retry it.", "service-unavailable")
            return problem_response(503, body, {"Retry-After": "1"})
        log.error("database_error", error=type(exc.orig).__name__ if exc.orig else type(exc).__name__)
        body = problem(500, "Internal error", "An unexpected database error occurred.", "internal-error")
        return problem_response(500, body)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        # A bug; Starlette re-raises it after this response, so it is still logged with its traceback.
        body = problem(500, "Internal error", "An unexpected error occurred.", "internal-error")
        return problem_response(500, body)


# serialization_failure, deadlock_detected, lock_not_available, query_canceled (statement timeout)
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57014"})


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    cause = getattr(orig, "__cause__", None)
    if code is None and cause is not None:
        code = getattr(cause, "sqlstate", None)
    return str(code) if code else None


def _is_connection_error(exc: DBAPIError) -> bool:
    text = f"{type(exc.orig).__name__} {exc.orig}".lower()
    markers = ("connection", "connect", "cannot", "terminat", "closed", "refused", "timeout")
    return any(m in text for m in markers)
