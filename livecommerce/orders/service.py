"""In-stream ordering: placing orders idempotently, reserving stock, payment, cancel, expiry, refund.

Each state change is a compare-and-set on the order's status and moves units between the
product's buckets with conditional UPDATEs (see `stock`), all in the caller's transaction,
with the outbox events appended last. Lock order, everywhere: the order row (or its
idempotency key), the buyer's advisory lock, products by ascending id, ledger accounts,
then the stream's event counter.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import structlog
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.accounts.models import User
from livecommerce.audit import service as audit
from livecommerce.broadcasts import service as streams_service
from livecommerce.broadcasts.events import PENDING_EVENTS_KEY, EventType, append_event, append_events
from livecommerce.broadcasts.models import StreamStatus
from livecommerce.catalog import stock
from livecommerce.catalog.service import splits_of
from livecommerce.kit.errors import Conflict, Forbidden, InvalidInput, InvalidState, LiveCommerceError, NotFound
from livecommerce.kit.masking import mask_display_name
from livecommerce.kit.pagination import PageParams
from livecommerce.kit.principal import Principal
from livecommerce.kit.settings import Settings
from livecommerce.ledger.service import Sale, SaleLine, credit_sale, reverse_sale
from livecommerce.orders import repository
from livecommerce.orders.models import Channel, Order, OrderLine, OrderStatus, Payment
from livecommerce.orders.schemas import OrderCreate, OrderLinePublic, OrderPublic
from livecommerce.payments.base import CURRENCY, Charge, Payer, PaymentNotice, PaymentProvider, PaymentStarted, Refund
from livecommerce.payments.registry import REAL_PROVIDERS, PaymentProviders

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PlacedOrder:
    """An order and its lines; `created` is False when an earlier request with the same key made it."""

    order: Order
    lines: list[OrderLine]
    created: bool


@dataclass(frozen=True)
class Settlement:
    """The order a payment notice concerned; `replayed` when that notice had been applied before."""

    order: Order
    replayed: bool


def order_public(order: Order, lines: Sequence[OrderLine]) -> OrderPublic:
    """The API view of an order."""
    assert order.id is not None
    return OrderPublic(
        id=order.id,
        status=order.status,
        total_fen=order.total_fen,
        expires_at=order.expires_at,
        stream_id=order.stream_id,
        channel=order.channel,
        items=[
            OrderLinePublic(product_id=ln.product_id, quantity=ln.quantity, unit_price_fen=ln.unit_price_fen, amount_fen=ln.amount_fen)
            for ln in lines
        ],
        created_at=order.created_at,
        paid_at=order.paid_at,
        cancelled_at=order.cancelled_at,
        refunded_at=order.refunded_at,
    )


def request_hash(stream_id: int, data: OrderCreate) -> str:
    """A fingerprint of what was asked for, to tell a retry from a different order under a reused key."""
    items = sorted((item.product_id, item.quantity) for item in data.items)
    canonical = json.dumps({"stream_id": stream_id, "items": items}, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- placing -----------------------------------------------------------------------------------


async def place_order(
    session: AsyncSession,
    buyer: Principal,
    stream_id: int,
    data: OrderCreate,
    *,
    idempotency_key: str,
    settings: Settings,
    now: datetime,
) -> PlacedOrder:
    """Reserve the items for the buyer, or return the order an earlier request with this key made."""
    digest = request_hash(stream_id, data)
    items = sorted(data.items, key=_by_product)
    offer = await streams_service.stream_offer(session, stream_id, [item.product_id for item in items])
    refused = refusal(stream_id, offer, data, settings.max_quantity_per_buyer)
    if refused is not None or offer is None:
        # A retry of an order placed before the stream ended still gets its order back.
        existing = await repository.order_by_key(session, buyer.id, idempotency_key)
        if existing is not None:
            return await _replay(session, existing, digest)
        assert refused is not None
        raise refused
    order = Order(
        buyer_id=buyer.id,
        stream_id=stream_id,
        channel=Channel.live,
        status=OrderStatus.pending_payment,
        idempotency_key=idempotency_key,
        request_hash=digest,
        total_fen=sum(offer.prices[item.product_id] * item.quantity for item in items),
        created_at=now,
        expires_at=now + timedelta(seconds=settings.reservation_ttl_seconds),
    )
    order.id = await _insert_unless_key_taken(session, order)
    if order.id is None:
        # A concurrent or earlier request with the same key won the unique constraint; on
        # PostgreSQL the insert waited for it to commit, so its order is visible now.
        winner = await repository.order_by_key(session, buyer.id, idempotency_key)
        assert winner is not None
        return await _replay(session, winner, digest)
    await repository.lock_buyer(session, buyer.id)
    await _check_buyer_cap(session, buyer.id, stream_id, data, settings.max_quantity_per_buyer)
    lines = [
        OrderLine(
            order_id=order.id,
            product_id=item.product_id,
            quantity=item.quantity,
            unit_price_fen=offer.prices[item.product_id],
            amount_fen=offer.prices[item.product_id] * item.quantity,
        )
        for item in items
    ]
    await repository.insert_lines(session, lines)
    # Everything above touches only this buyer's rows. The hot rows (the product, then the
    # stream's event counter) are locked only from here to the commit: one conditional
    # UPDATE per product, two statements for all the events, then the boundary commits.
    levels = [
        await stock.reserve(session, item.product_id, item.quantity, price_fen=offer.prices[item.product_id], now=now) for item in items
    ]
    placed = {
        "order_id": order.id,
        "buyer": mask_display_name(buyer.display_name),
        "items": [{"product_id": line.product_id, "quantity": line.quantity} for line in lines],
        "total_fen": order.total_fen,
    }
    await append_events(
        session,
        stream_id,
        [(EventType.order_placed, placed), *((EventType.stock_changed, level.event_data()) for level in levels)],
        ts=now,
    )
    return PlacedOrder(order=order, lines=lines, created=True)


def _by_product(item: Any) -> int:
    return int(item.product_id)


async def _replay(session: AsyncSession, order: Order, digest: str) -> PlacedOrder:
    if order.request_hash != digest:
        raise Conflict(
            "This Idempotency-Key was already used for a different order; send a new key for a new order.",
            extra={"order_id": order.id},
        )
    assert order.id is not None
    return PlacedOrder(order=order, lines=(await repository.lines_of(session, [order.id]))[order.id], created=False)


def refusal(stream_id: int, offer: streams_service.StreamOffer | None, data: OrderCreate, cap: int) -> LiveCommerceError | None:
    """Why this stream cannot take this order, if it cannot."""
    if offer is None:
        return NotFound(f"Stream {stream_id} does not exist.")
    if offer.status != StreamStatus.live:
        return InvalidState(f"Orders are taken only while a stream is live; stream {stream_id} is {offer.status}.")
    errors: list[dict[str, str]] = []
    for i, item in enumerate(data.items):
        if item.product_id not in offer.prices:
            errors.append({"field": f"items.{i}.product_id", "message": f"product {item.product_id} is not featured in this stream"})
        elif item.quantity > cap:
            errors.append({"field": f"items.{i}.quantity", "message": f"at most {cap} units per buyer"})
    if errors:
        return InvalidInput("; ".join(e["message"] for e in errors) + ".", extra={"errors": errors})
    return None


async def _insert_unless_key_taken(session: AsyncSession, order: Order) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING on the buyer's idempotency key; the new id, or None if taken.

    The unique constraint `uq_orders_buyer_idempotency_key` decides between concurrent
    requests with one key. ON CONFLICT lets the loser learn that without an error (and so
    without a savepoint round trip on every order): on PostgreSQL it waits for the winner
    to commit or roll back, so a winner that failed (out of stock) leaves the key free.
    """
    values = {
        "buyer_id": order.buyer_id,
        "stream_id": order.stream_id,
        "channel": order.channel,
        "status": order.status,
        "idempotency_key": order.idempotency_key,
        "request_hash": order.request_hash,
        "total_fen": order.total_fen,
        "created_at": order.created_at,
        "expires_at": order.expires_at,
    }
    stmt = _INSERT_ORDER_PG if repository.is_postgresql(session) else _INSERT_ORDER_SQLITE
    return (await session.execute(stmt, values)).scalar_one_or_none()


