"""The flash sale's front door: `POST /api/streams/{id}/orders` without the framework's per-request machinery.

During a sell-out thousands of viewers send the same well-formed order in the same second,
and most of what an answer cost was the framework: solving a dozen dependencies per request,
matching the path against every route, validating the response model again. This route sits
first in the router and takes the requests that carry what an order needs (a bearer token,
or the sign-in cookie with X-Requested-With; a well-formed Idempotency-Key; a JSON body with
a length), and does what the documented route (`endpoints.place_order`) and its dependencies
do, in the same order: a body that is not JSON first, then the caller (from memory when this
instance has checked the token, else the same `PrincipalSource.from_token`), the body's
fields, the placement rate limits, the order desk, and 201 with the same JSON. Domain errors
go to the same problem+json handlers.

Whatever it does not take, and a body whose JSON or fields do not validate, goes on untouched
to the documented route, which words those errors as it always has; so the framework's own
validation messages stay the framework's. The OpenAPI schema is the documented route's.
`LIVECOMMERCE_ORDER_FAST_PATH=false` turns this route off; tests/livecommerce/orders/test_fast_path.py
sends every case both ways and compares the answers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import URLPath
from starlette.requests import Request, cookie_parser
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from livecommerce.kit.errors import LiveCommerceError, Unauthorized, problem_answer
from livecommerce.kit.principal import Principal
from livecommerce.kit.ratelimit_deps import check_order_placement
from livecommerce.kit.types import MAX_ID
from livecommerce.orders.desk import desk_of
from livecommerce.orders.schemas import IDEMPOTENCY_KEY_PATTERN, OrderCreate
from livecommerce.orders.service import placed_public

PATH = "/api/streams/{stream_id}/orders"
_PATH = re.compile(r"/api/streams/([1-9][0-9]{0,17})/orders")
_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
# An order's body is a few hundred bytes; a longer one (or one without a length) takes the documented route.
MAX_BODY = 16 * 1024
_TAKEN = "livecommerce.order_fast_path"  # in the scope of a request this route took (and on it, if handed on)
_JSON_HEADERS = [(b"content-type", b"application/json")]


class OrderFastRoute(BaseRoute):
    """Answers the common stream order itself; hands every other request on to the routes after it."""

    path = PATH  # what the request metrics and logs name the route by, as for the documented route

    def __init__(self, app_state: Any, router: ASGIApp) -> None:
        self.state = app_state
        self.router = router
        self.enabled = True
        self.taken = 0  # requests it matched (answered itself, or handed on)
        self.handed_on = 0  # requests it took and then handed on (their bodies did not validate)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope.get("method") != "POST" or _TAKEN in scope or not self.enabled:
            return Match.NONE, {}
        found = _PATH.fullmatch(scope["path"])
        if found is None or scope.get("root_path"):
            return Match.NONE, {}
        stream_id = int(found.group(1))
        if stream_id > MAX_ID:
            return Match.NONE, {}
        asked = _ask(scope["headers"])
        if asked is None:
            return Match.NONE, {}
        return Match.FULL, {"route": self, "path_params": {"stream_id": stream_id}, _TAKEN: asked}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)  # it has no name: `url_for` finds the documented route

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The documented route's order of judgement: a body that is not JSON (before anything
        # else), the caller (its dependencies), the body's fields, the rate limits, the desk.
        asked: _Asked = scope[_TAKEN]
        self.taken += 1
        body = await _read_body(receive)
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):  # not JSON (or not UTF-8): the documented route words the 422 (or 400)
            await self._hand_on(scope, body, receive, send)
            return
        principal = await self._caller(asked)
        try:
            order = OrderCreate.model_validate(parsed)
        except (ValidationError, RecursionError):
            await self._hand_on(scope, body, receive, send)
            return
        stream_id: int = scope["path_params"]["stream_id"]
        state = self.state
        scope.setdefault("state", {})["principal"] = principal
        await check_order_placement(state.rate_limiter, principal.id, stream_id)
        try:
            placed = await desk_of(state).order_in_stream(principal, stream_id, order, key=asked.key, now=state.clock.now())
        except LiveCommerceError as exc:
            # Sold out, not live, ...: answered here as the app's handler answers, without a raise through every layer.
            await problem_answer(Request(scope), exc)(scope, receive, send)
            return
        content = placed_public(placed).model_dump_json(by_alias=True).encode()
        headers = [*_JSON_HEADERS, (b"content-length", str(len(content)).encode())]
        if not placed.created:
            headers.append((b"idempotent-replayed", b"true"))
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def _caller(self, asked: _Asked) -> Principal:
        """The caller, as `kit.auth.current_principal` finds it (from memory when this instance knows the token)."""
        source = self.state.principals
        principal: Principal | None = source.peek(asked.token)
        if principal is not None:
            return principal
        try:
            found: Principal = await source.from_token_in(self.state.db, asked.token)
        except Unauthorized:
            if asked.by_cookie:
                raise Unauthorized() from None  # a stale cookie makes the caller anonymous, and ordering needs a caller
            raise
        return found

    async def _hand_on(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> None:
        self.handed_on += 1
        await self.router(scope, _replay(body, receive), send)


@dataclass(frozen=True)
class _Asked:
    token: str
    key: str
    by_cookie: bool


def _ask(headers: list[tuple[bytes, bytes]]) -> _Asked | None:
    """The sign-in token and the Idempotency-Key of a request this route may take, or None.

    The token is found as `kit.auth.optional_principal` finds it: the first Authorization
    header when its scheme is Bearer, else the `lc_token` cookie of the first Cookie header
    when the request says X-Requested-With.
    """
    found: dict[bytes, bytes] = {}
    for name, value in headers:
        if name in _WANTED:
            if name in found and name in _SINGLE:
                return None  # sent twice: let the documented route decide which counts
            found.setdefault(name, value)
    length, key = found.get(b"content-length"), found.get(b"idempotency-key")
    content_type = found.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
    if content_type != b"application/json" or length is None or not length.isdigit() or int(length) > MAX_BODY or key is None:
        return None
    token: str | None = None
    authorization = found.get(b"authorization")
    if authorization:
        scheme, _, param = authorization.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer":
            token = param
    by_cookie = token is None
    if by_cookie and b"x-requested-with" in found and b"cookie" in found:
        token = cookie_parser(found[b"cookie"].decode("latin-1")).get("lc_token") or None
    text_key = key.decode("latin-1")
    if token is None or _KEY.match(text_key) is None:
        return None
    return _Asked(token, text_key, by_cookie)


_WANTED = frozenset({b"authorization", b"idempotency-key", b"content-type", b"content-length", b"cookie", b"x-requested-with"})
_SINGLE = frozenset({b"idempotency-key", b"content-type", b"content-length"})


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body already read, then whatever the client sends next (its disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
