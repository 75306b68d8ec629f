"""Reservations run out: `expire_due_orders` cancels unpaid orders at `expires_at`, even across restarts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlmodel import col, select

from livecommerce.kit.clock import Clock, FrozenClock, utcnow
from livecommerce.kit.db import Database
from livecommerce.kit.settings import Settings
from livecommerce.main.app import create_app
from livecommerce.orders.models import Order
from livecommerce.orders.service import expire_due_orders
from tests.factories import Factory
from tests.livecommerce.orders.helpers import Shop, buckets, events, make_buyers, open_stream, order


@pytest.fixture
def clock() -> Clock:
    return FrozenClock(utcnow())


async def sweep(db: Database, clock: Clock, limit: int = 500) -> int:
    async with db.transaction() as session:
        return await expire_due_orders(session, now=clock.now(), limit=limit)


async def statuses(db: Database) -> dict[int, str]:
    async with db.sessionmaker() as session:
        return dict((await session.execute(select(col(Order.id), col(Order.status)))).all())  # type: ignore[arg-type]


class TestExpireDueOrders:
    async def test_due_orders_expire_and_their_units_return(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, clock: FrozenClock, settings: Settings
    ) -> None:
        buyers = await make_buyers(db, make, 3, display_name="赵六")
        ids = [(await order(client, b, shop.stream_id, [(shop.product_id, 2), (shop.other_product_id, 1)])).json()["id"] for b in buyers]
        assert await buckets(db, shop.product_id) == (94, 6, 0)
        clock.advance(timedelta(seconds=settings.reservation_ttl_seconds))
        assert await sweep(db, clock) == 3
        assert await buckets(db, shop.product_id) == (100, 0, 0)
        assert await buckets(db, shop.other_product_id) == (10, 0, 0)
        assert set((await statuses(db)).values()) == {"expired"}
        cancelled = await events(db, shop.stream_id, "order.cancelled")
        assert [e.data["order_id"] for e in cancelled] == ids
        assert all(e.data["reason"] == "expired" and e.data["buyer"] == "赵六" for e in cancelled)
        last_stock = [e.data for e in await events(db, shop.stream_id, "stock.changed")][-2:]
        assert last_stock == [
            {"product_id": shop.product_id, "stock": 100, "reserved": 0, "sold": 0},
            {"product_id": shop.other_product_id, "stock": 10, "reserved": 0, "sold": 0},
        ]

    async def test_orders_not_yet_due_are_kept(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, clock: FrozenClock, settings: Settings
    ) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        await order(client, buyer, shop.stream_id, [(shop.product_id, 2)])
        clock.advance(timedelta(seconds=settings.reservation_ttl_seconds - 1))
        assert await sweep(db, clock) == 0
        assert await buckets(db, shop.product_id) == (98, 2, 0)

    async def test_paid_and_cancelled_orders_are_untouched(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, clock: FrozenClock, settings: Settings
    ) -> None:
        a, b, c = await make_buyers(db, make, 3)
        paid = (await order(client, a, shop.stream_id, [(shop.product_id, 1)])).json()["id"]
        cancelled = (await order(client, b, shop.stream_id, [(shop.product_id, 1)])).json()["id"]
        due = (await order(client, c, shop.stream_id, [(shop.product_id, 1)])).json()["id"]
        await client.post(f"/api/orders/{paid}/pay", headers=a.headers)
        await client.post(f"/api/orders/{cancelled}/cancel", headers=b.headers)
        clock.advance(timedelta(seconds=settings.reservation_ttl_seconds + 60))
        assert await sweep(db, clock) == 1
        assert await statuses(db) == {paid: "paid", cancelled: "cancelled", due: "expired"}
        assert await buckets(db, shop.product_id) == (99, 0, 1)

    async def test_limit_bounds_one_sweep_and_a_second_sweep_finds_nothing(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, clock: FrozenClock, settings: Settings
    ) -> None:
        for buyer in await make_buyers(db, make, 5):
            await order(client, buyer, shop.stream_id, [(shop.product_id, 1)])
        clock.advance(timedelta(seconds=settings.reservation_ttl_seconds))
        assert [await sweep(db, clock, limit=2) for _ in range(4)] == [2, 2, 1, 0]
        assert await buckets(db, shop.product_id) == (100, 0, 0)
        assert len(await events(db, shop.stream_id, "order.cancelled")) == 5

    async def test_concurrent_sweeps_expire_each_order_once(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, clock: FrozenClock, settings: Settings
    ) -> None:
        for buyer in await make_buyers(db, make, 8):
            await order(client, buyer, shop.stream_id, [(shop.product_id, 3)])
        clock.advance(timedelta(seconds=settings.reservation_ttl_seconds))
        counts = await asyncio.gather(*(sweep(db, clock) for _ in range(4)))
        assert sum(counts) == 8
        assert await buckets(db, shop.product_id) == (100, 0, 0)
        assert len(await events(db, shop.stream_id, "order.cancelled")) == 8

    async def test_expired_order_can_be_neither_paid_nor_cancelled(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, clock: FrozenClock, settings: Settings
    ) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        placed = (await order(client, buyer, shop.stream_id, [(shop.product_id, 1)])).json()
        clock.advance(timedelta(seconds=settings.reservation_ttl_seconds))
        await sweep(db, clock)
        assert (await client.post(f"/api/orders/{placed['id']}/pay", headers=buyer.headers)).status_code == 409
        assert (await client.post(f"/api/orders/{placed['id']}/cancel", headers=buyer.headers)).status_code == 409
        assert (await client.get(f"/api/orders/{placed['id']}", headers=buyer.headers)).json()["status"] == "expired"
        assert await buckets(db, shop.product_id) == (100, 0, 0)


class TestExpiryAcrossRestart:
    async def test_orders_placed_before_a_restart_expire_after_it(self, settings: Settings) -> None:
        start = utcnow()
        first = create_app(settings, clock=FrozenClock(start), migrate=False)
        async with first.router.lifespan_context(first):
            db1: Database = first.state.db
            make = Factory(db1, settings)
            county = await make.county()
            product = await make.product(county.id or 0, splits=[("platform", 10000)], stock=50)
            anchor = await make.anchor(county.id or 0)
            assert product.id is not None and anchor.id is not None
            stream_id = await open_stream(db1, anchor.id, [product.id])
            buyers = await make_buyers(db1, make, 4)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://first") as client:
                for buyer in buyers:
                    assert (await order(client, buyer, stream_id, [(product.id, 5)])).status_code == 201
            assert await buckets(db1, product.id) == (30, 20, 0)
        # The first instance is gone (engine disposed); time passes while nothing runs.
        later = FrozenClock(start + timedelta(seconds=settings.reservation_ttl_seconds + 5))
        second = create_app(settings, clock=later, migrate=False)
        async with second.router.lifespan_context(second):
            db2: Database = second.state.db
            assert await sweep(db2, later) == 4
            assert await buckets(db2, product.id) == (50, 0, 0)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://second") as client:
                r = await client.get("/api/me/orders", headers=buyers[0].headers)
                assert [o["status"] for o in r.json()["items"]] == ["expired"]
