"""Getting a paid order to its buyer: parcels with tracking numbers, receipt, and the pick list staff pack from.

Fulfillment moves one way, unshipped → shipped → delivered, each step a compare-and-set on
the order row, so the buyer's confirmation and the auto-receive job can race and only one wins.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.audit import service as audit
from livecommerce.catalog import stock
from livecommerce.kit.errors import Conflict, Forbidden, InvalidInput, InvalidState, NotFound
from livecommerce.kit.i18n import _l, status_word
from livecommerce.kit.pagination import PageParams
from livecommerce.kit.principal import Principal
from livecommerce.ledger import settlement
from livecommerce.orders import addresses, repository, service
from livecommerce.orders.models import Fulfillment, Order, OrderStatus, Shipment
from livecommerce.orders.schemas import OrderLinePublic, PickListItem, ShipmentCreate

# The shape of each carrier's tracking numbers; a carrier configured without one here takes the generic shape.
_UPU = r"[A-Z]{2}\d{9}[A-Z]{2}"  # the UPU S10 form used by EMS and China Post
TRACKING_SHAPES: dict[str, re.Pattern[str]] = {
    "SF": re.compile(r"SF\d{12,13}"),
    "JD": re.compile(r"JD[A-Z0-9]{10,16}"),
    "EMS": re.compile(rf"{_UPU}|\d{{13}}"),
    "China Post": re.compile(rf"{_UPU}|\d{{13}}"),
    "YTO": re.compile(r"YT\d{13,16}"),
    "ZTO": re.compile(r"\d{12,15}"),
    "STO": re.compile(r"\d{12,15}"),
    "Yunda": re.compile(r"\d{13,15}"),
}
GENERIC_SHAPE = re.compile(r"[A-Z0-9]{8,30}")


def check_tracking(carriers: Sequence[str], carrier: str, tracking_no: str) -> str:
    """The tracking number, upper-cased, if it has the carrier's shape; 422 otherwise."""
    if carrier not in carriers:
        raise InvalidInput(
            _l("Unknown carrier “{carrier}”.", carrier=carrier),
            extra={"errors": [{"field": "carrier", "message": f"one of {', '.join(carriers)}"}]},
        )
    number = tracking_no.strip().upper()
    if not TRACKING_SHAPES.get(carrier, GENERIC_SHAPE).fullmatch(number):
        raise InvalidInput(
            _l("“{tracking_no}” is not a {carrier} tracking number.", tracking_no=tracking_no, carrier=carrier),
            extra={"errors": [{"field": "tracking_no", "message": f"not the shape of a {carrier} tracking number"}]},
        )
    return number


async def record_shipment(
    session: AsyncSession, principal: Principal, order_id: int, body: ShipmentCreate, *, carriers: Sequence[str], now: datetime
) -> Shipment:
    """Staff of the order's counties record a parcel of a paid order; the first one marks the order shipped."""
    number = check_tracking(carriers, body.carrier, body.tracking_no)
    order = await repository.get_order(session, order_id, for_update=True)
    if order is None:
        raise NotFound(_l("Order {order_id} does not exist.", order_id=order_id))
    await service.require_staff_of(session, principal, order)
    if order.status != OrderStatus.paid:
        raise InvalidState(
            _l("Order {order_id} is {status}; only a paid order is shipped.", order_id=order_id, status=status_word(order.status))
        )
    if order.fulfillment == Fulfillment.delivered:
        raise InvalidState(_l("Order {order_id} was delivered already.", order_id=order_id))
    if await session.scalar(select(Shipment.id).where(col(Shipment.carrier) == body.carrier, col(Shipment.tracking_no) == number)):
        raise Conflict(_l("{carrier} {number} is recorded already.", carrier=body.carrier, number=number))
    shipment = Shipment(order_id=order_id, carrier=body.carrier, tracking_no=number, created_by=principal.id, created_at=now)
    session.add(shipment)
    await session.flush()
    await repository.transition_fulfillment(
        session, order_id, Fulfillment.unshipped, {"fulfillment": Fulfillment.shipped, "shipped_at": now}
    )
    await audit.record(session, principal, "order.shipped", f"order:{order_id}", {"carrier": body.carrier, "tracking_no": number}, now=now)
    return shipment


async def confirm_receipt(session: AsyncSession, principal: Principal, order_id: int, *, now: datetime) -> Order:
    """The buyer confirms a shipped order arrived; confirming a delivered order changes nothing."""
    order = await repository.get_order(session, order_id, for_update=True)
    if order is None:
        raise NotFound(_l("Order {order_id} does not exist.", order_id=order_id))
    if order.buyer_id != principal.id:
        raise Forbidden(_l("Only the buyer can confirm receipt."))
    if order.fulfillment == Fulfillment.delivered:
        return order
    if order.status != OrderStatus.paid or order.fulfillment != Fulfillment.shipped:
        raise InvalidState(_l("Order {order_id} has not been shipped.", order_id=order_id))
    if await repository.transition_fulfillment(
        session, order_id, Fulfillment.shipped, {"fulfillment": Fulfillment.delivered, "delivered_at": now}
    ):
        # The ledger's settlement days count from delivery.
        await settlement.mark_delivered(session, [order_id], at=now)
    received = await repository.get_order(session, order_id)
    assert received is not None
    return received