_ORDERS: Table = Order.__table__  # type: ignore[attr-defined]
_INSERT_ORDER_PG = pg_insert(_ORDERS).on_conflict_do_nothing(index_elements=["buyer_id", "idempotency_key"]).returning(_ORDERS.c.id)
_INSERT_ORDER_SQLITE = sqlite_insert(_ORDERS).on_conflict_do_nothing(index_elements=["buyer_id", "idempotency_key"]).returning(_ORDERS.c.id)


async def _check_buyer_cap(session: AsyncSession, buyer_id: int, stream_id: int, data: OrderCreate, cap: int) -> None:
    held = await repository.held_quantities(session, buyer_id, stream_id, [item.product_id for item in data.items])
    error = buyer_cap_error(held, data, cap)
    if error is not None:
        raise error


def buyer_cap_error(held: dict[int, int], data: OrderCreate, cap: int) -> Conflict | None:
    """The refusal of an order that would take the buyer past `cap` units of a product, given what they `held`."""
    over = [item for item in data.items if held.get(item.product_id, 0) + item.quantity > cap]
    if not over:
        return None
    errors = [
        {"field": "items", "message": f"product {item.product_id}: you hold {held.get(item.product_id, 0)} of at most {cap}"}
        for item in over
    ]
    return Conflict(f"At most {cap} units of a product per buyer in one stream.", extra={"errors": errors})


