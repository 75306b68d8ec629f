"""An order's life after placement (see `placement`): reading, payment, cancel, expiry, refund.

Each state change is a compare-and-set on the order's status and moves units between the
product's buckets with the catalog's conditional moves (`catalog.stock`), all in the
caller's transaction, with the outbox events appended last. Lock order, everywhere: the
order row (or its idempotency key), the buyer's advisory lock, products by ascending id,
deals by ascending id, ledger accounts, then the streams' event counters in ascending order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.accounts import service as accounts
from livecommerce.audit import service as audit
from livecommerce.broadcasts import service as streams_service
from livecommerce.broadcasts.events import PENDING_EVENTS_KEY, EventType
from livecommerce.broadcasts.stock_events import append_with_stock_changes
from livecommerce.catalog import stock
from livecommerce.kit.errors import Forbidden, InvalidState, NotFound
from livecommerce.kit.i18n import _l, status_word
from livecommerce.kit.pagination import PageParams
from livecommerce.kit.principal import Principal
from livecommerce.ledger.service import reverse_sale
from livecommerce.orders import repository
from livecommerce.orders.cashier import require_payable, settle_payment
from livecommerce.orders.models import Order, OrderLine, OrderStatus, Payment, Shipment
from livecommerce.orders.placement import Placed, placed_of
from livecommerce.orders.schemas import OrderLinePublic, OrderPublic, ShipmentPublic
from livecommerce.payments.base import Charge, Payer, PaymentProvider, PaymentStarted, Refund
from livecommerce.payments.registry import REAL_PROVIDERS, PaymentProviders

log = structlog.get_logger(__name__)


def order_public(order: Order, lines: Sequence[OrderLine], shipments: Sequence[Shipment] = ()) -> OrderPublic:
    """The API view of a stored order, with its parcels."""
    return placed_public(placed_of(order, lines, created=False), shipments)


def shipment_public(shipment: Shipment) -> ShipmentPublic:
    """The API view of a parcel."""
    assert shipment.id is not None
    return ShipmentPublic(id=shipment.id, carrier=shipment.carrier, tracking_no=shipment.tracking_no, created_at=shipment.created_at)


def placed_public(placed: Placed, shipments: Sequence[Shipment] = ()) -> OrderPublic:
    """The API view of an order as placement returns it."""
    return OrderPublic(
        id=placed.id,
        status=placed.status,
        total_fen=placed.total_fen,
        expires_at=placed.expires_at,
        stream_id=placed.stream_id,
        channel=placed.channel,
        items=[
            OrderLinePublic(
                product_id=ln.product_id,
                quantity=ln.quantity,
                unit_price_fen=ln.unit_price_fen,
                amount_fen=ln.amount_fen,
                flash_deal_id=ln.flash_deal_id,
            )
            for ln in placed.lines
        ],
        created_at=placed.created_at,
        paid_at=placed.paid_at,
        cancelled_at=placed.cancelled_at,
        refunded_at=placed.refunded_at,
        address_id=placed.address_id,
        fulfillment=placed.fulfillment,
        shipped_at=placed.shipped_at,
        delivered_at=placed.delivered_at,
        shipments=[shipment_public(s) for s in shipments],
    )


# --- reading -----------------------------------------------------------------------------------


async def order_counties(session: AsyncSession, order: Order) -> set[int]:
    """The counties an order concerns: its stream's, or (outside streams) its products'."""
    if order.stream_id is not None:
        return await streams_service.stream_county_ids(session, order.stream_id)
    assert order.id is not None
    lines = (await repository.lines_of(session, [order.id]))[order.id]
    return set((await stock.county_ids_of(session, [ln.product_id for ln in lines])).values())


async def require_staff_of(session: AsyncSession, principal: Principal, order: Order) -> None:
    """Raise Forbidden unless the principal is an admin or staff of the order's counties."""
    if principal.is_admin:
        return
    if principal.is_staff and principal.county_ids & await order_counties(session, order):
        return
    raise Forbidden(_l("Only an organizer of the order's counties may do this."))


