"""Posting sales and their reversals: balanced, exact, idempotent, at most once."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from livecommerce.kit.clock import utcnow
from livecommerce.kit.db import Database
from livecommerce.kit.errors import Conflict, InvalidState
from livecommerce.kit.principal import Role
from livecommerce.ledger.models import LedgerEntry, LedgerTransaction
from livecommerce.ledger.service import credit_sale, reverse_sale, stream_totals
from livecommerce.orders.models import Order
from tests.factories import Factory
from tests.livecommerce.ledger.support import make_stream, pay, product_with_splits, read_books, sale_of


async def _world(make: Factory, price_fen: int = 1990, splits: list[tuple[str, int]] | None = None) -> tuple[int, int, list[str]]:
    county = await make.county()
    household = await make.household(county.id)
    station = await make.station(county.id)
    parties = [f"household:{household.id}", f"station:{station.id}", f"county:{county.id}"]
    product = await product_with_splits(make, county.id, splits or list(zip(parties, [3333, 3333, 3334], strict=True)), price_fen)
    buyer = await make.user(Role.viewer)
    return product.id, buyer.id, parties  # type: ignore[return-value]


class TestCreditSale:
    async def test_one_fen_sale_credits_exactly_one_fen(self, db: Database, make: Factory) -> None:
        product_id, buyer_id, parties = await _world(make, price_fen=1)
        await pay(db, buyer_id, [(product_id, 1)])
        books = await read_books(db)
        assert books.balances == {"clearing": 1, parties[2]: 1}

    async def test_prime_amount_thirds_add_up_to_the_line(self, db: Database, make: Factory) -> None:
        product_id, buyer_id, parties = await _world(make, price_fen=9973)
        await pay(db, buyer_id, [(product_id, 1)])
        books = await read_books(db)
        assert books.balances == {"clearing": 9973, parties[0]: 3324, parties[1]: 3324, parties[2]: 3325}

    async def test_entries_balance_and_carry_line_details(self, db: Database, make: Factory) -> None:
        product_id, buyer_id, _ = await _world(make, price_fen=997)
        stream_id = await make_stream(db, [product_id])
        await pay(db, buyer_id, [(product_id, 3)], stream_id=stream_id)
        books = await read_books(db)
        debits = sum(e[3] for e in books.entries if e[2] == "debit")
        credits = sum(e[3] for e in books.entries if e[2] == "credit")
        assert debits == credits == 2991
        clearing = [e for e in books.entries if e[1] == "clearing"]
        assert [(e[2], e[4], e[6]) for e in clearing] == [("debit", product_id, 3)]
        assert next(iter(books.transactions.values()))[2:4] == ("live", stream_id)

    async def test_posting_twice_posts_nothing_new(self, db: Database, make: Factory) -> None:
        product_id, buyer_id, _ = await _world(make)
        order_id = await pay(db, buyer_id, [(product_id, 2)])
        before = await read_books(db)
        async with db.transaction() as session:
            order = await session.get(Order, order_id)
            assert order is not None
            assert await credit_sale(session, await sale_of(session, order), now=utcnow()) is False
        assert await read_books(db) == before

    async def test_splits_not_summing_to_10000_are_a_bug_and_post_nothing(self, db: Database, make: Factory) -> None:
        product_id, buyer_id, _ = await _world(make)
        order_id = await pay(db, buyer_id, [(product_id, 1)])
        async with db.transaction() as session:
            order = await session.get(Order, order_id)
            assert order is not None
            sale = await sale_of(session, order)
        broken = type(sale)(order_id=sale.order_id, channel="live", stream_id=None, lines=(), total_fen=0)
        async with db.transaction() as session:
            with pytest.raises(ValueError):
                await credit_sale(session, broken, now=utcnow())


class TestReverseSale:
    async def test_reversal_mirrors_every_entry_and_zeroes_balances(self, db: Database, make: Factory) -> None:
        product_id, buyer_id, _parties = await _world(make, price_fen=1001)
        order_id = await pay(db, buyer_id, [(product_id, 7)])
        async with db.transaction() as session:
            await reverse_sale(session, order_id, now=utcnow())
        books = await read_books(db)
        assert set(books.balances.values()) == {0}
        sale_tx, reversal_tx = sorted(books.transactions)
        assert books.transactions[reversal_tx][0] == "reversal"
        assert books.transactions[reversal_tx][4] == sale_tx
        sale = sorted((e[1], e[2], e[3]) for e in books.entries if e[0] == sale_tx)
        flipped = sorted((e[1], "credit" if e[2] == "debit" else "debit", e[3]) for e in books.entries if e[0] == reversal_tx)
        assert sale == flipped

    async def test_second_refund_is_a_conflict(self, db: Database, make: Factory) -> None:
        product_id, buyer_id, _ = await _world(make)
        order_id = await pay(db, buyer_id, [(product_id, 1)])
        async with db.transaction() as session:
            await reverse_sale(session, order_id, now=utcnow())
        with pytest.raises(Conflict):
            async with db.transaction() as session:
                await reverse_sale(session, order_id, now=utcnow())
        books = await read_books(db)
        assert len(books.transactions) == 2

    async def test_order_never_posted_cannot_be_reversed(self, db: Database, make: Factory) -> None:
        with pytest.raises(InvalidState):
            async with db.transaction() as session:
                await reverse_sale(session, 424242, now=utcnow())

    async def test_unique_constraint_refuses_a_second_reversal_written_directly(self, db: Database, make: Factory) -> None:
        product_id, buyer_id, _ = await _world(make)
        order_id = await pay(db, buyer_id, [(product_id, 1)])
        async with db.transaction() as session:
            await reverse_sale(session, order_id, now=utcnow())
        async with db.transaction() as session:
            sale_id = await session.scalar(select(LedgerTransaction.id).where(LedgerTransaction.kind == "sale"))
        with pytest.raises(IntegrityError):
            async with db.transaction() as session:
                session.add(LedgerTransaction(kind="reversal2", order_id=order_id, channel="live", reverses_id=sale_id))
                await session.flush()

    async def test_the_database_refuses_to_edit_an_entry(self, db: Database, make: Factory) -> None:
        product_id, buyer_id, _ = await _world(make)
        await pay(db, buyer_id, [(product_id, 1)])
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.transaction() as session:
                await session.execute(update(LedgerEntry).values(amount_fen=LedgerEntry.amount_fen + 1))
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.transaction() as session:
                await session.execute(update(LedgerTransaction).values(channel="physical"))


class TestStreamTotals:
    async def test_totals_follow_sales_and_refunds(self, db: Database, make: Factory) -> None:
        product_id, buyer_id, _ = await _world(make, price_fen=500)
        stream_id = await make_stream(db, [product_id])
        first = await pay(db, buyer_id, [(product_id, 2)], stream_id=stream_id)
        await pay(db, buyer_id, [(product_id, 3)], stream_id=stream_id)
        async with db.transaction() as session:
            await reverse_sale(session, first, now=utcnow())
        async with db.transaction() as session:
            totals = await stream_totals(session, stream_id)
        assert (totals.gmv_fen, totals.paid_orders, totals.units, totals.refunded_fen) == (2500, 2, 5, 1000)
        assert (totals.refunded_orders, totals.refunded_units, totals.net_fen) == (1, 2, 1500)

    async def test_stream_without_sales_has_zero_totals(self, db: Database, make: Factory) -> None:
        stream_id = await make_stream(db)
        async with db.transaction() as session:
            totals = await stream_totals(session, stream_id)
        assert (totals.gmv_fen, totals.paid_orders, totals.units, totals.refunded_fen) == (0, 0, 0, 0)
