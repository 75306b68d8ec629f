"""Many transactions at once on the same (hot) accounts: nothing lost, refunds at most once."""

from __future__ import annotations

import asyncio

import pytest

from livecommerce.kit.clock import utcnow
from livecommerce.kit.db import Database
from livecommerce.kit.errors import Conflict
from livecommerce.kit.principal import Role
from livecommerce.ledger.books import check_books
from livecommerce.ledger.service import credit_sale, reverse_sale
from livecommerce.orders.models import Order
from tests.factories import Factory
from tests.livecommerce.ledger.support import insert_paid_order, pay, read_books, sale_of
from tests.livecommerce.ledger.test_properties import reference_shares

pytestmark = pytest.mark.slow


async def _product(make: Factory) -> tuple[int, int, list[str]]:
    county = await make.county()
    households = [await make.household(county.id) for _ in range(2)]
    station = await make.station(county.id)
    splits = [
        (f"household:{households[0].id}", 4001),
        (f"household:{households[1].id}", 3333),
        (f"station:{station.id}", 1666),
        ("platform", 1000),
    ]
    product = await make.product(county.id, splits=splits, price_fen=997, stock=100_000)
    buyer = await make.user(Role.viewer)
    return product.id, buyer.id, [p for p, _ in splits]  # type: ignore[return-value]


class TestConcurrentPostings:
    async def test_concurrent_payments_and_refunds_lose_nothing(self, db: Database, make: Factory) -> None:
        product_id, buyer_id, parties = await _product(make)
        to_refund = [await pay(db, buyer_id, [(product_id, 1)]) for _ in range(10)]

        async def refund(order_id: int) -> None:
            async with db.transaction() as session:
                await reverse_sale(session, order_id, now=utcnow())

        quantities = [1 + i % 4 for i in range(30)]
        await asyncio.gather(
            *(pay(db, buyer_id, [(product_id, q)]) for q in quantities),
            *(refund(order_id) for order_id in to_refund),
        )
        books = await read_books(db)
        net = 997 * sum(quantities)
        assert books.balances["clearing"] == net
        assert sum(books.balances[p] for p in parties) == net
        splits = list(zip(parties, [4001, 3333, 1666, 1000], strict=True))
        for party in parties:
            assert books.balances[party] == sum(reference_shares(997 * q, splits)[party] for q in quantities)
        async with db.transaction() as session:
            assert (await check_books(session)).balanced

    async def test_replayed_payment_posts_once_under_concurrency(self, db: Database, make: Factory) -> None:
        product_id, buyer_id, _ = await _product(make)
        async with db.transaction() as session:
            order = await insert_paid_order(session, buyer_id, [(product_id, 3)])
        assert order.id is not None

        async def credit() -> bool:
            async with db.transaction() as session:
                fresh = await session.get(Order, order.id)
                assert fresh is not None
                return await credit_sale(session, await sale_of(session, fresh), now=utcnow())

        results = await asyncio.gather(*(credit() for _ in range(6)))
        assert sorted(results) == [False] * 5 + [True]
        assert (await read_books(db)).balances["clearing"] == 2991


class TestConcurrentRefunds:
    async def test_two_refunds_of_one_order_exactly_one_wins(self, db: Database, make: Factory) -> None:
        product_id, buyer_id, parties = await _product(make)
        order_ids = [await pay(db, buyer_id, [(product_id, 2)]) for _ in range(5)]

        async def refund(order_id: int) -> str:
            try:
                async with db.transaction() as session:
                    await reverse_sale(session, order_id, now=utcnow())
            except Conflict:
                return "conflict"
            return "reversed"

        outcomes = await asyncio.gather(*(refund(order_id) for order_id in order_ids for _ in range(2)))
        for i in range(len(order_ids)):
            assert sorted(outcomes[2 * i : 2 * i + 2]) == ["conflict", "reversed"]
        books = await read_books(db)
        assert all(books.balances[p] == 0 for p in [*parties, "clearing"])
        assert sum(1 for t in books.transactions.values() if t[0] == "reversal") == 5
