"""Queries on orders, their lines and payments."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, case, distinct, func, insert, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.orders.models import Order, OrderLine, OrderStatus, Payment, Shipment, StreamBuyer

# Two-key advisory locks: this namespace keeps ours apart from anyone else's.
BUYER_LOCK_NAMESPACE = 0x4F52  # "OR"
HOLDING_STATUSES = (OrderStatus.pending_payment.value, OrderStatus.paid.value)


def is_postgresql(session: AsyncSession) -> bool:
    """True when the session talks to PostgreSQL."""
    return session.get_bind().dialect.name == "postgresql"


async def order_by_key(session: AsyncSession, buyer_id: int, idempotency_key: str) -> Order | None:
    """The buyer's order placed with this idempotency key, if any."""
    stmt = (
        select(Order)
        .where(col(Order.buyer_id) == buyer_id, col(Order.idempotency_key) == idempotency_key)
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(stmt)).first()


async def get_order(session: AsyncSession, order_id: int, *, for_update: bool = False) -> Order | None:
    """The order (locked for the rest of the transaction with `for_update`)."""
    stmt = select(Order).where(col(Order.id) == order_id).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt)).first()


async def lines_of(session: AsyncSession, order_ids: Iterable[int]) -> dict[int, list[OrderLine]]:
    """The lines of each order, by product id."""
    ids = sorted(set(order_ids))
    result: dict[int, list[OrderLine]] = {oid: [] for oid in ids}
    if not ids:
        return result
    stmt = select(OrderLine).where(col(OrderLine.order_id).in_(ids)).order_by(col(OrderLine.order_id), col(OrderLine.product_id))
    for line in await session.scalars(stmt):
        result[line.order_id].append(line)
    return result


async def lock_buyer(session: AsyncSession, buyer_id: int) -> None:
    """Serialize one buyer's order placements (PostgreSQL; SQLite transactions are serial already).

    Without it two concurrent orders of one buyer under different keys could both pass
    the per-buyer quantity cap. An advisory lock keeps us off the users table.
    """
    if is_postgresql(session):
        await session.execute(_LOCK_BUYER, {"namespace": BUYER_LOCK_NAMESPACE, "key": buyer_id % 2**31})


_LOCK_BUYER = text("SELECT pg_advisory_xact_lock(:namespace, :key)")


async def held_quantities(session: AsyncSession, buyer_id: int, stream_id: int, product_ids: Sequence[int]) -> dict[int, int]:
    """Units of each product the buyer holds in this stream's open and paid orders."""
    params = {"buyer_id": buyer_id, "stream_id": stream_id, "product_ids": list(product_ids)}
    return {pid: int(total or 0) for pid, total in (await session.execute(_HELD_QUANTITIES, params)).all()}


# Statements on the ordering path are built once: reusing the object skips rebuilding and
# re-keying it for SQLAlchemy's compiled cache on every request.
_HELD_QUANTITIES = (
    select(col(OrderLine.product_id), func.sum(col(OrderLine.quantity)))
    .join(Order, col(Order.id) == col(OrderLine.order_id))
    .where(
        col(Order.buyer_id) == bindparam("buyer_id"),
        col(Order.stream_id) == bindparam("stream_id"),
        col(Order.status).in_(HOLDING_STATUSES),
        col(OrderLine.product_id).in_(bindparam("product_ids", expanding=True)),
    )
    .group_by(col(OrderLine.product_id))
)
_LINES: Table = OrderLine.__table__  # type: ignore[attr-defined]
_INSERT_LINES = insert(_LINES).returning(_LINES.c.id, sort_by_parameter_order=True)


async def insert_lines(session: AsyncSession, lines: Sequence[OrderLine]) -> None:
    """Insert an order's lines in one statement and give each its id."""
    rows = [
        {
            "order_id": ln.order_id,
            "product_id": ln.product_id,
            "quantity": ln.quantity,
            "unit_price_fen": ln.unit_price_fen,
            "amount_fen": ln.amount_fen,
        }
        for ln in lines
    ]
    ids = (await session.execute(_INSERT_LINES, rows)).scalars()
    for line, line_id in zip(lines, ids, strict=True):
        line.id = line_id


