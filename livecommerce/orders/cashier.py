"""Applying payment notices: one path for every notice (`settle_payments`), concurrent ones sharing a transaction (`Cashier`).

A notice is applied once: the order's reserved units become sold, the payment is recorded
and the sale is credited. A notice for a provider transaction applied before changes nothing
and answers as it did (replayed); one whose amount is not the order's total, whose currency
is not yuan, or whose order can no longer be paid, is refused and writes nothing: every
notice of a batch is decided against the locked orders before anything is written, so a
refused one never fails the others.

The steps, and the lock order they keep (the house's, as in `service` and `placement`): the
orders FOR UPDATE in ascending id; the payments' unique (provider, transaction) keys; one
conditional UPDATE per product in ascending id, with the batch's units summed; the ledger
(`credit_sales`: one balance update per account, in party order, with the batch's summed
deltas, so the platform's and the county's rows are taken once per batch rather than once
per payment); the streams' buyer rows; then the streams' event counters in ascending order.
Every write of the path is a Core statement with its rows bound at once (executemany).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.accounts import service as accounts
from livecommerce.broadcasts.events import EventType
from livecommerce.broadcasts.stock_events import append_with_stock_changes
from livecommerce.catalog import stock
from livecommerce.catalog.service import splits_of
from livecommerce.kit.db import Database
from livecommerce.kit.errors import Conflict, InvalidState, LiveCommerceError, NotFound
from livecommerce.kit.group_commit import GroupCommit
from livecommerce.kit.i18n import _l, status_word
from livecommerce.kit.tables import table_of
from livecommerce.ledger.service import Sale, SaleLine, credit_sales
from livecommerce.orders import repository
from livecommerce.orders.models import Order, OrderLine, OrderStatus, Payment
from livecommerce.orders.placement import Placed, placed_of
from livecommerce.payments.base import CURRENCY, PaymentNotice

MAX_BATCH = 64
_ORDERS: Table = table_of(Order)
_LINES: Table = table_of(OrderLine)
_PAYMENTS: Table = table_of(Payment)


@dataclass(frozen=True)
class Settlement:
    """The order a payment notice concerned, as it stands after it; `replayed` when the notice had been applied before.

    An order this notice paid comes with its view (`paid`, as the batch wrote it), so the
    caller answers without reading it again.
    """

    order_id: int
    status: str
    replayed: bool
    paid: Placed | None = field(default=None, compare=False)


class Payable(Protocol):
    """What deciding whether an order can be paid reads of it."""

    @property
    def id(self) -> int | None: ...

    @property
    def status(self) -> str: ...

    @property
    def expires_at(self) -> datetime | None: ...


def require_payable(order: Payable, now: datetime) -> None:
    """InvalidState unless the order waits for its payment and its reservation still holds."""
    if order.status != OrderStatus.pending_payment:
        raise InvalidState(_l("Order {order} is {status} and cannot be paid.", order=order.id, status=status_word(order.status)))
    if order.expires_at is not None and now >= order.expires_at:
        raise InvalidState(
            _l(
                "The reservation of order {order} expired at {expires_at}; place a new order.",
                order=order.id,
                expires_at=order.expires_at.isoformat(),
            )
        )


@dataclass
class Tender:
    """One notice on its way through a batch, and what became of it."""

    notice: PaymentNotice
    now: datetime
    # The buyer's own tap on "pay" (a provider that settles at once): an order already paid,
    # by whichever transaction, is answered as paid instead of refused.
    paid_is_done: bool = False
    result: Settlement | None = None
    error: LiveCommerceError | None = None
    again: bool = False  # to be settled alone after its batch (see `kit.group_commit`)


def cashier_of(state: Any) -> Cashier:
    """The cashier of an app (its `app.state`), made on first use for the app's current database."""
    cashier: Cashier | None = getattr(state, "cashier", None)
    if cashier is None or cashier.db is not state.db:
        cashier = state.cashier = Cashier(state.db, max_batch=state.settings.payment_batch_max)
    return cashier


async def settle_payment(session: AsyncSession, notice: PaymentNotice, *, now: datetime, paid_is_done: bool = False) -> Settlement:
    """Apply one notice in the caller's transaction (a batch of one); raises its refusal."""
    tender = Tender(notice, now, paid_is_done=paid_is_done)
    await settle_payments(session, [tender])
    if tender.error is not None:
        raise tender.error
    assert tender.result is not None
    return tender.result


