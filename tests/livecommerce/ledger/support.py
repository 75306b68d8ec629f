"""Test helpers: paid orders written straight to the tables and credited through the ledger."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.broadcasts.service import create_stream
from livecommerce.catalog.models import Product, ProductSplit
from livecommerce.kit.clock import utcnow
from livecommerce.kit.db import Database
from livecommerce.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from livecommerce.ledger.service import Sale, SaleLine, credit_sale
from livecommerce.orders import repository as orders_repository
from livecommerce.orders.models import Order, OrderLine, OrderStatus
from tests.factories import Factory


async def make_stream(db: Database, product_ids: Sequence[int] = ()) -> int:
    """A scheduled stream featuring the products."""
    now = utcnow()
    async with db.transaction() as session:
        stream = await create_stream(
            session, title="Harvest", scheduled_start=now, scheduled_end=now + timedelta(hours=1), anchor_ids=[], product_ids=product_ids
        )
    assert stream.id is not None
    return stream.id


async def sale_of(session: AsyncSession, order: Order) -> Sale:
    """The ledger's view of a paid order (what the orders module hands to `credit_sale`)."""
    assert order.id is not None
    lines = (await session.scalars(select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.id))).all()
    sale_lines = []
    for line in lines:
        product = await session.get(Product, line.product_id)
        assert product is not None and line.id is not None
        splits = (await session.scalars(select(ProductSplit).where(ProductSplit.product_id == line.product_id))).all()
        sale_lines.append(
            SaleLine(
                order_line_id=line.id,
                product_id=line.product_id,
                county_id=product.county_id,
                quantity=line.quantity,
                amount_fen=line.amount_fen,
                splits=tuple((s.party, s.bp) for s in splits),
            )
        )
    return Sale(order_id=order.id, channel=order.channel, stream_id=order.stream_id, lines=tuple(sale_lines), total_fen=order.total_fen)


async def insert_paid_order(
    session: AsyncSession,
    buyer_id: int,
    items: Sequence[tuple[int, int]],
    *,
    stream_id: int | None = None,
    channel: str = "live",
    now: datetime | None = None,
) -> Order:
    """An order already paid, its lines at the products' prices (stock is not this helper's concern)."""
    now = now or utcnow()
    prices = {pid: (await session.get(Product, pid)).price_fen for pid, _ in items}  # type: ignore[union-attr]
    total = sum(prices[pid] * q for pid, q in items)
    order = Order(
        buyer_id=buyer_id,
        stream_id=stream_id,
        channel=channel,
        status=OrderStatus.paid,
        idempotency_key=uuid.uuid4().hex,
        request_hash="0" * 64,
        total_fen=total,
        created_at=now,
        paid_at=now,
    )
    session.add(order)
    await session.flush()
    assert order.id is not None
    for pid, q in items:
        session.add(OrderLine(order_id=order.id, product_id=pid, quantity=q, unit_price_fen=prices[pid], amount_fen=prices[pid] * q))
    await session.flush()
    if stream_id is not None:  # what placing and paying an order in a stream records, as the orders service does
        await orders_repository.note_stream_buyers(session, [(stream_id, buyer_id, True)])
    return order


async def pay(
    db: Database,
    buyer_id: int,
    items: Sequence[tuple[int, int]],
    *,
    stream_id: int | None = None,
    channel: str = "live",
    now: datetime | None = None,
) -> int:
    """Insert a paid order and credit it, in one transaction; the order id."""
    now = now or utcnow()
    async with db.transaction() as session:
        order = await insert_paid_order(session, buyer_id, items, stream_id=stream_id, channel=channel, now=now)
        assert await credit_sale(session, await sale_of(session, order), now=now)
    assert order.id is not None
    return order.id


@dataclass
class Books:
    """Everything the ledger holds, read back for independent checks."""

    balances: dict[str, int]
    entries: list[tuple[int, str, str, int, int | None, int | None, int | None]]  # tx, party, direction, amount, product, county, qty
    transactions: dict[int, tuple[str, int, str, int | None, int | None]]  # id -> kind, order, channel, stream, reverses


async def read_books(db: Database) -> Books:
    """The accounts, entries and transactions as stored."""
    async with db.transaction() as session:
        accounts = (await session.execute(select(LedgerAccount.id, LedgerAccount.party, LedgerAccount.balance_fen))).all()
        party_of = {a.id: a.party for a in accounts}
        entries = (
            await session.execute(
                select(
                    LedgerEntry.transaction_id,
                    LedgerEntry.account_id,
                    LedgerEntry.direction,
                    LedgerEntry.amount_fen,
                    LedgerEntry.product_id,
                    LedgerEntry.county_id,
                    LedgerEntry.quantity,
                ).order_by(LedgerEntry.id)
            )
        ).all()
        txs = (await session.execute(select(LedgerTransaction))).scalars().all()
    return Books(
        balances={a.party: a.balance_fen for a in accounts},
        entries=[(e[0], party_of[e[1]], e[2], e[3], e[4], e[5], e[6]) for e in entries],
        transactions={t.id: (t.kind, t.order_id, t.channel, t.stream_id, t.reverses_id) for t in txs},  # type: ignore[misc]
    )


async def mark_refunded(session: AsyncSession, order_id: int, now: datetime) -> None:
    """The order side of a refund (the ledger side is `reverse_sale`)."""
    await session.execute(update(Order).where(Order.id == order_id).values(status=OrderStatus.refunded, refunded_at=now))


async def product_with_splits(make: Factory, county_id: int, splits: list[tuple[str, int]], price_fen: int = 1990) -> Product:
    """A product with exactly these splits."""
    return await make.product(county_id, splits=splits, price_fen=price_fen, stock=1_000_000)


EPOCH = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