async def transition(session: AsyncSession, order_ids: Sequence[int], expected: OrderStatus, values: dict[str, Any]) -> list[int]:
    """Compare-and-set: move the orders still in `expected` to `values`; the ids that moved."""
    if not order_ids:
        return []
    result = await session.execute(
        update(Order)
        .where(col(Order.id).in_(list(order_ids)), col(Order.status) == expected.value)
        .values(**values)
        .returning(col(Order.id))
        .execution_options(synchronize_session=False)
    )
    return sorted(int(i) for i in result.scalars().all() if i is not None)


async def due_order_ids(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Unpaid orders whose reservation has run out, oldest first."""
    stmt = (
        select(col(Order.id))
        .where(col(Order.status) == OrderStatus.pending_payment.value, col(Order.expires_at) <= now)
        .order_by(col(Order.expires_at), col(Order.id))
        .limit(limit)
    )
    return [int(i) for i in (await session.scalars(stmt)).all() if i is not None]


async def payment_by_txn(session: AsyncSession, provider: str, provider_txn_id: str) -> Payment | None:
    """The payment recorded for a provider transaction, if any."""
    stmt = select(Payment).where(col(Payment.provider) == provider, col(Payment.provider_txn_id) == provider_txn_id)
    return (await session.scalars(stmt)).first()


async def payment_of(session: AsyncSession, order_id: int) -> Payment | None:
    """The payment that settled an order."""
    stmt = select(Payment).where(col(Payment.order_id) == order_id, col(Payment.kind) == "payment").order_by(col(Payment.id))
    return (await session.scalars(stmt)).first()


async def note_stream_buyers(session: AsyncSession, buyers: Iterable[tuple[int, int, bool]]) -> None:
    """Record (stream, buyer, paid) for orders placed or paid in a stream; a buyer once paid stays paid.

    Rows are written in key order (one statement), so two transactions noting the same
    buyers lock their rows in the same order; each row is one buyer's in one stream, so
    unrelated buyers and streams never wait on each other here.
    """
    wanted: dict[tuple[int, int], bool] = {}
    for stream_id, buyer_id, paid in buyers:
        wanted[(stream_id, buyer_id)] = wanted.get((stream_id, buyer_id), False) or paid
    if not wanted:
        return
    rows = [{"stream_id": s, "buyer_id": b, "paid": wanted[(s, b)]} for s, b in sorted(wanted)]
    dialect_insert = pg_insert if is_postgresql(session) else sqlite_insert
    stmt = dialect_insert(StreamBuyer)
    # Only a first payment rewrites a row; a buyer's further orders leave it as it is.
    stmt = stmt.on_conflict_do_update(
        index_elements=["stream_id", "buyer_id"],
        set_={"paid": stmt.excluded.paid},
        where=stmt.excluded.paid & ~col(StreamBuyer.paid),
    )
    await session.execute(stmt, rows)


async def buyers_of_streams(session: AsyncSession, stream_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Per stream: distinct buyers who placed an order, and distinct buyers who paid one (refunded later or not).

    From the stream's buyer rows (one per buyer, however many orders); `recount_buyers_of_streams` counts the orders.
    """
    ids = sorted(set(stream_ids))
    if not ids:
        return {}
    paid = func.sum(case((col(StreamBuyer.paid), 1), else_=0))
    rows = await session.execute(
        select(col(StreamBuyer.stream_id), func.count(), paid)
        .where(col(StreamBuyer.stream_id).in_(ids))
        .group_by(col(StreamBuyer.stream_id))
    )
    found = {int(sid): (int(placed), int(paying or 0)) for sid, placed, paying in rows.all()}
    return {sid: found.get(sid, (0, 0)) for sid in ids}


async def recount_buyers_of_streams(session: AsyncSession, stream_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """`buyers_of_streams` counted from the orders, to check the buyer rows."""
    ids = sorted(set(stream_ids))
    if not ids:
        return {}
    paid_buyer = case((col(Order.paid_at).is_not(None), col(Order.buyer_id)))
    rows = await session.execute(
        select(col(Order.stream_id), func.count(distinct(col(Order.buyer_id))), func.count(distinct(paid_buyer)))
        .where(col(Order.stream_id).in_(ids))
        .group_by(col(Order.stream_id))
    )
    found = {int(sid or 0): (int(placed), int(paid)) for sid, placed, paid in rows.all()}
    return {sid: found.get(sid, (0, 0)) for sid in ids}


async def distinct_paying_buyers(session: AsyncSession, stream_ids: Sequence[int]) -> int:
    """How many distinct buyers paid an order in any of the streams."""
    ids = sorted(set(stream_ids))
    if not ids:
        return 0
    stmt = select(func.count(distinct(col(StreamBuyer.buyer_id)))).where(col(StreamBuyer.stream_id).in_(ids), col(StreamBuyer.paid))
    return int(await session.scalar(stmt) or 0)


async def shipments_of(session: AsyncSession, order_ids: Iterable[int]) -> dict[int, list[Shipment]]:
    """The parcels of each order, in the order they were recorded."""
    ids = sorted(set(order_ids))
    result: dict[int, list[Shipment]] = {oid: [] for oid in ids}
    if not ids:
        return result
    for shipment in await session.scalars(select(Shipment).where(col(Shipment.order_id).in_(ids)).order_by(col(Shipment.id))):
        result[shipment.order_id].append(shipment)
    return result


async def transition_fulfillment(session: AsyncSession, order_id: int, expected: str, values: dict[str, Any]) -> bool:
    """Compare-and-set on a paid order's fulfillment state; True when it moved."""
    result = await session.execute(
        update(Order)
        .where(col(Order.id) == order_id, col(Order.status) == OrderStatus.paid.value, col(Order.fulfillment) == expected)
        .values(**values)
        .returning(col(Order.id))
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None


async def unit_purchase_lines(
    session: AsyncSession, unit_ids: Sequence[int], begin: datetime, finish: datetime
) -> list[tuple[int, int, datetime, datetime | None]]:
    """Lines of the units' paid or refunded orders paid or refunded in [begin, finish): (product_id, amount_fen, paid_at, refunded_at)."""
    if not unit_ids:
        return []
    paid_in = (col(Order.paid_at) >= begin) & (col(Order.paid_at) < finish)
    refunded_in = (col(Order.refunded_at) >= begin) & (col(Order.refunded_at) < finish)
    stmt = (
        select(col(OrderLine.product_id), col(OrderLine.amount_fen), col(Order.paid_at), col(Order.refunded_at))
        .join(Order, col(Order.id) == col(OrderLine.order_id))
        .where(
            col(Order.unit_id).in_(list(unit_ids)),
            col(Order.status).in_([OrderStatus.paid.value, OrderStatus.refunded.value]),
            col(Order.paid_at).is_not(None),
            paid_in | refunded_in,
        )
    )
    rows = (await session.execute(stmt)).all()
    return [(int(p), int(a), paid, refunded) for p, a, paid, refunded in rows if paid is not None]


async def unit_ids_of_orders(session: AsyncSession, order_ids: Iterable[int]) -> dict[int, int]:
    """The purchasing unit of each of these orders that names one, by order id."""
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    rows = await session.execute(select(col(Order.id), col(Order.unit_id)).where(col(Order.id).in_(ids), col(Order.unit_id).is_not(None)))
    return {int(order_id): int(unit_id) for order_id, unit_id in rows.all() if order_id is not None and unit_id is not None}