# --- reading -----------------------------------------------------------------------------------


async def order_counties(session: AsyncSession, order: Order) -> set[int]:
    """The counties an order concerns: its stream's, or (outside streams) its products'."""
    if order.stream_id is not None:
        return await streams_service.stream_county_ids(session, order.stream_id)
    assert order.id is not None
    lines = (await repository.lines_of(session, [order.id]))[order.id]
    return set((await stock.county_ids_of(session, [ln.product_id for ln in lines])).values())


async def _require_staff_of(session: AsyncSession, principal: Principal, order: Order) -> None:
    if principal.is_admin:
        return
    if principal.is_staff and principal.county_ids & await order_counties(session, order):
        return
    raise Forbidden("Only an organizer of the order's counties may do this.")


async def get_order(session: AsyncSession, principal: Principal, order_id: int) -> tuple[Order, list[OrderLine]]:
    """An order with its lines, for its buyer or staff of its counties."""
    order = await repository.get_order(session, order_id)
    if order is None:
        raise NotFound(f"Order {order_id} does not exist.")
    if order.buyer_id != principal.id:
        await _require_staff_of(session, principal, order)
    return order, (await repository.lines_of(session, [order_id]))[order_id]


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
    lines = await repository.lines_of(session, [o.id for o in orders if o.id is not None])
    return [order_public(o, lines[o.id]) for o in orders if o.id is not None], next_cursor


# --- paying ------------------------------------------------------------------------------------


async def pay_with_provider(
    session: AsyncSession, principal: Principal, order_id: int, provider: PaymentProvider, *, now: datetime
) -> Order:
    """The buyer pays through a provider that settles at once (the sandbox); paying a paid order changes nothing."""
    started = await start_payment(session, principal, order_id, provider, Payer(), now=now)
    if isinstance(started, PaymentStarted):
        raise InvalidState(f"{provider.name} does not settle at once; the order is paid when its notification arrives.")
    return started


async def start_payment(
    session: AsyncSession, principal: Principal, order_id: int, provider: PaymentProvider, payer: Payer, *, now: datetime
) -> Order | PaymentStarted:
    """The buyer starts paying: the paid order (a provider that settles at once) or the client's pay parameters.

    `payer` carries how the buyer's client pays (channel, openid, address); the amount and
    description are the order's. A real provider's order is created without holding the
    order's row lock across the call; its notification is checked against the order again.
    """
    order = await repository.get_order(session, order_id, for_update=provider.settles_at_once)
    if order is None:
        raise NotFound(f"Order {order_id} does not exist.")
    if order.buyer_id != principal.id:
        raise Forbidden("Only the buyer can pay for an order.")
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
    started = await provider.start(charge)
    if started.notice is None:
        return started
    return (await settle_payment(session, started.notice, now=now)).order


def require_payable(order: Order, now: datetime) -> None:
    """InvalidState unless the order waits for its payment and its reservation still holds."""
    if order.status != OrderStatus.pending_payment:
        raise InvalidState(f"Order {order.id} is {order.status} and cannot be paid.")
    if order.expires_at is not None and now >= order.expires_at:
        raise InvalidState(f"The reservation of order {order.id} expired at {order.expires_at.isoformat()}; place a new order.")