async def settle_payments(session: AsyncSession, tenders: Sequence[Tender]) -> None:
    """Apply the notices in the caller's transaction; each tender ends with a result or an error.

    The batch pays at one moment, its latest `now` (when its transaction makes the payments);
    whether a reservation still held is judged at each notice's own `now`.
    """
    now = max(t.now for t in tenders)
    orders = {row.id: row for row in (await session.execute(_LOCK_ORDERS, {"ids": sorted({t.notice.order_id for t in tenders})})).all()}
    earlier = await _applied_before(session, tenders)
    paying = _decide(tenders, orders, earlier)
    if not paying:
        return
    await session.execute(
        _INSERT_PAYMENTS,
        [
            {
                "order_id": t.notice.order_id,
                "provider": t.notice.provider,
                "provider_txn_id": t.notice.provider_txn_id,
                "amount_fen": t.notice.amount_fen,
                "kind": "payment",
                "created_at": now,
            }
            for t in sorted(paying, key=lambda t: (t.notice.provider, t.notice.provider_txn_id))
        ],
    )
    ids = sorted(t.notice.order_id for t in paying)
    moved = sorted((await session.execute(_MARK_PAID, {"ids": ids, "now": now})).scalars())
    if moved != ids:
        # Cannot happen under the orders' row locks; refuse the batch rather than pay what did not move.
        raise RuntimeError(f"orders {sorted(set(ids) - set(moved))} changed under their row locks")
    lines = (await session.execute(_LINES_OF, {"ids": ids})).all()
    levels = await _settle_units(session, lines, now)
    await credit_sales(session, await _sales(session, [orders[i] for i in ids], lines, levels), now=now)
    in_streams = [orders[i] for i in ids if orders[i].stream_id is not None]
    # After the products' and the ledger's rows, before the streams' sequence rows (as placing an order takes them).
    await repository.note_stream_buyers(session, [(o.stream_id, o.buyer_id, True) for o in in_streams])
    names = await accounts.display_names(session, [o.buyer_id for o in in_streams])
    events: dict[int, list[tuple[EventType | str, dict[str, Any]]]] = defaultdict(list)
    for o in in_streams:
        events[o.stream_id].append((EventType.order_paid, {"order_id": o.id, "buyer": names[o.buyer_id], "total_fen": o.total_fen}))
    await append_with_stock_changes(session, events, stock.take_pending(session), ts=now)
    _attach_views(paying, orders, lines, now)


def _attach_views(paying: Sequence[Tender], orders: dict[int, Any], lines: Sequence[Any], now: datetime) -> None:
    """Each paid order's view as this batch leaves it (paid now; the rows were read before the update)."""
    by_order: dict[int, list[Any]] = defaultdict(list)
    for line in lines:
        by_order[line.order_id].append(line)
    for t in paying:
        row = orders[t.notice.order_id]
        view = replace(placed_of(row, by_order[row.id], created=False), status=OrderStatus.paid.value, paid_at=now)
        assert t.result is not None
        t.result = replace(t.result, paid=view)


async def _applied_before(session: AsyncSession, tenders: Sequence[Tender]) -> dict[tuple[str, str], int]:
    """The order each notice's provider transaction was applied to before this batch, where it was."""
    params = {"providers": sorted({t.notice.provider for t in tenders}), "txns": sorted({t.notice.provider_txn_id for t in tenders})}
    wanted = {(t.notice.provider, t.notice.provider_txn_id) for t in tenders}
    found = (await session.execute(_PAYMENTS_OF_TXNS, params)).all()
    return {(p, txn): order_id for p, txn, order_id in found if (p, txn) in wanted}


def _decide(tenders: Sequence[Tender], orders: dict[int, Any], earlier: dict[tuple[str, str], int]) -> list[Tender]:
    """Answer every tender that pays nothing (replays, refusals) and return, in arrival order, those that pay."""
    status = {order_id: row.status for order_id, row in orders.items()}
    taken = dict(earlier)  # transaction -> order, including those this batch applies
    paying: list[Tender] = []
    for t in tenders:
        n, key = t.notice, (t.notice.provider, t.notice.provider_txn_id)
        order = orders.get(n.order_id)
        if order is None:
            t.error = NotFound(_l("Order {order_id} does not exist.", order_id=n.order_id))
        elif key in taken:
            if taken[key] != n.order_id:
                t.error = Conflict(_l("Transaction {provider_txn_id} was applied to another order.", provider_txn_id=n.provider_txn_id))
            else:
                t.result = Settlement(order_id=n.order_id, status=status[n.order_id], replayed=True)
        elif status[n.order_id] == OrderStatus.paid and t.paid_is_done:
            t.result = Settlement(order_id=n.order_id, status=OrderStatus.paid.value, replayed=True)
        else:
            # Whether the reservation still held is judged at the notice's own arrival, not at
            # the batch's latest moment: a notice that came in time is not refused for the batch's wait.
            t.error = _refusal(n, order, status[n.order_id], t.now)
            if t.error is None:
                status[n.order_id] = OrderStatus.paid.value
                taken[key] = n.order_id
                t.result = Settlement(order_id=n.order_id, status=OrderStatus.paid.value, replayed=False)
                paying.append(t)
    return paying


