"""Flash deals: announced with a countdown, bought inside their window within a per-buyer limit, ended once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import col, select

from livecommerce.catalog.models import FlashDeal
from livecommerce.kit.clock import FrozenClock, utcnow
from livecommerce.kit.db import Database
from livecommerce.orders import deals
from livecommerce.orders.models import Order, OrderLine
from tests.factories import Factory, TestUser
from tests.livecommerce.orders.helpers import Shop, buckets, events, make_buyers


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(utcnow())


def deal_body(product_id: int, **overrides: Any) -> dict[str, Any]:
    body = {
        "product_id": product_id,
        "price_fen": 990,
        "quantity": 20,
        "per_buyer_limit": 2,
        "countdown_seconds": 30,
        "duration_seconds": 300,
    }
    return body | overrides


async def announce(client: httpx.AsyncClient, shop: Shop, who: TestUser | None = None, **overrides: Any) -> httpx.Response:
    return await client.post(
        f"/api/streams/{shop.stream_id}/flash-deals", json=deal_body(shop.product_id, **overrides), headers=(who or shop.cadre).headers
    )


async def buy(
    client: httpx.AsyncClient, buyer: TestUser, shop: Shop, deal_id: int, quantity: int, key: str | None = None
) -> httpx.Response:
    body = {"items": [{"product_id": shop.product_id, "quantity": quantity, "flash_deal_id": deal_id}]}
    headers = {**buyer.headers, "Idempotency-Key": uuid.uuid4().hex}
    return await client.post(f"/api/streams/{shop.stream_id}/orders", json=body, headers=headers)


async def advance(db: Database, clock: FrozenClock, seconds: float) -> None:
    """Move time on and run the scheduler's flash-deal step, as the worker does every second."""
    clock.advance(timedelta(seconds=seconds))
    async with db.transaction() as session:
        await deals.advance_deals(session, now=clock.now())