async def settle_payment(session: AsyncSession, notice: PaymentNotice, *, now: datetime) -> Settlement:
    """Apply a provider's payment notice once: reserved units become sold and the sale is credited.

    A notice for a provider transaction applied before is a no-op; an amount that is not
    the order's total, a currency other than yuan, or an order that can no longer be paid,
    is refused and changes nothing.
    """
    order = await repository.get_order(session, notice.order_id, for_update=True)
    if order is None:
        raise NotFound(f"Order {notice.order_id} does not exist.")
    assert order.id is not None
    earlier = await repository.payment_by_txn(session, notice.provider, notice.provider_txn_id)
    if earlier is not None:
        if earlier.order_id != order.id:
            raise Conflict(f"Transaction {notice.provider_txn_id} was applied to another order.")
        return Settlement(order=order, replayed=True)
    if notice.currency != CURRENCY:
        raise Conflict(
            f"The payment is in {notice.currency[:8]}; orders are paid in {CURRENCY}.",
            extra={"errors": [{"field": "currency", "message": f"expected {CURRENCY}"}]},
        )
    if notice.amount_fen != order.total_fen:
        raise Conflict(
            f"The amount paid ({notice.amount_fen} fen) is not the order's total ({order.total_fen} fen).",
            extra={"errors": [{"field": "amount_fen", "message": f"expected {order.total_fen}"}]},
        )
    if order.status == OrderStatus.paid:
        raise Conflict(f"Order {order.id} was already paid by another transaction.")
    require_payable(order, now)
    session.add(Payment(order_id=order.id, provider=notice.provider, provider_txn_id=notice.provider_txn_id, amount_fen=notice.amount_fen))
    if not await repository.transition(session, [order.id], OrderStatus.pending_payment, {"status": OrderStatus.paid, "paid_at": now}):
        raise InvalidState(f"Order {order.id} changed while it was being paid.")
    lines = (await repository.lines_of(session, [order.id]))[order.id]
    levels = [await stock.settle(session, line.product_id, line.quantity, now=now) for line in lines]
    await credit_sale(session, await _sale_of(session, order, lines, levels), now=now)
    paid = await repository.get_order(session, order.id)
    assert paid is not None
    if paid.stream_id is not None:
        await _append_order_events(session, paid, EventType.order_paid, {}, levels, now)
    return Settlement(order=paid, replayed=False)


async def _sale_of(session: AsyncSession, order: Order, lines: Sequence[OrderLine], levels: Sequence[stock.StockLevel]) -> Sale:
    assert order.id is not None
    splits = await splits_of(session, [line.product_id for line in lines])
    county = {level.product_id: level.county_id for level in levels}
    sale_lines = []
    for line in lines:
        assert line.id is not None
        sale_lines.append(
            SaleLine(
                order_line_id=line.id,
                product_id=line.product_id,
                county_id=county[line.product_id],
                quantity=line.quantity,
                amount_fen=line.amount_fen,
                splits=tuple((s.party, s.bp) for s in splits[line.product_id]),
            )
        )
    return Sale(order_id=order.id, channel=order.channel, stream_id=order.stream_id, lines=tuple(sale_lines), total_fen=order.total_fen)


# --- cancelling, expiring, refunding -----------------------------------------------------------


async def cancel_order(session: AsyncSession, principal: Principal, order_id: int, *, now: datetime) -> Order:
    """The buyer withdraws an unpaid order and its units go back on sale; cancelling twice changes nothing."""
    order = await repository.get_order(session, order_id, for_update=True)
    if order is None:
        raise NotFound(f"Order {order_id} does not exist.")
    if order.buyer_id != principal.id and not principal.is_admin:
        raise Forbidden("Only the buyer can cancel an order.")
    if order.status == OrderStatus.cancelled:
        return order
    if order.status != OrderStatus.pending_payment:
        raise InvalidState(f"Order {order_id} is {order.status}; only an unpaid order can be cancelled.")
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
    """Run `work` in a savepoint; on failure also forget the events it appended (they were rolled back)."""
    pending: list[Any] = session.info.setdefault(PENDING_EVENTS_KEY, [])
    mark = len(pending)
    try:
        async with session.begin_nested():
            return await work()
    except BaseException:
        del pending[mark:]
        raise


