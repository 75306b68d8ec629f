"""A flash sale: hundreds of buyers press "buy" on one product at once."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from typing import TYPE_CHECKING

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import col, select

from livecommerce.kit.db import Database
from livecommerce.orders.models import Order, OrderLine
from tests.factories import Factory
from tests.livecommerce.orders.helpers import Shop, buckets, count_orders, events, make_buyers, order

if TYPE_CHECKING:
    from tests.factories import TestUser

pytestmark = pytest.mark.slow


async def order_until_answered(client: httpx.AsyncClient, buyer: TestUser, stream_id: int, items: list[tuple[int, int]]) -> httpx.Response:
    """Order, and resend with the same key while the server sheds load (503), as a well-behaved client does.

    All requests are in flight at once; on a busy machine some wait longer for a database
    connection than the pool allows and are answered 503 with Retry-After, which is correct.
    """
    key = uuid.uuid4().hex
    for _ in range(20):
        response = await order(client, buyer, stream_id, items, key=key)
        if response.status_code != 503:
            return response
        await asyncio.sleep(float(response.headers.get("Retry-After", "1")) * random.random())
    return response


class TestFlashSale:
    async def test_500_buyers_for_100_units_exactly_100_succeed(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyers = await make_buyers(db, make, 500)
        responses = await asyncio.gather(*(order_until_answered(client, b, shop.stream_id, [(shop.product_id, 1)]) for b in buyers))
        codes = Counter(r.status_code for r in responses)
        assert codes == {201: 100, 409: 400}, codes
        assert all(r.json()["type"].endswith("out-of-stock") for r in responses if r.status_code == 409)
        assert await buckets(db, shop.product_id) == (0, 100, 0)
        assert await count_orders(db) == 100
        async with db.sessionmaker() as session:
            reserved = await session.scalar(select(func.sum(col(OrderLine.quantity))).where(col(OrderLine.product_id) == shop.product_id))
        assert reserved == 100
        # One stock.changed per batch of orders (a batch announces the level it leaves), falling to 0.
        levels = [e.data["stock"] for e in await events(db, shop.stream_id, "stock.changed")]
        assert levels == sorted(set(levels), reverse=True) and levels[-1] == 0, levels
        seqs = [e.seq for e in await events(db, shop.stream_id)]
        assert seqs == list(range(1, len(seqs) + 1))

    async def test_mixed_quantities_never_oversell(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyers = await make_buyers(db, make, 120)
        quantities = [1 + i % 4 for i in range(len(buyers))]
        responses = await asyncio.gather(
            *(
                order_until_answered(client, b, shop.stream_id, [(shop.product_id, q), (shop.other_product_id, 1)])
                for b, q in zip(buyers, quantities, strict=True)
            )
        )
        assert {r.status_code for r in responses} <= {201, 409}
        won = [q for r, q in zip(responses, quantities, strict=True) if r.status_code == 201]
        stock, reserved, sold = await buckets(db, shop.product_id)
        assert reserved == sum(won) and stock + reserved + sold == 100 and stock >= 0
        other = await buckets(db, shop.other_product_id)
        assert other == (10 - len(won), len(won), 0)


class TestConcurrentSameKey:
    async def test_50_identical_requests_make_one_order(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        responses = await asyncio.gather(
            *(order(client, buyer, shop.stream_id, [(shop.product_id, 2)], key="double-tap") for _ in range(50))
        )
        assert {r.status_code for r in responses} == {201}, [r.text for r in responses if r.status_code != 201][:3]
        assert len({r.json()["id"] for r in responses}) == 1
        assert await count_orders(db, buyer_id=buyer.id) == 1
        assert await buckets(db, shop.product_id) == (98, 2, 0)
        assert len(await events(db, shop.stream_id, "order.placed")) == 1

    async def test_concurrent_different_keys_respect_the_buyer_cap(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        responses = await asyncio.gather(*(order(client, buyer, shop.stream_id, [(shop.product_id, 3)]) for _ in range(20)))
        codes = Counter(r.status_code for r in responses)
        assert codes == {201: 6, 409: 14}, codes  # cap 20: six orders of 3
        async with db.sessionmaker() as session:
            held = await session.scalar(
                select(func.sum(col(OrderLine.quantity)))
                .join(Order, col(Order.id) == col(OrderLine.order_id))
                .where(col(Order.buyer_id) == buyer.id)
            )
        assert held == 18