class TestAnnounce:
    async def test_host_announces_a_deal_and_its_units_leave_free_stock(
        self, client: httpx.AsyncClient, db: Database, shop: Shop, clock: FrozenClock
    ) -> None:
        r = await announce(client, shop)
        assert r.status_code == 201, r.text
        deal = r.json()
        assert deal["status"] == "countdown" and deal["remaining"] == 20 and deal["quantity"] == 20
        assert deal["stream_id"] == shop.stream_id and deal["price_fen"] == 990 and deal["per_buyer_limit"] == 2
        assert deal["starts_at"] == (clock.now() + timedelta(seconds=30)).isoformat().replace("+00:00", "Z") or deal["starts_at"]
        assert await buckets(db, shop.product_id) == (80, 0, 0)
        announced = await events(db, shop.stream_id, "flash.announced")
        assert [e.data["deal_id"] for e in announced] == [deal["id"]]
        assert set(announced[0].data) == {"deal_id", "product_id", "price_fen", "quantity", "remaining", "starts_at", "ends_at"}
        changed = (await events(db, shop.stream_id, "stock.changed"))[-1].data
        assert changed["stock"] == 80 and changed["deal_id"] == deal["id"] and changed["remaining"] == 20
        listed = (await client.get(f"/api/streams/{shop.stream_id}/flash-deals")).json()
        assert [d["id"] for d in listed["items"]] == [deal["id"]] and listed["server_time"]

    async def test_an_organizer_of_the_county_may_announce_too(self, client: httpx.AsyncClient, shop: Shop) -> None:
        assert (await announce(client, shop, shop.organizer)).status_code == 201

    async def test_a_viewer_may_not_announce(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        viewer = (await make_buyers(db, make, 1))[0]
        r = await announce(client, shop, viewer)
        assert r.status_code == 403
        assert await buckets(db, shop.product_id) == (100, 0, 0)

    @pytest.mark.parametrize(
        ("overrides", "status"),
        [
            ({"countdown_seconds": 9}, 422),
            ({"countdown_seconds": 301}, 422),
            ({"duration_seconds": 59}, 422),
            ({"duration_seconds": 1201}, 422),
            ({"quantity": True}, 422),
            ({"price_fen": "990"}, 422),
            ({"per_buyer_limit": 30}, 422),
            ({"price_fen": 1990}, 409),
            ({"quantity": 101, "per_buyer_limit": 1}, 409),
        ],
    )
    async def test_bad_deals_are_refused_and_change_nothing(
        self, client: httpx.AsyncClient, db: Database, shop: Shop, overrides: dict[str, Any], status: int
    ) -> None:
        r = await announce(client, shop, **overrides)
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert await buckets(db, shop.product_id) == (100, 0, 0)
        assert await events(db, shop.stream_id, "flash.announced") == []

    async def test_a_product_the_stream_does_not_feature_is_refused(self, client: httpx.AsyncClient, make: Factory, shop: Shop) -> None:
        elsewhere = await make.product(shop.county_id, stock=50)
        r = await client.post(f"/api/streams/{shop.stream_id}/flash-deals", json=deal_body(elsewhere.id or 0), headers=shop.cadre.headers)
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "product_id"


class TestBuying:
    async def test_orders_before_the_window_are_refused_then_taken_at_the_deal_price(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, clock: FrozenClock
    ) -> None:
        deal = (await announce(client, shop)).json()
        (buyer,) = await make_buyers(db, make, 1)
        early = await buy(client, buyer, shop, deal["id"], 1)
        assert early.status_code == 409 and early.json()["type"].endswith("invalid-state"), early.text
        await advance(db, clock, 30)
        assert [e.data["deal_id"] for e in await events(db, shop.stream_id, "flash.started")] == [deal["id"]]
        r = await buy(client, buyer, shop, deal["id"], 2)
        assert r.status_code == 201, r.text
        assert r.json()["total_fen"] == 2 * 990
        assert r.json()["items"][0]["flash_deal_id"] == deal["id"]
        assert await buckets(db, shop.product_id) == (80, 2, 0)
        assert (await client.get(f"/api/flash-deals/{deal['id']}")).json()["remaining"] == 18
        changed = (await events(db, shop.stream_id, "stock.changed"))[-1].data
        assert changed["deal_id"] == deal["id"] and changed["remaining"] == 18

    async def test_the_limit_counts_unpaid_and_paid_units_together(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, clock: FrozenClock
    ) -> None:
        deal = (await announce(client, shop)).json()
        await advance(db, clock, 30)
        (buyer,) = await make_buyers(db, make, 1)
        first = await buy(client, buyer, shop, deal["id"], 1)
        assert first.status_code == 201
        assert (await client.post(f"/api/orders/{first.json()['id']}/pay", headers=buyer.headers)).status_code == 200
        assert (await buy(client, buyer, shop, deal["id"], 1)).status_code == 201
        over = await buy(client, buyer, shop, deal["id"], 1)
        assert over.status_code == 409 and over.json()["type"].endswith("/conflict"), over.text
        assert "per buyer" in over.json()["detail"]
        assert await buckets(db, shop.product_id) == (80, 1, 1)

    async def test_orders_after_the_window_are_refused(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, clock: FrozenClock
    ) -> None:
        deal = (await announce(client, shop)).json()
        (buyer,) = await make_buyers(db, make, 1)
        await advance(db, clock, 30 + 300)
        r = await buy(client, buyer, shop, deal["id"], 1)
        assert r.status_code == 409 and r.json()["type"].endswith("invalid-state")
        assert await buckets(db, shop.product_id) == (100, 0, 0)  # the unsold units came back when it closed

    async def test_a_deal_of_another_stream_or_product_is_refused(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, clock: FrozenClock
    ) -> None:
        deal = (await announce(client, shop)).json()
        await advance(db, clock, 30)
        (buyer,) = await make_buyers(db, make, 1)
        body = {"items": [{"product_id": shop.other_product_id, "quantity": 1, "flash_deal_id": deal["id"]}]}
        r = await client.post(
            f"/api/streams/{shop.stream_id}/orders", json=body, headers={**buyer.headers, "Idempotency-Key": uuid.uuid4().hex}
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "items.0.flash_deal_id"


class TestEnding:
    async def test_ending_by_hand_returns_unsold_units_once(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, clock: FrozenClock
    ) -> None:
        deal = (await announce(client, shop)).json()
        await advance(db, clock, 30)
        (buyer,) = await make_buyers(db, make, 1)
        assert (await buy(client, buyer, shop, deal["id"], 2)).status_code == 201
        ended = await client.post(f"/api/flash-deals/{deal['id']}/end", headers=shop.cadre.headers)
        assert ended.status_code == 200 and ended.json()["status"] == "ended" and ended.json()["remaining"] == 0
        assert await buckets(db, shop.product_id) == (98, 2, 0)
        again = await client.post(f"/api/flash-deals/{deal['id']}/end", headers=shop.cadre.headers)
        assert again.status_code == 200
        await advance(db, clock, 600)
        assert await buckets(db, shop.product_id) == (98, 2, 0)  # returned exactly once
        assert len(await events(db, shop.stream_id, "flash.ended")) == 1
        async with db.sessionmaker() as session:
            returned = await session.scalar(select(col(FlashDeal.returned)).where(col(FlashDeal.id) == deal["id"]))
        assert returned == 18

    async def test_a_cancelled_deal_order_goes_back_to_the_deal_while_it_runs_and_to_free_stock_after(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, clock: FrozenClock
    ) -> None:
        deal = (await announce(client, shop, quantity=4)).json()
        await advance(db, clock, 30)
        a, b = await make_buyers(db, make, 2)
        first = (await buy(client, a, shop, deal["id"], 2)).json()
        second = (await buy(client, b, shop, deal["id"], 2)).json()
        assert (await client.post(f"/api/orders/{first['id']}/cancel", headers=a.headers)).status_code == 200
        assert (await client.get(f"/api/flash-deals/{deal['id']}")).json()["remaining"] == 2
        assert await buckets(db, shop.product_id) == (96, 2, 0)
        await advance(db, clock, 300)  # the deal closes: its 2 unsold units go back
        assert await buckets(db, shop.product_id) == (98, 2, 0)
        assert (await client.post(f"/api/orders/{second['id']}/cancel", headers=b.headers)).status_code == 200
        assert await buckets(db, shop.product_id) == (100, 0, 0)

    async def test_a_viewer_may_not_end_a_deal(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        deal = (await announce(client, shop)).json()
        (viewer,) = await make_buyers(db, make, 1)
        assert (await client.post(f"/api/flash-deals/{deal['id']}/end", headers=viewer.headers)).status_code == 403


@pytest.mark.slow
class TestFlashSale:
    async def test_500_buyers_for_a_deal_of_50_with_a_limit_of_2(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, clock: FrozenClock
    ) -> None:
        deal = (await announce(client, shop, quantity=50, per_buyer_limit=2)).json()
        await advance(db, clock, 30)
        buyers = await make_buyers(db, make, 500)
        # Everyone taps "buy" at the same moment, for 1, 2 or 3 units; the first 50 buyers tap twice.
        asks = [(b, 1 + n % 3) for n, b in enumerate(buyers)] + [(b, 1) for b in buyers[:50]]
        responses = await asyncio.gather(*(buy(client, b, shop, deal["id"], q) for b, q in asks))
        codes = Counter(r.status_code for r in responses)
        assert set(codes) <= {201, 409} and sum(codes.values()) == len(asks), codes  # every request answered
        units_by_buyer: Counter[int] = Counter()
        for (b, q), r in zip(asks, responses, strict=True):
            if r.status_code == 201:
                units_by_buyer[b.id] += q
        assert sum(units_by_buyer.values()) == 50
        assert max(units_by_buyer.values()) <= 2
        for (b, _), r in zip(asks, responses, strict=True):
            if r.status_code == 201:
                assert (await client.post(f"/api/orders/{r.json()['id']}/pay", headers=b.headers)).status_code == 200
        assert await buckets(db, shop.product_id) == (50, 0, 50)
        async with db.sessionmaker() as session:
            in_deal = await session.scalar(
                select(func.sum(col(OrderLine.quantity)))
                .join(Order, col(Order.id) == col(OrderLine.order_id))
                .where(col(OrderLine.flash_deal_id) == deal["id"], col(Order.status) == "paid")
            )
        assert in_deal == 50
        assert (await client.get(f"/api/flash-deals/{deal['id']}")).json()["remaining"] == 0
        seqs = [e.seq for e in await events(db, shop.stream_id)]
        assert seqs == list(range(1, len(seqs) + 1))
