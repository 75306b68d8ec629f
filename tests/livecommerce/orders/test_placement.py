"""The one placement path: orders of one stream that arrive together share a transaction, each decided on its own merits."""

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
from livecommerce.orders.desk import OrderDesk
from livecommerce.orders.models import Channel, Order
from livecommerce.orders.placement import Ask, Item, Placed, Placer, Scope
from tests.factories import Factory
from tests.livecommerce.orders.helpers import Shop, buckets, count_orders, events, make_buyers, order

if TYPE_CHECKING:
    from tests.factories import TestUser


def principal(user: TestUser) -> Principal:
    return Principal(id=user.id, username=user.username, role=Role.viewer, display_name="李小龙")


def body(product_id: int, quantity: int) -> tuple[Item, ...]:
    return (Item(product_id, quantity),)


async def place_together(placer: Placer, shop: Shop, asks: list[tuple[TestUser, tuple[Item, ...], str]]) -> list[Placed | BaseException]:
    """Hand every order to the placer at once (they queue before the first batch starts)."""
    now = utcnow()
    scope = Scope(Channel.live, stream_id=shop.stream_id)
    return await asyncio.gather(
        *(placer.place(Ask(buyer=principal(u), scope=scope, items=items, key=key, now=now)) for u, items, key in asks),
        return_exceptions=True,
    )


async def set_stock(db: Database, product_id: int, stock: int) -> None:
    async with db.transaction() as session:
        await session.execute(update(Product).where(col(Product.id) == product_id).values(stock=stock))


