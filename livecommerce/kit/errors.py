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
from starlette.requests import HTTPConnection
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from livecommerce.kit.i18n import LANG_COOKIE, LazyMessage, _l, negotiate
from livecommerce.kit.query import state_bounds
from livecommerce.kit.types import MAX_ID

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger(__name__)


class LiveCommerceError(Exception):
    """Base of every error the app raises on purpose; rendered as problem+json in the reader's language.

    `detail` is a lazy message (`_l("{product} is sold out.", product=name)`) rendered per request;
    a plain string still works and is shown as it is (English in both languages until translated).
    """

    status: int = 400
    slug: str = "bad-request"
    title: LazyMessage | str = _l("Bad request")

    def __init__(self, detail: LazyMessage | str, *, extra: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(str(detail))
        self.message = detail
        self.extra = extra or {}
        self.headers = headers or {}

    @property
    def detail(self) -> str:
        """The detail in English (logs, the CLI, tests)."""
        return str(self.message)

    def render(self, lang: str) -> tuple[str, str]:
        """The title and the detail in `lang`."""
        return _render(self.title, lang), _render(self.message, lang)


def _render(text: LazyMessage | str, lang: str) -> str:
    return text.render(lang) if isinstance(text, LazyMessage) else text


class BadRequest(LiveCommerceError):
    status = 400
    slug = "bad-request"
    title: LazyMessage | str = _l("Bad request")


class InvalidInput(LiveCommerceError):
    status = 422
    slug = "validation-error"
    title: LazyMessage | str = _l("Invalid input")


class Unauthorized(LiveCommerceError):
    status = 401
    slug = "unauthorized"
    title: LazyMessage | str = _l("Not signed in")

    def __init__(self, detail: LazyMessage | str = _l("Sign in to do this."), **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kwargs)


class Forbidden(LiveCommerceError):
    status = 403
    slug = "forbidden"
    title: LazyMessage | str = _l("Not allowed")


class NotFound(LiveCommerceError):
    status = 404
    slug = "not-found"
    title: LazyMessage | str = _l("Not found")


class Conflict(LiveCommerceError):
    status = 409
    slug = "conflict"
    title: LazyMessage | str = _l("Conflict")


class OutOfStock(Conflict):
    slug = "out-of-stock"
    title: LazyMessage | str = _l("Out of stock")


class InvalidState(Conflict):
    slug = "invalid-state"
    title: LazyMessage | str = _l("Not possible in the current state")


class PayloadTooLarge(LiveCommerceError):
    status = 413
    slug = "payload-too-large"
    title: LazyMessage | str = _l("Request too large")


class RateLimited(LiveCommerceError):
    status = 429
    slug = "rate-limited"
    title: LazyMessage | str = _l("Too many requests")


class ServiceUnavailable(LiveCommerceError):
    status = 503
    slug = "service-unavailable"
    title: LazyMessage | str = _l("Service unavailable")


def request_language(connection: HTTPConnection) -> str:
    """The language of a request's problem details: Accept-Language (the pages send theirs), then the page cookie, else English."""
    return negotiate(connection.headers.get("accept-language"), connection.cookies.get(LANG_COOKIE))


def _rendered_extra(value: Any, lang: str) -> Any:
    """An extra field with every lazy message in it rendered in `lang` (an import's row messages)."""
    if isinstance(value, LazyMessage):
        return value.render(lang)
    if isinstance(value, dict):
        return {key: _rendered_extra(item, lang) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_rendered_extra(item, lang) for item in value]
    return value


def error_problem(exc: LiveCommerceError, lang: str) -> dict[str, Any]:
    """The problem+json body of an error, its title, detail and any lazy message among the extra fields in `lang`."""
    title, detail = exc.render(lang)
    return problem(exc.status, title, detail, exc.slug, **_rendered_extra(exc.extra, lang))


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


# pydantic's error types, in words a reader of either language understands ({ctx} fields are pydantic's).
_VALIDATION_MESSAGES: dict[str, LazyMessage] = {
    "missing": _l("Field required"),
    "string_too_short": _l("Should have at least {min_length} characters"),
    "string_too_long": _l("Should have at most {max_length} characters"),
    "too_short": _l("Should have at least {min_length} items"),
    "too_long": _l("Should have at most {max_length} items"),
    "greater_than": _l("Should be greater than {gt}"),
    "greater_than_equal": _l("Should be at least {ge}"),
    "less_than": _l("Should be less than {lt}"),
    "less_than_equal": _l("Should be at most {le}"),
    "int_type": _l("Should be a whole number"),
    "int_parsing": _l("Should be a whole number"),
    "int_from_float": _l("Should be a whole number"),
    "float_type": _l("Should be a number"),
    "float_parsing": _l("Should be a number"),
    "string_type": _l("Should be a text"),
    "bool_type": _l("Should be true or false"),
    "bool_parsing": _l("Should be true or false"),
    "list_type": _l("Should be a list"),
    "dict_type": _l("Should be an object"),
    "model_type": _l("Should be an object"),
    "model_attributes_type": _l("Should be an object"),
    "enum": _l("Should be one of {expected}"),
    "literal_error": _l("Should be one of {expected}"),
    "string_pattern_mismatch": _l("Has the wrong format"),
    "datetime_type": _l("Should be a date and time"),
    "datetime_parsing": _l("Should be a date and time (ISO 8601)"),
    "datetime_from_date_parsing": _l("Should be a date and time (ISO 8601)"),
    "date_type": _l("Should be a date"),
    "date_parsing": _l("Should be a date (YYYY-MM-DD)"),
    "date_from_datetime_parsing": _l("Should be a date (YYYY-MM-DD)"),
    "time_parsing": _l("Should be a time (HH:MM)"),
    "timezone_aware": _l("Should have a time zone"),
    "extra_forbidden": _l("Is not a known field"),
    "json_invalid": _l("Is not valid JSON"),
    "value_error": _l("Is not valid: {error}"),
    "uuid_parsing": _l("Should be a UUID"),
    "url_parsing": _l("Should be a URL"),
    "multiple_of": _l("Should be a multiple of {multiple_of}"),
}


def validation_lazy(err: Any) -> LazyMessage | str:
    """A pydantic error's message, to be rendered in the reader's language (pydantic's own English when its type has no translation)."""
    template = _VALIDATION_MESSAGES.get(str(err.get("type")))
    original = str(err.get("msg", "invalid"))
    if template is None:
        return original
    ctx = {name: str(value) for name, value in (err.get("ctx") or {}).items()}
    if err.get("type") == "value_error":
        ctx["error"] = original.removeprefix("Value error, ")
    try:
        template.template.format(**ctx)  # every parameter the template names is there
    except (KeyError, IndexError, ValueError):
        return original
    return LazyMessage(template.template, **ctx)


def validation_message(err: Any, lang: str) -> str:
    """A pydantic error's message in `lang` (pydantic's own English when its type has no translation)."""
    message = validation_lazy(err)
    return message.render(lang) if isinstance(message, LazyMessage) else message


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


def _out_of_range_response(request: Request) -> JSONResponse:
    return problem_answer(request, InvalidInput(_l("A number in the request is out of range."), extra={"errors": []}))


def problem_answer(request: Request, exc: LiveCommerceError) -> JSONResponse:
    """The problem+json answer to a domain error, in the request's language (what the app's handler sends)."""
    lang = request_language(request)
    return problem_response(exc.status, error_problem(exc, lang), {**exc.headers, "Content-Language": lang})


class InternalError(LiveCommerceError):
    """A bug (never raised on purpose; the handlers answer with it)."""

    status = 500
    slug = "internal-error"
    title: LazyMessage | str = _l("Internal error")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


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
            error = InternalError(_l("An unexpected error occurred."))
            response = problem_response(500, error_problem(error, negotiate(_header(scope, b"accept-language"))))
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
            state_bounds(operation)
            _bound_ids(operation)
            responses = operation.setdefault("responses", {})
            for status, description in DOCUMENTED_PROBLEMS.items():
                entry = responses.setdefault(str(status), {"description": description})
                if str(status) == "422":
                    entry["description"] = description  # FastAPI's own text describes its JSON shape, not ours
            for status, entry in responses.items():
                if status[:1] in ("4", "5"):  # an operation's own errors (a provider's 502) are problems too
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
    async def _domain_error(request: Request, exc: LiveCommerceError) -> JSONResponse:
        return problem_answer(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        lang = request_language(request)
        errors = [{"field": _location(err), "message": validation_message(err, lang), "type": err.get("type")} for err in exc.errors()]
        fields = ", ".join(sorted({e["field"] for e in errors}))
        detail = _l("The request is not valid: {fields}.", fields=fields).render(lang)
        body = problem(422, _l("Invalid input").render(lang), detail, "validation-error", errors=errors)
        return problem_response(422, body, {"Content-Language": lang})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        phrase = HTTPStatus(exc.status_code).phrase
        detail = exc.detail if isinstance(exc.detail, str) else phrase
        headers = dict(getattr(exc, "headers", None) or {})
        allowed = _allowed_methods(request) if exc.status_code == 405 else []
        if allowed:
            headers["Allow"] = ", ".join(allowed)
            detail = _l("{method} is not allowed here; use {allowed}.", method=request.method, allowed=" or ".join(allowed)).render(
                request_language(request)
            )
        return problem_response(exc.status_code, problem(exc.status_code, phrase, detail), headers)

    @app.exception_handler(PoolTimeoutError)
    @app.exception_handler(OperationalError)
    async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database_unavailable", error=type(exc).__name__)
        unreachable = ServiceUnavailable(_l("The database is not reachable; try again shortly."), headers={"Retry-After": "2"})
        return problem_answer(request, unreachable)

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> JSONResponse:
        # SQLite's driver raises this (unwrapped) for an integer wider than 64 bits.
        log.warning("number_out_of_range", error=str(exc))
        return _out_of_range_response(request)

    @app.exception_handler(ConnectionError)
    @app.exception_handler(TimeoutError)
    async def _backend_unreachable(request: Request, exc: Exception) -> JSONResponse:
        # asyncpg raises plain OSError subclasses when the server is down or restarting.
        log.warning("backend_unreachable", error=type(exc).__name__)
        return problem_answer(
            request, ServiceUnavailable(_l("A backing service is not reachable; try again shortly."), headers={"Retry-After": "2"})
        )

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if _out_of_range(exc):
            # asyncpg refuses an id beyond int32 before the query runs: bad input, not a fault.
            log.warning("number_out_of_range", error=type(exc.orig).__name__ if exc.orig else type(exc).__name__)
            return _out_of_range_response(request)
        if _unstorable_text(exc):
            log.warning("unstorable_text", error=type(exc.orig).__name__ if exc.orig else type(exc).__name__)
            text = _l("A text in the request contains a character that cannot be stored (NUL).")
            return problem_answer(request, InvalidInput(text, extra={"errors": []}))
        if exc.connection_invalidated or _is_connection_error(exc):
            return problem_answer(
                request, ServiceUnavailable(_l("The database is not reachable; try again shortly."), headers={"Retry-After": "2"})
            )
        if _sqlstate(exc) in _TRANSIENT_SQLSTATES:
            # A serialization failure, deadlock or lock/statement timeout rolled the work back:
            # nothing changed, and the client may retry (with the same Idempotency-Key).
            log.warning("database_contention", sqlstate=_sqlstate(exc))
            return problem_answer(
                request, ServiceUnavailable(_l("The database was too busy to finish this; retry it."), headers={"Retry-After": "1"})
            )
        log.error("database_error", error=type(exc.orig).__name__ if exc.orig else type(exc).__name__)
        return problem_answer(request, InternalError(_l("An unexpected database error occurred.")))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug; Starlette re-raises it after this response, so it is still logged with its traceback.
        return problem_answer(request, InternalError(_l("An unexpected error occurred.")))


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
