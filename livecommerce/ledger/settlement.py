"""Settlement: when a sale's credits stop being pending and become settled, and which bucket a refund takes back.

The rule, in one place:

- Paying posts every party's share (and the clearing account's receipt) to the `pending`
  bucket of its account.
- Once the order is delivered (its buyer confirmed receipt, or the auto-receive timer did; a
  station's over-the-counter sale is delivered when paid) and `LIVECOMMERCE_SETTLEMENT_DAYS`
  have passed since, a double-entry transfer moves the sale's amounts from `pending` to
  `settled`: each pending leg reversed and posted again as settled, so every transaction
  still balances and each account's balance is unchanged.
- A refund reverses exactly the sale's legs, from the bucket they are in: from `pending` if
  the order has not settled (so it takes back only what that order credited, never more),
  from `settled` if it has.

Each sale has one row here. Its status moves pending → settled or pending/settled → refunded
by compare-and-set on that row, which a settlement and a refund of the same order both take
(after the order row, before any account row), so they serialize and exactly one of them sees
`pending`. The claim and the entries it allows commit in one transaction, so a crash between
them leaves neither; and the journal's unique (order, kind) admits one settlement per order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.kit.errors import Conflict, InvalidState
from livecommerce.kit.i18n import _l
from livecommerce.kit.tables import table_of
from livecommerce.ledger.models import SaleSettlement

PENDING, SETTLED, REFUNDED = "pending", "settled", "refunded"
BUCKETS = (PENDING, SETTLED)
# Sales at a station's counter are handed over when paid.
DELIVERED_WHEN_PAID = frozenset({"physical"})

SETTLEMENTS: Table = table_of(SaleSettlement)
_INSERT_SETTLEMENTS = insert(SETTLEMENTS)


async def open_settlements(session: AsyncSession, sales: Sequence[tuple[int, int, datetime | None]], *, now: datetime) -> None:
    """Record new sales, each (order, sale transaction, delivered at or None), as pending, in one insert."""
    rows = [
        {"order_id": order_id, "sale_transaction_id": tx_id, "status": PENDING, "delivered_at": delivered_at, "created_at": now}
        for order_id, tx_id, delivered_at in sales
    ]
    if rows:
        await session.execute(_INSERT_SETTLEMENTS, rows)


async def mark_delivered(session: AsyncSession, order_ids: Sequence[int], *, at: datetime) -> int:
    """The orders reached their buyers at `at`: their settlement days start counting; how many were marked.

    Only the first delivery counts: marking an order twice keeps the first time.
    """
    if not order_ids:
        return 0
    result = await session.execute(
        update(SETTLEMENTS)
        .where(SETTLEMENTS.c.order_id.in_(sorted(order_ids)), SETTLEMENTS.c.delivered_at.is_(None), SETTLEMENTS.c.status == PENDING)
        .values(delivered_at=at)
        .returning(SETTLEMENTS.c.order_id)
    )
    return len(result.all())


def settles_by(now: datetime, days: int) -> datetime:
    """Orders delivered at or before this moment are due for settlement at `now`."""
    return now - timedelta(days=days)


async def due_order_ids(session: AsyncSession, *, now: datetime, days: int, limit: int = 500) -> list[int]:
    """Pending orders delivered at least `days` before `now`, the longest-waiting first."""
    rows = await session.execute(
        select(SETTLEMENTS.c.order_id)
        .where(SETTLEMENTS.c.status == PENDING, SETTLEMENTS.c.delivered_at <= settles_by(now, days))
        .order_by(SETTLEMENTS.c.delivered_at, SETTLEMENTS.c.order_id)
        .limit(limit)
    )
    return [int(order_id) for order_id in rows.scalars().all()]


async def claim_for_settlement(session: AsyncSession, order_id: int, *, now: datetime, days: int) -> int | None:
    """Move a due pending order to settled; its sale's transaction id, or None if it was not due or not pending.

    The compare-and-set: of two schedulers settling the same order, the second waits on the
    row and then finds it settled (or refunded) and claims nothing.
    """
    result = await session.execute(
        update(SETTLEMENTS)
        .where(
            SETTLEMENTS.c.order_id == order_id,
            SETTLEMENTS.c.status == PENDING,
            SETTLEMENTS.c.delivered_at <= settles_by(now, days),
        )
        .values(status=SETTLED, settled_at=now)
        .returning(SETTLEMENTS.c.sale_transaction_id)
    )
    sale_id = result.scalar()
    return None if sale_id is None else int(sale_id)


async def claim_for_refund(session: AsyncSession, order_id: int, *, now: datetime) -> str:
    """Mark an order's sale refunded; the bucket its credits are in (`pending` or `settled`), which the reversal takes from.

    Conflict if it was refunded already.
    """
    status = (await session.execute(select(SETTLEMENTS.c.status).where(SETTLEMENTS.c.order_id == order_id).with_for_update())).scalar()
    if status is None:
        raise InvalidState(_l("Order {order_id} has no sale posting to reverse.", order_id=order_id))
    if status == REFUNDED:
        raise Conflict(_l("Order {order_id} has been refunded already.", order_id=order_id))
    moved = await session.execute(
        update(SETTLEMENTS)
        .where(SETTLEMENTS.c.order_id == order_id, SETTLEMENTS.c.status == status)
        .values(status=REFUNDED, refunded_at=now)
        .returning(SETTLEMENTS.c.id)
    )
    if moved.first() is None:
        raise InvalidState(_l("The settlement of order {order_id} changed while it was being refunded.", order_id=order_id))
    return str(status)


async def settlement_status(session: AsyncSession, order_id: int) -> str | None:
    """`pending`, `settled` or `refunded`; None for an order never credited."""
    status = await session.scalar(select(SETTLEMENTS.c.status).where(SETTLEMENTS.c.order_id == order_id))
    return None if status is None else str(status)
