"""The cashier: concurrent payment notices settled together, each answered as if it had been alone."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from datetime import timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, func, select

from livecommerce.kit.clock import utcnow
from livecommerce.kit.db import Database
from livecommerce.kit.errors import Conflict, LiveCommerceError
from livecommerce.kit.settings import Settings
from livecommerce.ledger.books import check_books
from livecommerce.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from livecommerce.orders.cashier import Cashier, Settlement, Tender, settle_payments
from livecommerce.orders.models import Order, OrderStatus, Payment
from livecommerce.payments.base import PaymentNotice
from livecommerce.payments.webhook import sign
from tests.factories import Factory
from tests.livecommerce.orders.helpers import Shop, buckets, events, make_buyers, order

PRICE = 1990  # the shop's product, one unit per order


async def unpaid_orders(client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, n: int) -> list[int]:
    """`n` one-unit orders of the shop's product by `n` buyers, placed concurrently."""
    buyers = await make_buyers(db, make, n)
    placed = await asyncio.gather(*(order(client, b, shop.stream_id, [(shop.product_id, 1)]) for b in buyers))
    assert all(r.status_code == 201 for r in placed), [r.text for r in placed]
    return sorted(r.json()["id"] for r in placed)


def notice(order_id: int, *, txn: str | None = None, amount_fen: int = PRICE) -> PaymentNotice:
    return PaymentNotice(provider="wechat", provider_txn_id=txn or f"wx-{order_id}", order_id=order_id, amount_fen=amount_fen)


async def settle_all(cashier: Cashier, notices: Sequence[PaymentNotice]) -> list[Settlement | LiveCommerceError]:
    """Hand every notice to the cashier at once; each one's answer or refusal, in order."""

    async def one(n: PaymentNotice) -> Settlement | LiveCommerceError:
        try:
            return await cashier.settle(n, now=utcnow())
        except LiveCommerceError as refused:
            return refused

    return list(await asyncio.gather(*(one(n) for n in notices)))


async def count(db: Database, model: type, *where: object) -> int:
    async with db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]


async def assert_books_hold(db: Database) -> None:
    """Every balance equals the sum of its entries, every transaction balances."""
    async with db.sessionmaker() as session:
        books = await check_books(session)
        assert books.balanced, books
        assert books.mismatched_accounts == [] and books.unbalanced_transactions == 0


async def balance(db: Database, party: str) -> int:
    async with db.sessionmaker() as session:
        account = await session.scalar(select(LedgerAccount).where(col(LedgerAccount.party) == party))
        return 0 if account is None else account.balance_fen