async def get_order(session: AsyncSession, principal: Principal, order_id: int) -> tuple[Order, list[OrderLine]]:
    """An order with its lines, for its buyer or staff of its counties."""
    order = await repository.get_order(session, order_id)
    if order is None:
        raise NotFound(_l("Order {order_id} does not exist.", order_id=order_id))
    if order.buyer_id != principal.id:
        await require_staff_of(session, principal, order)
    return order, (await repository.lines_of(session, [order_id]))[order_id]


async def order_view(session: AsyncSession, principal: Principal, order_id: int) -> OrderPublic:
    """The API view of one order with its parcels, for its buyer or staff of its counties."""
    order, lines = await get_order(session, principal, order_id)
    return order_public(order, lines, (await repository.shipments_of(session, [order_id]))[order_id])


async def list_buyer_orders(
    session: AsyncSession, buyer_id: int, page: PageParams, *, stream_id: int | None = None, status: str | None = None
) -> tuple[list[OrderPublic], str | None]:
    """One page of a buyer's orders, oldest first, optionally of one stream or status."""
    stmt = select(Order).where(col(Order.buyer_id) == buyer_id)
    if stream_id is not None:
        stmt = stmt.where(col(Order.stream_id) == stream_id)
    if status is not None:
        stmt = stmt.where(col(Order.status) == status)
    if page.after_id is not None:
        stmt = stmt.where(col(Order.id) > page.after_id)
    orders = list((await session.scalars(stmt.order_by(col(Order.id)).limit(page.limit + 1))).all())
    next_cursor = None
    if len(orders) > page.limit:
        orders = orders[: page.limit]
        next_cursor = str(orders[-1].id)
    ids = [o.id for o in orders if o.id is not None]
    lines, shipments = await repository.lines_of(session, ids), await repository.shipments_of(session, ids)
    return [order_public(o, lines[o.id], shipments[o.id]) for o in orders if o.id is not None], next_cursor


# --- paying ------------------------------------------------------------------------------------


async def pay_with_provider(
    session: AsyncSession, principal: Principal, order_id: int, provider: PaymentProvider, *, now: datetime
) -> Order:
    """The buyer pays through a provider that settles at once (the sandbox); paying a paid order changes nothing."""
    started = await start_payment(session, principal, order_id, provider, Payer(), now=now)
    if not isinstance(started, PaymentStarted):
        return started  # paid already
    if started.notice is None:
        raise InvalidState(_l("{name} does not settle at once; the order is paid when its notification arrives.", name=provider.name))
    settled = await settle_payment(session, started.notice, now=now, paid_is_done=True)
    paid = await repository.get_order(session, settled.order_id)
    assert paid is not None
    return paid


async def start_payment(
    session: AsyncSession,
    principal: Principal,
    order_id: int,
    provider: PaymentProvider,
    payer: Payer,
    *,
    now: datetime,
) -> Order | PaymentStarted:
    """The buyer starts paying: the paid order (a provider that settles at once) or the client's pay parameters.

    `payer` carries how the buyer's client pays (channel, openid, address); the amount and
    description are the order's. A real provider's order is created without holding the
    order's row lock across the call; its notification is checked against the order again.
    A provider that settles at once answers its notice (in `PaymentStarted`) for the caller to
    apply (through the `Cashier`, or `pay_with_provider` in the caller's transaction), which
    locks the order and decides again; the order is read here without a lock.
    """
    order = await repository.get_order(session, order_id)
    if order is None:
        raise NotFound(_l("Order {order_id} does not exist.", order_id=order_id))
    if order.buyer_id != principal.id:
        raise Forbidden(_l("Only the buyer can pay for an order."))
    if order.status == OrderStatus.paid:
        return order
    require_payable(order, now)
    charge = Charge(
        order_id=order_id,
        amount_fen=order.total_fen,
        description=f"Order {order_id}",
        expires_at=order.expires_at,
        channel=payer.channel,
        openid=payer.openid,
        client_ip=payer.client_ip,
    )
    return await provider.start(charge)


