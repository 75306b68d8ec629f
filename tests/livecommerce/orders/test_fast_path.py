"""The stream order's fast route answers exactly as the documented route does, and takes what it should.

Every case is sent twice, with fresh buyers: once with the fast route on and once with it off
(so the documented FastAPI route answers), and the two answers must be the same: status, the
headers that carry meaning, and the body (ids and times aside, which differ between orders).
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from limits import parse

from livecommerce.kit.db import Database
from livecommerce.orders.fast_path import OrderFastRoute
from tests.factories import Factory, TestUser
from tests.livecommerce.orders.helpers import Shop, make_buyers, open_stream

VOLATILE = {"id", "created_at", "expires_at", "updated_at", "paid_at", "order_id", "placed_at"}
MEANINGFUL_HEADERS = ("content-type", "idempotent-replayed", "retry-after", "content-language")


@dataclass
class World:
    client: httpx.AsyncClient
    shop: Shop
    sold_out_id: int
    app: Any


Case = Callable[[World, TestUser], Awaitable[list[httpx.Response]]]


def _body(product_id: int, quantity: int = 1) -> dict[str, Any]:
    return {"items": [{"product_id": product_id, "quantity": quantity}]}


async def _post(
    w: World, buyer: TestUser, body: Any, *, key: str | None = None, headers: dict[str, str] | None = None, stream_id: int | None = None
) -> httpx.Response:
    sent = {**buyer.headers, "Idempotency-Key": key or uuid.uuid4().hex, **(headers or {})}
    url = f"/api/streams/{stream_id or w.shop.stream_id}/orders"
    if isinstance(body, bytes):
        return await w.client.post(url, content=body, headers={"Content-Type": "application/json", **sent})
    return await w.client.post(url, json=body, headers=sent)


async def accepted(w: World, b: TestUser) -> list[httpx.Response]:
    return [await _post(w, b, _body(w.shop.product_id, 2))]


async def replayed(w: World, b: TestUser) -> list[httpx.Response]:
    key = uuid.uuid4().hex
    return [await _post(w, b, _body(w.shop.product_id), key=key), await _post(w, b, _body(w.shop.product_id), key=key)]


async def key_reused_for_another_order(w: World, b: TestUser) -> list[httpx.Response]:
    key = uuid.uuid4().hex
    return [await _post(w, b, _body(w.shop.product_id), key=key), await _post(w, b, _body(w.shop.product_id, 3), key=key)]


async def sold_out(w: World, b: TestUser) -> list[httpx.Response]:
    return [await _post(w, b, _body(w.sold_out_id))]


async def sold_out_in_chinese(w: World, b: TestUser) -> list[httpx.Response]:
    return [await _post(w, b, _body(w.sold_out_id), headers={"Accept-Language": "zh-CN"})]


async def more_than_in_stock(w: World, b: TestUser) -> list[httpx.Response]:
    return [await _post(w, b, _body(w.shop.other_product_id, 11))]


async def product_not_featured(w: World, b: TestUser) -> list[httpx.Response]:
    return [await _post(w, b, _body(987654))]


async def unknown_stream(w: World, b: TestUser) -> list[httpx.Response]:
    return [await _post(w, b, _body(w.shop.product_id), stream_id=987654)]


async def quantity_zero(w: World, b: TestUser) -> list[httpx.Response]:
    return [await _post(w, b, _body(w.shop.product_id, 0))]


async def malformed_json(w: World, b: TestUser) -> list[httpx.Response]:
    return [await _post(w, b, b'{"items": [')]


async def deeply_nested_json(w: World, b: TestUser) -> list[httpx.Response]:
    return [await _post(w, b, b"[" * 5000 + b"]" * 5000)]


async def bad_key(w: World, b: TestUser) -> list[httpx.Response]:
    return [await _post(w, b, _body(w.shop.product_id), key="has space")]


async def cookie_sign_in(w: World, b: TestUser) -> list[httpx.Response]:
    headers = {"Cookie": f"lc_token={b.token}", "X-Requested-With": "fetch", "Idempotency-Key": uuid.uuid4().hex}
    url = f"/api/streams/{w.shop.stream_id}/orders"
    return [await w.client.post(url, json=_body(w.shop.product_id), headers=headers)]


async def cookie_without_requested_with(w: World, b: TestUser) -> list[httpx.Response]:
    headers = {"Cookie": f"lc_token={b.token}", "Idempotency-Key": uuid.uuid4().hex}
    return [await w.client.post(f"/api/streams/{w.shop.stream_id}/orders", json=_body(w.shop.product_id), headers=headers)]


async def forged_token(w: World, b: TestUser) -> list[httpx.Response]:
    return [await _post(w, b, _body(w.shop.product_id), headers={"Authorization": "Bearer not-a-token"})]


async def forged_token_and_no_json(w: World, b: TestUser) -> list[httpx.Response]:
    return [await _post(w, b, b"{nope", headers={"Authorization": "Bearer not-a-token"})]


async def forged_token_and_bad_fields(w: World, b: TestUser) -> list[httpx.Response]:
    return [await _post(w, b, {"items": "many"}, headers={"Authorization": "Bearer not-a-token"})]


async def forged_cookie(w: World, b: TestUser) -> list[httpx.Response]:
    headers = {"Cookie": "lc_token=not-a-token", "X-Requested-With": "fetch", "Idempotency-Key": uuid.uuid4().hex}
    return [await w.client.post(f"/api/streams/{w.shop.stream_id}/orders", json=_body(w.shop.product_id), headers=headers)]


async def signed_out(w: World, b: TestUser) -> list[httpx.Response]:
    out = await w.client.post("/api/auth/logout", headers=b.headers)
    assert out.status_code == 204, out.text
    return [await _post(w, b, _body(w.shop.product_id))]


async def rate_limited(w: World, b: TestUser) -> list[httpx.Response]:
    limiter = w.app.state.rate_limiter
    limiter.enabled, limiter.rules["orders_buyer"] = True, parse("1/minute")
    try:
        return [await _post(w, b, _body(w.shop.product_id)), await _post(w, b, _body(w.shop.product_id))]
    finally:
        limiter.enabled = False


# name -> (case, how many of its requests the fast route takes, how many of those it hands on)
CASES: dict[str, tuple[Case, int, int]] = {
    "accepted": (accepted, 1, 0),
    "replayed": (replayed, 2, 0),
    "key_reused_for_another_order": (key_reused_for_another_order, 2, 0),
    "sold_out": (sold_out, 1, 0),
    "sold_out_in_chinese": (sold_out_in_chinese, 1, 0),
    "more_than_in_stock": (more_than_in_stock, 1, 0),
    "product_not_featured": (product_not_featured, 1, 0),
    "unknown_stream": (unknown_stream, 1, 0),
    "quantity_zero": (quantity_zero, 1, 1),
    "malformed_json": (malformed_json, 1, 1),
    "deeply_nested_json": (deeply_nested_json, 1, 1),
    "bad_key": (bad_key, 0, 0),
    "cookie_sign_in": (cookie_sign_in, 1, 0),
    "cookie_without_requested_with": (cookie_without_requested_with, 0, 0),
    "forged_token": (forged_token, 1, 0),
    "forged_token_and_no_json": (forged_token_and_no_json, 1, 1),
    "forged_token_and_bad_fields": (forged_token_and_bad_fields, 1, 0),
    "forged_cookie": (forged_cookie, 1, 0),
    "signed_out": (signed_out, 1, 0),
    "rate_limited": (rate_limited, 2, 0),
}


def _fast_route(app: Any) -> OrderFastRoute:
    return next(r for r in app.router.routes if isinstance(r, OrderFastRoute))


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _answer(r: httpx.Response) -> dict[str, Any]:
    body: Any = _strip(r.json() if r.content else None)
    headers = {h: r.headers.get(h) for h in MEANINGFUL_HEADERS}
    if r.status_code == 429:  # the seconds left in the window tick on between the two requests
        headers["retry-after"] = "set" if headers["retry-after"] else None
        body["detail"] = re.sub(r"\d+ s\b", "N s", body["detail"])
        body.pop("retry_after")
    return {"status": r.status_code, "headers": headers, "body": body}


@pytest.fixture
async def world(client: httpx.AsyncClient, make: Factory, shop: Shop, db: Database, app: Any) -> World:
    gone = await make.product(shop.county_id, price_fen=2990, stock=0)
    anchor = await make.anchor(shop.county_id)
    assert gone.id is not None and anchor.id is not None
    stream_id = await open_stream(db, anchor.id, [shop.product_id, shop.other_product_id, gone.id])
    return World(client, dataclasses.replace(shop, stream_id=stream_id), gone.id, app)


@pytest.mark.parametrize("known", [True, False], ids=["token-known", "token-new"])
@pytest.mark.parametrize("name", list(CASES))
async def test_the_fast_route_answers_as_the_documented_route(
    name: str, known: bool, world: World, db: Database, make: Factory, app: Any
) -> None:
    case, taken, handed_on = CASES[name]
    route = _fast_route(app)
    answers = {}
    for fast in (True, False):
        route.enabled = fast
        buyer = (await make_buyers(db, make, 1))[0]
        if known:  # this instance has checked the buyer's token and holds the buyer in memory
            me = await world.client.get("/api/me", headers=buyer.headers)
            assert me.status_code == 200, me.text
        before = (route.taken, route.handed_on)
        answers[fast] = [_answer(r) for r in await case(world, buyer)]
        assert (route.taken - before[0], route.handed_on - before[1]) == ((taken, handed_on) if fast else (0, 0))
    assert answers[True] == answers[False]


async def test_an_order_is_byte_for_byte_the_documented_routes(world: World, db: Database, make: Factory, app: Any) -> None:
    route = _fast_route(app)
    bodies = []
    for fast in (True, False):
        route.enabled = fast
        buyer = (await make_buyers(db, make, 1))[0]
        assert (await world.client.get("/api/me", headers=buyer.headers)).status_code == 200
        key = uuid.uuid4().hex
        first = await _post(world, buyer, _body(world.shop.product_id), key=key)
        route.enabled = not fast  # the replay through the other route returns the same bytes
        again = await _post(world, buyer, _body(world.shop.product_id), key=key)
        assert first.status_code == again.status_code == 201
        assert again.content == first.content
        bodies.append(first.json())
    assert _strip(bodies[0]) == _strip(bodies[1])


async def test_a_revoked_token_is_refused_at_once(world: World, db: Database, make: Factory, app: Any) -> None:
    route = _fast_route(app)
    buyer = (await make_buyers(db, make, 1))[0]
    assert (await _post(world, buyer, _body(world.shop.product_id))).status_code == 201
    assert app.state.principals.peek(buyer.token) is not None  # held in memory from now on
    # Signing out everywhere raises the credential version; the cache drops the user on the notice.
    out = await world.client.post("/api/auth/logout", headers=buyer.headers)
    assert out.status_code == 204, out.text
    assert app.state.principals.peek(buyer.token) is None
    refused = await _post(world, buyer, _body(world.shop.product_id))
    assert refused.status_code == 401
    assert route.taken == 2


async def test_links_to_named_routes_pass_over_the_fast_route(app: Any) -> None:
    route = _fast_route(app)
    assert app.router.routes[0] is route
    assert app.url_path_for("reminders_ics", user_id=7) == "/api/users/7/reminders.ics"


async def test_new_buyers_ordering_at_once_are_read_together(world: World, db: Database, make: Factory, app: Any) -> None:
    buyers = await make_buyers(db, make, 12)
    answers = await asyncio.gather(*(_post(world, b, _body(world.shop.product_id)) for b in buyers))
    assert [r.status_code for r in answers] == [201] * 12
    assert len({r.json()["id"] for r in answers}) == 12
    principals = app.state.principals
    assert principals.loads == 12
    assert principals._group[1].reads < 12  # the batching is what is under test