async def auto_receive_due(session: AsyncSession, *, now: datetime, days: int, limit: int = 500) -> int:
    """Mark delivered the paid orders shipped more than `days` ago and not confirmed; how many it marked.

    A compare-and-set on the fulfillment state: running it twice, or beside the buyer's own
    confirmation, delivers each order once.
    """
    cutoff = now - timedelta(days=days)
    due = (
        select(col(Order.id))
        .where(col(Order.status) == OrderStatus.paid, col(Order.fulfillment) == Fulfillment.shipped, col(Order.shipped_at) <= cutoff)
        .order_by(col(Order.shipped_at), col(Order.id))
        .limit(limit)
    )
    ids = [int(i) for i in (await session.scalars(due)).all() if i is not None]
    if not ids:
        return 0
    result = await session.execute(
        update(Order)
        .where(col(Order.id).in_(ids), col(Order.status) == OrderStatus.paid, col(Order.fulfillment) == Fulfillment.shipped)
        .values(fulfillment=Fulfillment.delivered, delivered_at=now)
        .returning(col(Order.id))
        .execution_options(synchronize_session=False)
    )
    delivered = [int(i) for i in result.scalars().all() if i is not None]
    await settlement.mark_delivered(session, delivered, at=now)
    return len(delivered)


@dataclass(frozen=True)
class PickFilter:
    """Which paid orders a pick list shows."""

    county_id: int | None = None
    station_id: int | None = None
    fulfillment: Fulfillment = Fulfillment.unshipped


async def pick_list(
    session: AsyncSession, principal: Principal, wanted: PickFilter, page: PageParams
) -> tuple[list[PickListItem], str | None]:
    """Paid orders to pack (or shipped, or delivered) in the caller's counties, oldest first, with where they go."""
    if not principal.is_staff:
        raise Forbidden(_l("Only staff see the pick list."))
    if wanted.county_id is not None:
        principal.require_county(wanted.county_id)
    items: list[PickListItem] = []
    after = page.after_id
    while len(items) < page.limit:
        orders = await _paid_orders(session, wanted, after, page.limit)
        if not orders:
            return items, None
        after = orders[-1].id
        for order, counties in await _with_counties(session, orders):
            if _shows(principal, wanted, counties):
                items.append(await _pick_item(session, principal, order, counties))
                if len(items) == page.limit:
                    return items, str(order.id)
    return items, None


async def _paid_orders(session: AsyncSession, wanted: PickFilter, after: int | None, limit: int) -> list[Order]:
    stmt = select(Order).where(col(Order.status) == OrderStatus.paid, col(Order.fulfillment) == wanted.fulfillment)
    if wanted.station_id is not None:
        stmt = stmt.where(col(Order.station_id) == wanted.station_id)
    if after is not None:
        stmt = stmt.where(col(Order.id) > after)
    return list((await session.scalars(stmt.order_by(col(Order.id)).limit(limit))).all())


async def _with_counties(session: AsyncSession, orders: list[Order]) -> list[tuple[Order, set[int]]]:
    lines = await repository.lines_of(session, [o.id for o in orders if o.id is not None])
    county_of = await stock.county_ids_of(session, {ln.product_id for order_lines in lines.values() for ln in order_lines})
    return [(o, {county_of[ln.product_id] for ln in lines[o.id or 0] if ln.product_id in county_of}) for o in orders]


def _shows(principal: Principal, wanted: PickFilter, counties: set[int]) -> bool:
    if wanted.county_id is not None:
        return wanted.county_id in counties
    return principal.is_admin or bool(principal.county_ids & counties)


async def _pick_item(session: AsyncSession, principal: Principal, order: Order, counties: set[int]) -> PickListItem:
    assert order.id is not None
    lines = (await repository.lines_of(session, [order.id]))[order.id]
    shipments = (await repository.shipments_of(session, [order.id]))[order.id]
    address = (await addresses.addresses_by_id(session, [order.address_id])).get(order.address_id) if order.address_id else None
    in_full = addresses.sees_in_full(principal, order.buyer_id, counties)
    return PickListItem(
        order_id=order.id,
        fulfillment=order.fulfillment,
        paid_at=order.paid_at,
        county_ids=sorted(counties),
        station_id=order.station_id,
        items=[
            OrderLinePublic(product_id=ln.product_id, quantity=ln.quantity, unit_price_fen=ln.unit_price_fen, amount_fen=ln.amount_fen)
            for ln in lines
        ],
        address=addresses.address_public(address, in_full=in_full) if address else None,
        shipments=[service.shipment_public(s) for s in shipments],
    )
