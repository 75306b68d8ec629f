"""Every channel places through one path: the same cause gets the same status and problem type everywhere."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col

from livecommerce.catalog.models import Product
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from tests.factories import Factory, TestUser
from tests.livecommerce.ledger.support import read_books
from tests.livecommerce.orders.helpers import Shop, buckets, make_buyers

Send = Callable[[list[dict[str, Any]], str], Awaitable[httpx.Response]]


@pytest.fixture(params=["stream", "subscription", "station"])
async def channel(request: pytest.FixtureRequest, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> Send:
    """A way to place an order in one channel: (items, idempotency key) -> response."""
    station = await make.station(shop.county_id)
    (viewer,) = await make_buyers(db, make, 1)

    async def send(items: list[dict[str, Any]], key: str) -> httpx.Response:
        if request.param == "stream":
            headers = {**viewer.headers, "Idempotency-Key": key}
            return await client.post(f"/api/streams/{shop.stream_id}/orders", json={"items": items}, headers=headers)
        headers = {**shop.organizer.headers, "Idempotency-Key": key}
        if request.param == "subscription":
            body = {"unit_name": "Fogang Education Bureau", "unit_type": "government", "items": items}
            return await client.post("/api/subscriptions", json=body, headers=headers)
        return await client.post(f"/api/stations/{station.id}/sales", json={"items": items}, headers=headers)

    return send


def assert_problem(response: httpx.Response, status: int, kind: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == f"/problems/{kind}", response.json()


class TestSameCauseSameAnswer:
    async def test_a_key_reused_for_another_body_is_409_conflict(self, channel: Send, shop: Shop) -> None:
        key = uuid.uuid4().hex
        assert (await channel([{"product_id": shop.product_id, "quantity": 1}], key)).status_code == 201
        assert_problem(await channel([{"product_id": shop.product_id, "quantity": 2}], key), 409, "conflict")

    async def test_the_same_key_and_body_again_creates_nothing(self, channel: Send, db: Database, shop: Shop) -> None:
        key = uuid.uuid4().hex
        first = await channel([{"product_id": shop.product_id, "quantity": 1}], key)
        again = await channel([{"product_id": shop.product_id, "quantity": 1}], key)
        assert again.status_code in (200, 201) and again.json()["id"] == first.json()["id"]
        stock, reserved, sold = await buckets(db, shop.product_id)
        assert stock == 99 and reserved + sold == 1

    async def test_short_stock_is_409_out_of_stock_and_changes_nothing(self, channel: Send, db: Database, shop: Shop) -> None:
        assert_problem(await channel([{"product_id": shop.other_product_id, "quantity": 11}], uuid.uuid4().hex), 409, "out-of-stock")
        assert await buckets(db, shop.other_product_id) == (10, 0, 0)

    async def test_a_product_off_sale_is_409_invalid_state(self, channel: Send, db: Database, shop: Shop) -> None:
        async with db.transaction() as session:
            await session.execute(update(Product).where(col(Product.id) == shop.product_id).values(is_active=False))
        assert_problem(await channel([{"product_id": shop.product_id, "quantity": 1}], uuid.uuid4().hex), 409, "invalid-state")

    @pytest.mark.parametrize("quantity", [True, "1", 1.0, 0, -1])
    async def test_a_quantity_that_is_not_a_positive_integer_is_422(self, channel: Send, db: Database, shop: Shop, quantity: Any) -> None:
        assert_problem(await channel([{"product_id": shop.product_id, "quantity": quantity}], uuid.uuid4().hex), 422, "validation-error")
        assert await buckets(db, shop.product_id) == (100, 0, 0)


class TestCountyOfTheProducts:
    """Regression: an organizer sold another county's stock through his own village station (security issue, item 1)."""

    async def test_a_station_sale_of_another_countys_product_is_403_and_changes_nothing(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        station = await make.station(shop.county_id)
        other_county = await make.county()
        assert other_county.id is not None
        foreign = await make.product(other_county.id, stock=500, price_fen=12800)
        assert foreign.id is not None
        body = {"items": [{"product_id": foreign.id, "quantity": 500}]}
        r = await client.post(f"/api/stations/{station.id}/sales", json=body, headers=shop.organizer.headers)
        assert_problem(r, 403, "forbidden")
        assert await buckets(db, foreign.id) == (500, 0, 0)
        assert (await read_books(db)).transactions == {}

    async def test_a_subscription_of_another_countys_product_is_403(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        other_county = await make.county()
        assert other_county.id is not None
        foreign = await make.product(other_county.id, stock=50)
        body = {"unit_name": "A unit", "unit_type": "enterprise", "items": [{"product_id": foreign.id, "quantity": 5}]}
        assert_problem(await client.post("/api/subscriptions", json=body, headers=shop.organizer.headers), 403, "forbidden")
        assert await buckets(db, foreign.id or 0) == (50, 0, 0)

    async def test_an_organizer_of_both_counties_may_sell_both_through_the_station(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        station = await make.station(shop.county_id)
        other_county = await make.county()
        assert other_county.id is not None
        foreign = await make.product(other_county.id, stock=5)
        both: TestUser = await make.user(Role.organizer, county_ids=[shop.county_id, other_county.id])
        body = {"items": [{"product_id": foreign.id, "quantity": 2}, {"product_id": shop.product_id, "quantity": 1}]}
        r = await client.post(f"/api/stations/{station.id}/sales", json=body, headers=both.headers)
        assert r.status_code == 201, r.text
        assert await buckets(db, foreign.id or 0) == (3, 0, 2)
