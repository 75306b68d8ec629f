"""What the back office and the buyer's orders page read: orders with parcels, address and refund requests.

Visibility is the one rule of `service.get_order`: the buyer sees their own orders; admins all;
organizers the orders of their counties (`service.order_counties`). Lists are newest first,
by id, and scan in batches so an organizer's page fills even when other counties' orders
sit between theirs. Phone and detail line of an address follow `addresses.sees_in_full`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from livecommerce.accounts import service as accounts
from livecommerce.kit.errors import Forbidden
from livecommerce.kit.i18n import _l
from livecommerce.kit.principal import Principal
from livecommerce.orders import addresses, refund_requests, repository, service
from livecommerce.orders.models import Fulfillment as Fulfillment  # re-exported: pages name the states without the tables
from livecommerce.orders.models import Order, RefundRequest
from livecommerce.orders.models import RefundRequestStatus as RefundRequestStatus
from livecommerce.orders.schemas import AddressPublic, OrderPublic, RefundRequestPublic

MAX_SCAN_BATCHES = 50


@dataclass(frozen=True)
class OrderFilter:
    """Which orders a staff list shows (every field optional)."""

    county_id: int | None = None
    stream_id: int | None = None
    status: str | None = None
    fulfillment: str | None = None
    channel: str | None = None


@dataclass(frozen=True)
class OrderSheet:
    """One order as a page shows it: the order, who bought it, where it goes, its refund requests."""

    order: OrderPublic
    buyer_id: int
    buyer_name: str
    county_ids: list[int]
    address: AddressPublic | None
    refund_requests: list[RefundRequestPublic] = field(default_factory=list)
    unit_name: str | None = None
    station_id: int | None = None

    @property
    def open_request(self) -> RefundRequestPublic | None:
        """The refund request still waiting for a decision, if any."""
        return next((r for r in self.refund_requests if r.status == "requested"), None)


async def _sheets(session: AsyncSession, principal: Principal, orders: Sequence[Order], counties: dict[int, set[int]]) -> list[OrderSheet]:
    ids = [o.id for o in orders if o.id is not None]
    lines, parcels = await repository.lines_of(session, ids), await repository.shipments_of(session, ids)
    places = await addresses.addresses_by_id(session, [o.address_id for o in orders if o.address_id is not None])
    names = await accounts.display_names(session, [o.buyer_id for o in orders]) if orders else {}
    requests: dict[int, list[RefundRequestPublic]] = {i: [] for i in ids}
    if ids:
        stmt = select(RefundRequest).where(col(RefundRequest.order_id).in_(ids)).order_by(col(RefundRequest.id))
        for request in await session.scalars(stmt):
            requests[request.order_id].append(refund_requests.request_public(request))
    sheets = []
    for order in orders:
        assert order.id is not None
        place = places.get(order.address_id) if order.address_id is not None else None
        in_full = addresses.sees_in_full(principal, order.buyer_id, counties[order.id])
        sheets.append(
            OrderSheet(
                order=service.order_public(order, lines[order.id], parcels[order.id]),
                buyer_id=order.buyer_id,
                buyer_name=names.get(order.buyer_id, "*"),
                county_ids=sorted(counties[order.id]),
                address=addresses.address_public(place, in_full=in_full) if place is not None else None,
                refund_requests=requests[order.id],
                unit_name=order.unit_name,
                station_id=order.station_id,
            )
        )
    return sheets


def _matching(wanted: OrderFilter, before: int | None, limit: int, buyer_id: int | None = None) -> SelectOfScalar[Order]:
    stmt = select(Order)
    if buyer_id is not None:
        stmt = stmt.where(col(Order.buyer_id) == buyer_id)
    if wanted.stream_id is not None:
        stmt = stmt.where(col(Order.stream_id) == wanted.stream_id)
    if wanted.status is not None:
        stmt = stmt.where(col(Order.status) == wanted.status)
    if wanted.fulfillment is not None:
        stmt = stmt.where(col(Order.fulfillment) == wanted.fulfillment)
    if wanted.channel is not None:
        stmt = stmt.where(col(Order.channel) == wanted.channel)
    if before is not None:
        stmt = stmt.where(col(Order.id) < before)
    return stmt.order_by(col(Order.id).desc()).limit(limit)


async def staff_orders(
    session: AsyncSession, principal: Principal, wanted: OrderFilter, *, before: int | None, limit: int
) -> tuple[list[OrderSheet], int | None]:
    """One page of the orders staff may see, newest first, and the id to continue before (None at the end)."""
    if not principal.is_staff:
        raise Forbidden(_l("Only staff see the orders of a county."))
    if wanted.county_id is not None:
        principal.require_county(wanted.county_id)
    kept: list[Order] = []
    counties: dict[int, set[int]] = {}
    by_stream: dict[int, set[int]] = {}  # a stream's counties, read once per page however many of its orders it has
    cursor = before
    for _ in range(MAX_SCAN_BATCHES):
        batch = list((await session.scalars(_matching(wanted, cursor, limit + 1))).all())
        for order in batch:
            assert order.id is not None
            if order.stream_id is None:
                serves = await service.order_counties(session, order)
            else:
                if order.stream_id not in by_stream:
                    by_stream[order.stream_id] = await service.order_counties(session, order)
                serves = by_stream[order.stream_id]
            visible = principal.is_admin or bool(principal.county_ids & serves)
            if visible and (wanted.county_id is None or wanted.county_id in serves):
                if len(kept) == limit:
                    return await _sheets(session, principal, kept, counties), kept[-1].id
                kept.append(order)
                counties[order.id] = serves
        if len(batch) <= limit:
            return await _sheets(session, principal, kept, counties), None
        cursor = batch[-1].id
    # Scanned far without filling the page: let the reader continue from where the scan stopped.
    return await _sheets(session, principal, kept, counties), cursor


async def buyer_orders(
    session: AsyncSession, principal: Principal, *, before: int | None, limit: int
) -> tuple[list[OrderSheet], int | None]:
    """One page of the signed-in buyer's own orders, newest first."""
    orders = list((await session.scalars(_matching(OrderFilter(), before, limit + 1, buyer_id=principal.id))).all())
    more = len(orders) > limit
    orders = orders[:limit]
    counties = {o.id: set[int]() for o in orders if o.id is not None}  # the buyer sees their own in full anyway
    sheets = await _sheets(session, principal, orders, counties)
    return sheets, (orders[-1].id if more and orders else None)


async def order_sheet(session: AsyncSession, principal: Principal, order_id: int) -> OrderSheet:
    """One order for its buyer or staff of its counties (NotFound, Forbidden otherwise)."""
    order, _ = await service.get_order(session, principal, order_id)
    assert order.id is not None
    return (await _sheets(session, principal, [order], {order.id: await service.order_counties(session, order)}))[0]