async def _release_orders(session: AsyncSession, order_ids: Sequence[int], status: OrderStatus, *, now: datetime) -> int:
    """Move unpaid orders to cancelled/expired and their reserved units back to free stock."""
    moved = await repository.transition(session, order_ids, OrderStatus.pending_payment, {"status": status, "cancelled_at": now})
    if not moved:
        return 0
    orders = list((await session.scalars(select(Order).where(col(Order.id).in_(moved)).execution_options(populate_existing=True))).all())
    lines = await repository.lines_of(session, moved)
    quantities: dict[int, int] = defaultdict(int)
    for order_lines in lines.values():
        for line in order_lines:
            quantities[line.product_id] += line.quantity
    levels = {pid: await stock.release(session, pid, quantities[pid], now=now) for pid in sorted(quantities)}
    names = await _buyer_names(session, [o.buyer_id for o in orders])
    reason = "expired" if status == OrderStatus.expired else "cancelled"
    by_stream: dict[int, list[Order]] = defaultdict(list)
    for order in orders:
        if order.stream_id is not None:
            by_stream[order.stream_id].append(order)
    for stream_id in sorted(by_stream):
        touched: set[int] = set()
        for order in sorted(by_stream[stream_id], key=lambda o: o.id or 0):
            assert order.id is not None
            await append_event(
                session,
                stream_id,
                EventType.order_cancelled,
                {"order_id": order.id, "buyer": names[order.buyer_id], "total_fen": order.total_fen, "reason": reason},
                ts=now,
            )
            touched.update(line.product_id for line in lines[order.id])
        for pid in sorted(touched):
            await append_event(session, stream_id, EventType.stock_changed, levels[pid].event_data(), ts=now)
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
        raise NotFound(f"Order {order_id} does not exist.")
    await _require_staff_of(session, principal, order)
    if order.status != OrderStatus.paid:
        raise InvalidState(f"Order {order_id} is {order.status}; only a paid order can be refunded.")
    if not await repository.transition(session, [order_id], OrderStatus.paid, {"status": OrderStatus.refunded, "refunded_at": now}):
        raise InvalidState(f"Order {order_id} changed while it was being refunded.")
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
    levels = [await stock.restock(session, line.product_id, line.quantity, now=now) for line in lines]
    await reverse_sale(session, order_id, now=now)
    await audit.record(session, principal, "order.refunded", f"order:{order_id}", {"amount_fen": order.total_fen}, now=now)
    refunded = await repository.get_order(session, order_id)
    assert refunded is not None
    if refunded.stream_id is not None:
        await _append_order_events(session, refunded, EventType.order_refunded, {}, levels, now)
    return refunded


async def _refund_through_provider(providers: PaymentProviders | None, payment: Payment, order: Order) -> None:
    """Have the provider return the money; its refund number is the order's, so a retried refund is the same one."""
    provider = providers.find(payment.provider) if providers is not None else None
    if provider is None:
        raise InvalidState(f"Refunds through {payment.provider} are not enabled on this server; the money cannot be returned here.")
    assert order.id is not None
    refund = Refund(order_id=order.id, provider_txn_id=payment.provider_txn_id, amount_fen=payment.amount_fen, total_fen=payment.amount_fen)
    accepted = await provider.refund(refund)
    log.info("payment_refunded", provider=payment.provider, order_id=order.id, status=accepted.status)


# --- events ------------------------------------------------------------------------------------


async def _buyer_names(session: AsyncSession, buyer_ids: Sequence[int]) -> dict[int, str]:
    """Buyers as viewers may see them: masked display names, never usernames or ids."""
    ids = sorted(set(buyer_ids))
    rows = await session.execute(select(col(User.id), col(User.display_name)).where(col(User.id).in_(ids)))
    names = {uid: mask_display_name(name) for uid, name in rows.all() if uid is not None}
    return {uid: names.get(uid, "*") for uid in ids}


async def _append_order_events(
    session: AsyncSession, order: Order, type: EventType, extra: dict[str, Any], levels: Sequence[stock.StockLevel], now: datetime
) -> None:
    assert order.stream_id is not None and order.id is not None
    names = await _buyer_names(session, [order.buyer_id])
    data = {"order_id": order.id, "buyer": names[order.buyer_id], "total_fen": order.total_fen, **extra}
    await append_event(session, order.stream_id, type, data, ts=now)
    for level in sorted(levels, key=lambda lv: lv.product_id):
        await append_event(session, order.stream_id, EventType.stock_changed, level.event_data(), ts=now)