class TestCashier:
    async def test_many_payments_sharing_hot_accounts_are_each_paid_once_and_the_books_hold(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        ids = await unpaid_orders(client, make, db, shop, 24)
        # Two cashiers, as two app instances would be: their batches run side by side on PostgreSQL
        # and meet on the same orders, the platform's and the county's accounts. Every order's
        # notice is delivered to both, and a third of the orders are also paid by a second transaction.
        first, second = Cashier(db, max_batch=8), Cashier(db, max_batch=8)
        notices = [notice(i) for i in ids]
        others = [notice(i, txn=f"other-{i}") for i in ids[::3]]
        answers = await asyncio.gather(settle_all(first, notices + others[::2]), settle_all(second, notices[::-1] + others[1::2]))
        by_txn: dict[str, list[Settlement | LiveCommerceError]] = {}
        for sent, got in zip(notices + others[::2] + notices[::-1] + others[1::2], answers[0] + answers[1], strict=True):
            by_txn.setdefault(sent.provider_txn_id, []).append(got)
        for i in ids:
            twice = by_txn[f"wx-{i}"]
            assert sorted(isinstance(a, Settlement) and a.replayed for a in twice) == [False, True], twice
        assert all(isinstance(a, Conflict) for i in ids[::3] for a in by_txn[f"other-{i}"])
        assert await count(db, Payment) == 24
        assert await count(db, Order, col(Order.status) == OrderStatus.paid) == 24
        assert await count(db, LedgerTransaction, col(LedgerTransaction.kind) == "sale") == 24
        assert await buckets(db, shop.product_id) == (100 - 24, 0, 24)
        assert await balance(db, "platform") == 24 * (PRICE * 1000 // 10000)
        assert await balance(db, f"county:{shop.county_id}") == 24 * (PRICE * 2000 // 10000)
        assert await balance(db, "clearing") == 24 * PRICE
        assert len(await events(db, shop.stream_id, "order.paid")) == 24
        await assert_books_hold(db)
        assert first.batches.batches_written + second.batches.batches_written < len(notices) * 2  # payments shared transactions

    async def test_the_same_notice_twice_in_one_batch_posts_once(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        [order_id] = await unpaid_orders(client, make, db, shop, 1)
        cashier = Cashier(db)
        answers = await settle_all(cashier, [notice(order_id), notice(order_id)])
        assert cashier.batches.batches_written == 1
        assert answers == [
            Settlement(order_id=order_id, status="paid", replayed=False),
            Settlement(order_id=order_id, status="paid", replayed=True),
        ]
        assert await count(db, Payment) == 1
        assert await count(db, LedgerTransaction) == 1
        assert await count(db, LedgerEntry) == 4  # the clearing debit and three parties' credits
        assert await buckets(db, shop.product_id) == (99, 0, 1)
        assert len(await events(db, shop.stream_id, "order.paid")) == 1
        await assert_books_hold(db)

    async def test_a_wrong_amount_is_refused_and_the_rest_of_its_batch_is_paid(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        ids = await unpaid_orders(client, make, db, shop, 3)
        cashier = Cashier(db)
        answers = await settle_all(cashier, [notice(ids[0]), notice(ids[1], amount_fen=PRICE - 1), notice(ids[2])])
        assert cashier.batches.batches_written == 1
        assert isinstance(answers[1], Conflict) and "1989" in str(answers[1].detail)
        assert [a for a in answers if isinstance(a, Settlement)] == [
            Settlement(order_id=ids[0], status="paid", replayed=False),
            Settlement(order_id=ids[2], status="paid", replayed=False),
        ]
        assert await count(db, Order, col(Order.status) == OrderStatus.paid) == 2
        assert await count(db, Order, col(Order.id) == ids[1], col(Order.status) == OrderStatus.pending_payment) == 1
        assert await count(db, Payment) == 2
        assert await buckets(db, shop.product_id) == (97, 1, 2)  # the refused order's unit stays reserved
        await assert_books_hold(db)
        # The refused order can still be paid by a right notice.
        assert await cashier.settle(notice(ids[1], txn="wx-again"), now=utcnow()) == Settlement(ids[1], "paid", False)

    async def test_a_notice_that_came_in_time_is_not_refused_for_its_batchs_wait(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        first, second = await unpaid_orders(client, make, db, shop, 2)
        async with db.sessionmaker() as session:
            expires_at = (await session.get(Order, first)).expires_at  # type: ignore[union-attr]
        assert expires_at is not None
        in_time, late = expires_at - timedelta(seconds=1), expires_at + timedelta(seconds=1)
        tenders = [Tender(notice(first), in_time), Tender(notice(second), late)]  # the batch's latest moment is past both
        async with db.transaction() as session:
            await settle_payments(session, tenders)
        assert tenders[0].error is None and tenders[0].result is not None and not tenders[0].result.replayed
        assert tenders[1].error is not None and tenders[1].error.status == 409
        await assert_books_hold(db)

    async def test_a_notice_for_an_unknown_order_is_refused_alone(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        [order_id] = await unpaid_orders(client, make, db, shop, 1)
        answers = await settle_all(Cashier(db), [notice(10**9), notice(order_id)])
        assert isinstance(answers[0], LiveCommerceError) and answers[0].status == 404
        assert answers[1] == Settlement(order_id=order_id, status="paid", replayed=False)


class TestWebhookThroughTheCashier:
    async def test_one_notification_delivered_twice_at_once_is_applied_once(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, settings: Settings
    ) -> None:
        [order_id] = await unpaid_orders(client, make, db, shop, 1)
        body = json.dumps(
            {"provider": "wechat", "provider_txn_id": uuid.uuid4().hex, "order_id": order_id, "amount_fen": PRICE, "status": "paid"}
        ).encode()
        secret = settings.payment_webhook_secret
        headers = {"Content-Type": "application/json", "X-Signature": sign(secret, body)}
        first, again = await asyncio.gather(*(client.post("/api/payments/webhook", content=body, headers=headers) for _ in range(2)))
        assert first.status_code == again.status_code == 200, (first.text, again.text)
        assert sorted([first.json()["replayed"], again.json()["replayed"]]) == [False, True]
        assert await count(db, Payment) == 1
        assert await count(db, LedgerTransaction) == 1
        await assert_books_hold(db)


# --- a property over batches of mixed notices ---------------------------------------------------

ORDERS = 4
# One notice: which order, which provider transaction (shared numbers collide across orders on purpose), right amount or not.
NOTICES = st.lists(st.tuples(st.integers(0, ORDERS - 1), st.integers(0, 5), st.booleans()), min_size=1, max_size=16)


def _expected(sent: list[tuple[int, int, bool]]) -> tuple[list[str], dict[str, int]]:
    """Each notice's answer as if applied one by one in arrival order: fresh, replayed or refused; and what got applied."""
    applied: dict[str, int] = {}  # transaction -> order index
    paid: set[int] = set()
    answers = []
    for index, txn, right in sent:
        key = f"h{txn}"
        if key in applied:
            answers.append("replayed" if applied[key] == index else "refused")
        elif not right or index in paid:
            answers.append("refused")
        else:
            applied[key] = index
            paid.add(index)
            answers.append("fresh")
    return answers, applied


@pytest.mark.slow
class TestCashierProperty:
    @given(sent=NOTICES, max_batch=st.integers(1, 8))
    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    async def test_any_batch_of_pays_replays_and_wrong_amounts_answers_as_one_by_one(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, sent: list[tuple[int, int, bool]], max_batch: int
    ) -> None:
        # Each example pays fresh orders of the one shop (20 examples x 4 units of its 100), under transaction numbers of its own.
        ids, run = await unpaid_orders(client, make, db, shop, ORDERS), uuid.uuid4().hex[:8]
        notices = [notice(ids[i], txn=f"{run}h{txn}", amount_fen=PRICE if right else PRICE + 1) for i, txn, right in sent]
        got = await settle_all(Cashier(db, max_batch=max_batch), notices)
        answers, applied = _expected(sent)
        kinds = ["refused" if isinstance(a, LiveCommerceError) else "replayed" if a.replayed else "fresh" for a in got]
        assert kinds == answers, (sent, [getattr(a, "detail", a) for a in got])
        async with db.sessionmaker() as session:
            paid = (await session.scalars(select(Order.id).where(col(Order.id).in_(ids), col(Order.status) == "paid"))).all()
            recorded = select(Payment.provider_txn_id, Payment.order_id).where(col(Payment.order_id).in_(ids))
            payments = [tuple(row) for row in (await session.execute(recorded)).all()]
        assert sorted(paid) == sorted(ids[i] for i in applied.values())
        assert sorted(payments) == sorted((run + txn, ids[i]) for txn, i in applied.items())
        await assert_books_hold(db)
