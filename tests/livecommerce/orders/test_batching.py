"""Group commit: orders of one stream that arrive together are placed in one transaction, each on its own merits."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import update
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from livecommerce.catalog.models import Product
from livecommerce.kit.clock import utcnow
from livecommerce.kit.db import Database, create_nullpool_engine
from livecommerce.kit.errors import Conflict, InvalidState, OutOfStock
from livecommerce.kit.principal import Principal, Role
from livecommerce.kit.settings import Settings
from livecommerce.orders.batching import OrderBatcher, place_order_batched
from livecommerce.orders.models import Order
from livecommerce.orders.schemas import OrderCreate, OrderItemIn
from livecommerce.orders.service import PlacedOrder
from tests.factories import Factory
from tests.livecommerce.orders.helpers import Shop, buckets, count_orders, events, make_buyers, order

if TYPE_CHECKING:
    from tests.factories import TestUser


def principal(user: TestUser) -> Principal:
    return Principal(id=user.id, username=user.username, role=Role.viewer, display_name="李小龙")


def body(product_id: int, quantity: int) -> OrderCreate:
    return OrderCreate(items=[OrderItemIn(product_id=product_id, quantity=quantity)])


async def place_together(
    batcher: OrderBatcher, shop: Shop, asks: list[tuple[TestUser, OrderCreate, str]]
) -> list[PlacedOrder | BaseException | None]:
    """Hand every order to the batcher at once (they queue before the first batch starts)."""
    now = utcnow()
    return await asyncio.gather(
        *(batcher.place(principal(u), shop.stream_id, data, idempotency_key=key, now=now) for u, data, key in asks),
        return_exceptions=True,
    )


async def set_stock(db: Database, product_id: int, stock: int) -> None:
    async with db.transaction() as session:
        await session.execute(update(Product).where(col(Product.id) == product_id).values(stock=stock))


class TestOneBatch:
    async def test_winners_and_out_of_stock_losers_in_one_batch(self, make: Factory, db: Database, shop: Shop, settings: Settings) -> None:
        await set_stock(db, shop.product_id, 3)
        buyers = await make_buyers(db, make, 5)
        batcher = OrderBatcher(db, settings)
        outcomes = await place_together(batcher, shop, [(b, body(shop.product_id, 1), uuid.uuid4().hex) for b in buyers])
        assert batcher.batches_written == 1
        placed = [o for o in outcomes if isinstance(o, PlacedOrder)]
        refused = [o for o in outcomes if isinstance(o, OutOfStock)]
        assert len(placed) == 3 and len(refused) == 2, outcomes
        assert all(o.extra["available"] == 0 for o in refused)
        assert await buckets(db, shop.product_id) == (0, 3, 0)
        assert await count_orders(db) == 3  # nothing of the refused orders remains
        stock_events = await events(db, shop.stream_id, "stock.changed")
        assert [e.data["stock"] for e in stock_events] == [2, 1, 0]
        seqs = [e.seq for e in await events(db, shop.stream_id)]
        assert seqs == list(range(1, len(seqs) + 1))
        by_order = {e.data["order_id"]: e.seq for e in await events(db, shop.stream_id, "order.placed")}
        assert sorted(by_order) == sorted(p.order.id for p in placed)

    async def test_an_order_too_big_does_not_block_smaller_ones_after_it(
        self, make: Factory, db: Database, shop: Shop, settings: Settings
    ) -> None:
        await set_stock(db, shop.product_id, 4)
        a, b, c = await make_buyers(db, make, 3)
        batcher = OrderBatcher(db, settings)
        outcomes = await place_together(
            batcher, shop, [(a, body(shop.product_id, 3), "a"), (b, body(shop.product_id, 2), "b"), (c, body(shop.product_id, 1), "c")]
        )
        assert isinstance(outcomes[0], PlacedOrder) and isinstance(outcomes[1], OutOfStock) and isinstance(outcomes[2], PlacedOrder)
        assert await buckets(db, shop.product_id) == (0, 4, 0)

    async def test_same_key_twice_in_a_batch_places_one_order_and_hands_the_other_back(
        self, make: Factory, db: Database, shop: Shop, settings: Settings
    ) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        batcher = OrderBatcher(db, settings)
        first, second = await place_together(
            batcher, shop, [(buyer, body(shop.product_id, 2), "k"), (buyer, body(shop.product_id, 2), "k")]
        )
        assert isinstance(first, PlacedOrder) and second is None  # the caller places it alone: a replay
        assert await count_orders(db) == 1
        assert await buckets(db, shop.product_id) == (98, 2, 0)

    async def test_buyer_cap_counts_earlier_orders_of_the_same_batch(
        self, make: Factory, db: Database, shop: Shop, settings: Settings
    ) -> None:
        cap = settings.max_quantity_per_buyer
        buyer = (await make_buyers(db, make, 1))[0]
        batcher = OrderBatcher(db, settings)
        first, second = await place_together(
            batcher, shop, [(buyer, body(shop.product_id, cap - 1), "one"), (buyer, body(shop.product_id, 2), "two")]
        )
        assert isinstance(first, PlacedOrder)
        assert isinstance(second, Conflict) and "per buyer" in second.detail
        assert await count_orders(db) == 1
        assert await buckets(db, shop.product_id) == (100 - (cap - 1), cap - 1, 0)

    async def test_product_taken_off_sale_refuses_every_order_of_the_batch(
        self, make: Factory, db: Database, shop: Shop, settings: Settings
    ) -> None:
        async with db.transaction() as session:
            await session.execute(update(Product).where(col(Product.id) == shop.product_id).values(is_active=False))
        buyers = await make_buyers(db, make, 3)
        batcher = OrderBatcher(db, settings)
        outcomes = await place_together(batcher, shop, [(b, body(shop.product_id, 1), uuid.uuid4().hex) for b in buyers])
        assert all(isinstance(o, InvalidState) for o in outcomes), outcomes
        assert await count_orders(db) == 0
        assert await events(db, shop.stream_id, "order.placed") == []

    async def test_key_of_a_refused_order_is_free_for_a_retry(self, make: Factory, db: Database, shop: Shop, settings: Settings) -> None:
        await set_stock(db, shop.product_id, 1)
        a, b = await make_buyers(db, make, 2)
        batcher = OrderBatcher(db, settings)
        outcomes = await place_together(batcher, shop, [(a, body(shop.product_id, 1), "x"), (b, body(shop.product_id, 1), "retry-me")])
        assert isinstance(outcomes[1], OutOfStock)
        await set_stock(db, shop.product_id, 1)
        (again,) = await place_together(batcher, shop, [(b, body(shop.product_id, 1), "retry-me")])
        assert isinstance(again, PlacedOrder) and again.created

    async def test_a_failed_batch_hands_every_order_back_and_alone_they_succeed(
        self, make: Factory, db: Database, shop: Shop, settings: Settings
    ) -> None:
        buyers = await make_buyers(db, make, 3)
        url = make_url(settings.database_url)
        unreachable = url.set(database="/nonexistent-dir/x.db") if url.get_backend_name() == "sqlite" else url.set(database="lc_no_such_db")
        broken = Database(create_nullpool_engine(unreachable.render_as_string(hide_password=False)))
        batcher = OrderBatcher(broken, settings)
        asks = [(b, body(shop.product_id, 1), uuid.uuid4().hex) for b in buyers]
        try:
            assert await place_together(batcher, shop, asks) == [None, None, None]
            assert await count_orders(db) == 0  # nothing of the failed batch was kept
            placed = []
            for u, data, key in asks:  # each in its own request's session, as the endpoint does
                async with db.transaction() as session:
                    placed.append(
                        await place_order_batched(
                            session, batcher, principal(u), shop.stream_id, data, idempotency_key=key, settings=settings, now=utcnow()
                        )
                    )
        finally:
            await broken.dispose()
        assert all(p.created for p in placed)
        assert await count_orders(db) == 3
        assert await buckets(db, shop.product_id) == (97, 3, 0)


class TestThroughTheEndpoint:
    async def test_concurrent_orders_share_batches_and_each_gets_its_own_answer(
        self, client: httpx.AsyncClient, app: object, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyers = await make_buyers(db, make, 40)
        responses = await asyncio.gather(*(order(client, b, shop.stream_id, [(shop.product_id, 1)]) for b in buyers))
        assert [r.status_code for r in responses] == [201] * 40
        assert len({r.json()["id"] for r in responses}) == 40
        batcher: OrderBatcher = app.state.order_batcher  # type: ignore[attr-defined]
        assert batcher.batches_written < 40  # some orders shared a transaction
        assert await buckets(db, shop.product_id) == (60, 40, 0)
        async with db.sessionmaker() as session:
            mine = {o.id: o.buyer_id for o in (await session.scalars(select(Order))).all()}
        assert {r.json()["id"]: b.id for r, b in zip(responses, buyers, strict=True)} == mine