# --- cancelling, expiring, refunding -----------------------------------------------------------


async def cancel_order(session: AsyncSession, principal: Principal, order_id: int, *, now: datetime) -> Order:
    """The buyer withdraws an unpaid order and its units go back on sale; cancelling twice changes nothing."""
    order = await repository.get_order(session, order_id, for_update=True)
    if order is None:
        raise NotFound(_l("Order {order_id} does not exist.", order_id=order_id))
    if order.buyer_id != principal.id and not principal.is_admin:
        raise Forbidden(_l("Only the buyer can cancel an order."))
    if order.status == OrderStatus.cancelled:
        return order
    if order.status != OrderStatus.pending_payment:
        raise InvalidState(
            _l("Order {order_id} is {status}; only an unpaid order can be cancelled.", order_id=order_id, status=status_word(order.status))
        )
    await _release_orders(session, [order_id], OrderStatus.cancelled, now=now)
    cancelled = await repository.get_order(session, order_id)
    assert cancelled is not None
    return cancelled


async def expire_due_orders(session: AsyncSession, *, now: datetime, limit: int = 500) -> int:
    """Expire up to `limit` unpaid orders whose reservation ran out, returning their units; how many expired.

    Driven from the database (not timers), so expiry survives restarts. The orders are
    released in one batch so product rows are locked in ascending id order; if the batch
    fails, each order is tried on its own so one bad row never blocks the rest.
    """
    due = await repository.due_order_ids(session, now, limit)
    if not due:
        return 0
    try:
        return await _in_savepoint(session, partial(_release_orders, session, due, OrderStatus.expired, now=now))
    except Exception:
        log.exception("order_expiry_batch_failed", orders=len(due))
    expired = 0
    for order_id in due:
        try:
            expired += await _in_savepoint(session, partial(_release_orders, session, [order_id], OrderStatus.expired, now=now))
        except Exception:
            log.exception("order_expiry_failed", order_id=order_id)
    return expired


async def _in_savepoint(session: AsyncSession, work: Callable[[], Awaitable[int]]) -> int:
    """Run `work` in a savepoint; on failure also forget the events and stock changes it recorded (they were rolled back)."""
    pending: list[Any] = session.info.setdefault(PENDING_EVENTS_KEY, [])
    mark = len(pending)
    changes = stock.snapshot_pending(session)
    try:
        async with session.begin_nested():
            return await work()
    except BaseException:
        del pending[mark:]
        stock.restore_pending(session, changes)
        raise


async def _release_orders(session: AsyncSession, order_ids: Sequence[int], status: OrderStatus, *, now: datetime) -> int:
    """Move unpaid orders to cancelled/expired and their reserved units back to free stock."""
    moved = await repository.transition(session, order_ids, OrderStatus.pending_payment, {"status": status, "cancelled_at": now})
    if not moved:
        return 0
    orders = list((await session.scalars(select(Order).where(col(Order.id).in_(moved)).execution_options(populate_existing=True))).all())
    lines = await repository.lines_of(session, moved)
    quantities: dict[tuple[int, int | None], int] = defaultdict(int)
    for order_lines in lines.values():
        for line in order_lines:
            quantities[(line.product_id, line.flash_deal_id)] += line.quantity
    for product_id, deal_id in sorted(quantities, key=lambda k: (k[0], k[1] or 0)):
        await stock.release(session, product_id, quantities[(product_id, deal_id)], now=now, deal_id=deal_id)
    names = await accounts.display_names(session, [o.buyer_id for o in orders])
    reason = "expired" if status == OrderStatus.expired else "cancelled"
    events: dict[int, list[tuple[EventType | str, dict[str, Any]]]] = defaultdict(list)
    for order in sorted(orders, key=lambda o: o.id or 0):
        if order.stream_id is not None:
            data = {"order_id": order.id, "buyer": names[order.buyer_id], "total_fen": order.total_fen, "reason": reason}
            events[order.stream_id].append((EventType.order_cancelled, data))
    await append_with_stock_changes(session, events, stock.take_pending(session), ts=now)
    return len(moved)