class TestOneBatch:
    async def test_winners_and_out_of_stock_losers_in_one_batch(self, make: Factory, db: Database, shop: Shop, settings: Settings) -> None:
        await set_stock(db, shop.product_id, 3)
        buyers = await make_buyers(db, make, 5)
        placer = Placer(db, settings)
        outcomes = await place_together(placer, shop, [(b, body(shop.product_id, 1), uuid.uuid4().hex) for b in buyers])
        assert placer.batches_written == 1
        placed = [o for o in outcomes if isinstance(o, Placed)]
        refused = [o for o in outcomes if isinstance(o, OutOfStock)]
        assert len(placed) == 3 and len(refused) == 2, outcomes
        assert all(o.extra["available"] == 0 for o in refused)
        assert await buckets(db, shop.product_id) == (0, 3, 0)
        assert await count_orders(db) == 3  # nothing of the refused orders remains
        stock_events = await events(db, shop.stream_id, "stock.changed")
        assert [e.data["stock"] for e in stock_events] == [0]  # the batch announces the level it leaves
        seqs = [e.seq for e in await events(db, shop.stream_id)]
        assert seqs == list(range(1, len(seqs) + 1))
        by_order = {e.data["order_id"]: e.seq for e in await events(db, shop.stream_id, "order.placed")}
        assert sorted(by_order) == sorted(p.id for p in placed)

    async def test_an_order_too_big_does_not_block_smaller_ones_after_it(
        self, make: Factory, db: Database, shop: Shop, settings: Settings
    ) -> None:
        await set_stock(db, shop.product_id, 4)
        a, b, c = await make_buyers(db, make, 3)
        placer = Placer(db, settings)
        outcomes = await place_together(
            placer, shop, [(a, body(shop.product_id, 3), "a"), (b, body(shop.product_id, 2), "b"), (c, body(shop.product_id, 1), "c")]
        )
        assert isinstance(outcomes[0], Placed) and isinstance(outcomes[1], OutOfStock) and isinstance(outcomes[2], Placed)
        assert await buckets(db, shop.product_id) == (0, 4, 0)

    async def test_same_key_twice_in_a_batch_places_one_order_and_replays_it_to_the_other(
        self, make: Factory, db: Database, shop: Shop, settings: Settings
    ) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        placer = Placer(db, settings)
        first, second = await place_together(placer, shop, [(buyer, body(shop.product_id, 2), "k"), (buyer, body(shop.product_id, 2), "k")])
        assert isinstance(first, Placed) and first.created
        assert isinstance(second, Placed) and not second.created and second.id == first.id
        assert await count_orders(db) == 1
        assert await buckets(db, shop.product_id) == (98, 2, 0)

    async def test_buyer_cap_counts_earlier_orders_of_the_same_batch(
        self, make: Factory, db: Database, shop: Shop, settings: Settings
    ) -> None:
        cap = settings.max_quantity_per_buyer
        buyer = (await make_buyers(db, make, 1))[0]
        placer = Placer(db, settings)
        first, second = await place_together(
            placer, shop, [(buyer, body(shop.product_id, cap - 1), "one"), (buyer, body(shop.product_id, 2), "two")]
        )
        assert isinstance(first, Placed)
        assert isinstance(second, Conflict) and "per buyer" in second.detail
        assert await count_orders(db) == 1
        assert await buckets(db, shop.product_id) == (100 - (cap - 1), cap - 1, 0)

    async def test_product_taken_off_sale_refuses_every_order_of_the_batch(
        self, make: Factory, db: Database, shop: Shop, settings: Settings
    ) -> None:
        async with db.transaction() as session:
            await session.execute(update(Product).where(col(Product.id) == shop.product_id).values(is_active=False))
        buyers = await make_buyers(db, make, 3)
        placer = Placer(db, settings)
        outcomes = await place_together(placer, shop, [(b, body(shop.product_id, 1), uuid.uuid4().hex) for b in buyers])
        assert all(isinstance(o, InvalidState) for o in outcomes), outcomes
        assert await count_orders(db) == 0
        assert await events(db, shop.stream_id, "order.placed") == []

    async def test_key_of_a_refused_order_is_free_for_a_retry(self, make: Factory, db: Database, shop: Shop, settings: Settings) -> None:
        await set_stock(db, shop.product_id, 1)
        a, b = await make_buyers(db, make, 2)
        placer = Placer(db, settings)
        outcomes = await place_together(placer, shop, [(a, body(shop.product_id, 1), "x"), (b, body(shop.product_id, 1), "retry-me")])
        assert isinstance(outcomes[1], OutOfStock)
        await set_stock(db, shop.product_id, 1)
        (again,) = await place_together(placer, shop, [(b, body(shop.product_id, 1), "retry-me")])
        assert isinstance(again, Placed) and again.created

    async def test_a_failed_batch_answers_every_caller_and_keeps_nothing(
        self, make: Factory, db: Database, shop: Shop, settings: Settings
    ) -> None:
        buyers = await make_buyers(db, make, 3)
        url = make_url(settings.database_url)
        unreachable = url.set(database="/nonexistent-dir/x.db") if url.get_backend_name() == "sqlite" else url.set(database="lc_no_such_db")
        broken = Database(create_nullpool_engine(unreachable.render_as_string(hide_password=False)))
        asks = [(b, body(shop.product_id, 1), uuid.uuid4().hex) for b in buyers]
        try:
            # The batch fails, then each order is tried alone and fails on its own: every caller is answered.
            outcomes = await place_together(Placer(broken, settings), shop, asks)
        finally:
            await broken.dispose()
        assert all(isinstance(o, Exception) and not isinstance(o, Placed) for o in outcomes), outcomes
        assert await count_orders(db) == 0  # nothing of the failed batch was kept
        placed = await place_together(Placer(db, settings), shop, asks)  # the same keys, once the database is back
        assert all(isinstance(p, Placed) and p.created for p in placed), placed
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
        desk: OrderDesk = app.state.order_desk  # type: ignore[attr-defined]
        assert desk.placer.batches_written < 40  # some orders shared a transaction
        assert await buckets(db, shop.product_id) == (60, 40, 0)
        async with db.sessionmaker() as session:
            mine = {o.id: o.buyer_id for o in (await session.scalars(select(Order))).all()}
        assert {r.json()["id"]: b.id for r, b in zip(responses, buyers, strict=True)} == mine