def _refusal(notice: PaymentNotice, order: Any, status: str, now: datetime) -> LiveCommerceError | None:
    """Why a fresh notice cannot pay its order (as it stands in this batch), if it cannot."""
    if notice.currency != CURRENCY:
        return Conflict(
            _l("The payment is in {currency}; orders are paid in {CURRENCY}.", currency=notice.currency[:8], CURRENCY=CURRENCY),
            extra={"errors": [{"field": "currency", "message": f"expected {CURRENCY}"}]},
        )
    if notice.amount_fen != order.total_fen:
        return Conflict(
            _l(
                "The amount paid ({amount_fen} fen) is not the order's total ({total_fen} fen).",
                amount_fen=notice.amount_fen,
                total_fen=order.total_fen,
            ),
            extra={"errors": [{"field": "amount_fen", "message": f"expected {order.total_fen}"}]},
        )
    if status == OrderStatus.paid:
        return Conflict(_l("Order {order} was already paid by another transaction.", order=order.id))
    try:
        require_payable(order, now)  # the row's status: a batch changes an order's only to paid, refused above
    except LiveCommerceError as refused:
        return refused
    return None


async def _settle_units(session: AsyncSession, lines: Sequence[Any], now: datetime) -> dict[int, stock.StockLevel]:
    """The batch's reserved units become sold: one conditional UPDATE per product, in ascending id."""
    units: dict[int, int] = defaultdict(int)
    for line in lines:
        units[line.product_id] += line.quantity
    return {pid: await stock.settle(session, pid, units[pid], now=now) for pid in sorted(units)}


async def _sales(session: AsyncSession, orders: Sequence[Any], lines: Sequence[Any], levels: dict[int, stock.StockLevel]) -> list[Sale]:
    """The ledger's view of each paid order: its lines, each product's county and splits."""
    splits = await splits_of(session, sorted(levels))
    by_order: dict[int, list[SaleLine]] = defaultdict(list)
    for line in lines:
        by_order[line.order_id].append(
            SaleLine(
                order_line_id=line.id,
                product_id=line.product_id,
                county_id=levels[line.product_id].county_id,
                quantity=line.quantity,
                amount_fen=line.amount_fen,
                splits=tuple((s.party, s.bp) for s in splits[line.product_id]),
            )
        )
    return [
        Sale(order_id=o.id, channel=o.channel, stream_id=o.stream_id, lines=tuple(by_order[o.id]), total_fen=o.total_fen) for o in orders
    ]


class Cashier:
    """Settles concurrent payment notices of this instance in shared transactions (`kit.group_commit`); one alone is a batch of one.

    All payments share one lane: every sale credits the platform and its county, so batches
    of unrelated orders would still meet on those rows; one transaction at a time, each
    carrying every notice that arrived meanwhile, takes them once per batch.
    """

    def __init__(self, db: Database, *, max_batch: int = MAX_BATCH) -> None:
        self.db = db
        self.batches = GroupCommit(self._write, max_batch=max_batch, name="cashier")

    async def settle(self, notice: PaymentNotice, *, now: datetime, paid_is_done: bool = False) -> Settlement:
        """Apply `notice` (or answer as its earlier application did); raises its refusal."""
        tender = Tender(notice, now, paid_is_done)
        await self.batches.submit("payments", tender)
        if tender.error is not None:
            raise tender.error
        assert tender.result is not None
        return tender.result

    async def _write(self, tenders: list[Tender]) -> None:
        for t in tenders:
            t.result, t.error = None, None
        async with self.db.transaction() as session:
            await settle_payments(session, tenders)


# Statements built once, so a batch only binds its values.
_LOCK_ORDERS = select(_ORDERS).where(_ORDERS.c.id.in_(bindparam("ids", expanding=True))).order_by(_ORDERS.c.id).with_for_update()
_PAYMENTS_OF_TXNS = select(_PAYMENTS.c.provider, _PAYMENTS.c.provider_txn_id, _PAYMENTS.c.order_id).where(
    _PAYMENTS.c.provider.in_(bindparam("providers", expanding=True)),
    _PAYMENTS.c.provider_txn_id.in_(bindparam("txns", expanding=True)),
)
_INSERT_PAYMENTS = insert(_PAYMENTS)
_MARK_PAID = (
    update(_ORDERS)
    .where(_ORDERS.c.id.in_(bindparam("ids", expanding=True)), _ORDERS.c.status == OrderStatus.pending_payment.value)
    .values(status=OrderStatus.paid.value, paid_at=bindparam("now"))
    .returning(_ORDERS.c.id)
)
_LINES_OF = (
    select(
        _LINES.c.id,
        _LINES.c.order_id,
        _LINES.c.product_id,
        _LINES.c.quantity,
        _LINES.c.unit_price_fen,
        _LINES.c.amount_fen,
        _LINES.c.flash_deal_id,
    )
    .where(_LINES.c.order_id.in_(bindparam("ids", expanding=True)))
    .order_by(_LINES.c.order_id, _LINES.c.product_id)
)