async def refund_order(
    session: AsyncSession, principal: Principal, order_id: int, *, now: datetime, providers: PaymentProviders | None = None
) -> Order:
    """Staff of the order's counties refund a paid order: units go back on sale and the ledger posting is reversed.

    Money taken by a real provider goes back through that provider first (from `providers`);
    if the provider refuses, or is not enabled here, nothing is reversed.
    """
    order = await repository.get_order(session, order_id, for_update=True)
    if order is None:
        raise NotFound(_l("Order {order_id} does not exist.", order_id=order_id))
    await require_staff_of(session, principal, order)
    if order.status != OrderStatus.paid:
        raise InvalidState(
            _l("Order {order_id} is {status}; only a paid order can be refunded.", order_id=order_id, status=status_word(order.status))
        )
    if not await repository.transition(session, [order_id], OrderStatus.paid, {"status": OrderStatus.refunded, "refunded_at": now}):
        raise InvalidState(_l("Order {order_id} changed while it was being refunded.", order_id=order_id))
    payment = await repository.payment_of(session, order_id)
    if payment is not None:
        # The refund's own row: the (provider, transaction) constraint makes a second one impossible.
        session.add(
            Payment(
                order_id=order_id,
                provider=payment.provider,
                provider_txn_id=f"refund:{payment.provider_txn_id}"[:128],
                amount_fen=payment.amount_fen,
                kind="refund",
                created_at=now,
            )
        )
    if payment is not None and payment.provider in REAL_PROVIDERS:
        await _refund_through_provider(providers, payment, order)
    lines = (await repository.lines_of(session, [order_id]))[order_id]
    for line in sorted(lines, key=lambda ln: ln.product_id):
        await stock.restock(session, line.product_id, line.quantity, now=now)
    await reverse_sale(session, order_id, now=now)
    await audit.record(session, principal, "order.refunded", f"order:{order_id}", {"amount_fen": order.total_fen}, now=now)
    refunded = await repository.get_order(session, order_id)
    assert refunded is not None
    if refunded.stream_id is not None:
        await _append_order_events(session, refunded, EventType.order_refunded, now)
    return refunded


async def _refund_through_provider(providers: PaymentProviders | None, payment: Payment, order: Order) -> None:
    """Have the provider return the money; its refund number is the order's, so a retried refund is the same one."""
    provider = providers.find(payment.provider) if providers is not None else None
    if provider is None:
        raise InvalidState(
            _l("Refunds through {provider} are not enabled on this server; the money cannot be returned here.", provider=payment.provider)
        )
    assert order.id is not None
    refund = Refund(order_id=order.id, provider_txn_id=payment.provider_txn_id, amount_fen=payment.amount_fen, total_fen=payment.amount_fen)
    accepted = await provider.refund(refund)
    log.info("payment_refunded", provider=payment.provider, order_id=order.id, status=accepted.status)


# --- events ------------------------------------------------------------------------------------


async def _append_order_events(session: AsyncSession, order: Order, type: EventType, now: datetime) -> None:
    """The order's event, then `stock.changed` for every live stream featuring what moved."""
    assert order.stream_id is not None and order.id is not None
    names = await accounts.display_names(session, [order.buyer_id])
    data = {"order_id": order.id, "buyer": names[order.buyer_id], "total_fen": order.total_fen}
    await append_with_stock_changes(session, {order.stream_id: [(type, data)]}, stock.take_pending(session), ts=now)
