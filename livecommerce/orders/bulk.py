"""Unit subscriptions and physical-channel sales: orders that are paid the moment they are made.

A party, government or enterprise unit subscribing at a matchmaking conference, or a village
station selling over the counter, hands over the money on the spot. So the order is created
paid, its units go straight from free stock to sold (one conditional UPDATE per product:
`stock >= q`, never a check then a write), and the sale is credited to the ledger, all in
the caller's transaction. An `Idempotency-Key` makes a retried request return the first
order; lock order is as for stream orders: the key, products by ascending id, the ledger.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.catalog.models import Product, Station
from livecommerce.catalog.service import splits_of
from livecommerce.kit.errors import InvalidInput, InvalidState, NotFound, OutOfStock
from livecommerce.kit.principal import Principal
from livecommerce.ledger.service import Sale, SaleLine, credit_sale
from livecommerce.orders import repository
from livecommerce.orders.models import Channel, Order, OrderLine, OrderStatus
from livecommerce.orders.schemas import ItemList, OrderItemIn, OrderLinePublic

MAX_BULK_ITEMS = 100


class BulkItems(ItemList):
    """Products and quantities, one line per product."""

    items: list[OrderItemIn] = Field(min_length=1, max_length=MAX_BULK_ITEMS)


class SubscriptionCreate(BulkItems):
    """A bulk purchase by a participating unit at a matchmaking conference."""

    unit_name: str = Field(min_length=1, max_length=128)
    unit_type: Literal["party", "government", "enterprise"]


class StationSaleCreate(BulkItems):
    """A sale over the counter of a village station or signed store."""


class BulkOrderPublic(BaseModel):
    """A subscription or station sale: an order paid when made."""

    id: int
    status: str
    channel: str
    total_fen: int
    unit_name: str | None
    unit_type: str | None
    station_id: int | None
    items: list[OrderLinePublic]
    created_at: datetime
    paid_at: datetime | None
    refunded_at: datetime | None


@dataclass(frozen=True)
class BulkSale:
    """The order and its lines; `created` is False when an earlier request with the same key made it."""

    order: Order
    lines: list[OrderLine]
    created: bool


def bulk_public(sale: BulkSale) -> BulkOrderPublic:
    """The API view of a bulk sale."""
    order = sale.order
    assert order.id is not None
    return BulkOrderPublic(
        id=order.id,
        status=order.status,
        channel=order.channel,
        total_fen=order.total_fen,
        unit_name=order.unit_name,
        unit_type=order.unit_type,
        station_id=order.station_id,
        items=[
            OrderLinePublic(product_id=ln.product_id, quantity=ln.quantity, unit_price_fen=ln.unit_price_fen, amount_fen=ln.amount_fen)
            for ln in sale.lines
        ],
        created_at=order.created_at,
        paid_at=order.paid_at,
        refunded_at=order.refunded_at,
    )


def _fingerprint(channel: str, scope: dict[str, Any], items: Sequence[OrderItemIn]) -> str:
    canonical = json.dumps(
        {"channel": channel, **scope, "items": sorted((i.product_id, i.quantity) for i in items)}, separators=(",", ":"), sort_keys=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def create_subscription(
    session: AsyncSession, principal: Principal, data: SubscriptionCreate, *, idempotency_key: str | None, now: datetime
) -> BulkSale:
    """A unit's bulk purchase, paid and credited at once (staff of every product's county)."""
    return await _sell(
        session,
        principal,
        data.items,
        channel=Channel.unit_subscription,
        fields={"unit_name": data.unit_name, "unit_type": data.unit_type},
        idempotency_key=idempotency_key,
        now=now,
        station=None,
    )


async def create_station_sale(
    session: AsyncSession, principal: Principal, station_id: int, data: StationSaleCreate, *, idempotency_key: str | None, now: datetime
) -> BulkSale:
    """A station's over-the-counter sale, paid and credited at once (staff of the station's county)."""
    station = await session.get(Station, station_id)
    if station is None:
        raise NotFound(f"Station {station_id} does not exist.")
    principal.require_county(station.county_id)
    return await _sell(
        session,
        principal,
        data.items,
        channel=Channel.physical,
        fields={"station_id": station_id},
        idempotency_key=idempotency_key,
        now=now,
        station=station,
    )


async def _sell(
    session: AsyncSession,
    principal: Principal,
    items: Sequence[OrderItemIn],
    *,
    channel: Channel,
    fields: dict[str, Any],
    idempotency_key: str | None,
    now: datetime,
    station: Station | None,
) -> BulkSale:
    digest = _fingerprint(channel, fields, items)
    key = idempotency_key or f"auto-{uuid.uuid4().hex}"
    existing = await repository.order_by_key(session, principal.id, key)
    if existing is not None:
        return await _replay(session, existing, digest)
    products = await _products(session, [i.product_id for i in items])
    if station is None:
        for product in products.values():
            principal.require_county(product.county_id)
    total = sum(products[i.product_id].price_fen * i.quantity for i in items)
    order = Order(
        buyer_id=principal.id,
        channel=channel,
        status=OrderStatus.paid,
        idempotency_key=key,
        request_hash=digest,
        total_fen=total,
        created_at=now,
        paid_at=now,
        **fields,
    )
    order_id = await _insert_unless_key_taken(session, order)
    if order_id is None:
        winner = await repository.order_by_key(session, principal.id, key)
        assert winner is not None
        return await _replay(session, winner, digest)
    for item in sorted(items, key=lambda i: i.product_id):
        await _take_stock(session, item.product_id, item.quantity, now)
    lines = [
        OrderLine(
            order_id=order_id,
            product_id=i.product_id,
            quantity=i.quantity,
            unit_price_fen=products[i.product_id].price_fen,
            amount_fen=products[i.product_id].price_fen * i.quantity,
        )
        for i in sorted(items, key=lambda i: i.product_id)
    ]
    session.add_all(lines)
    await session.flush()
    await credit_sale(session, await _sale(session, order_id, channel, total, lines, products), now=now)
    created = await repository.get_order(session, order_id)
    assert created is not None
    return BulkSale(order=created, lines=lines, created=True)


async def _replay(session: AsyncSession, order: Order, digest: str) -> BulkSale:
    if order.request_hash != digest:
        raise InvalidInput(
            "This Idempotency-Key was used for a different request.",
            extra={"errors": [{"field": "Idempotency-Key", "message": "reused for a different request"}]},
        )
    assert order.id is not None
    lines = (await repository.lines_of(session, [order.id]))[order.id]
    return BulkSale(order=order, lines=lines, created=False)


async def _products(session: AsyncSession, product_ids: Sequence[int]) -> dict[int, Product]:
    rows = (await session.scalars(select(Product).where(col(Product.id).in_(product_ids)))).all()
    found: dict[int, Product] = {p.id: p for p in rows if p.id is not None}
    missing = sorted(set(product_ids) - set(found))
    if missing:
        raise InvalidInput(
            f"Unknown products: {', '.join(map(str, missing))}.",
            extra={"errors": [{"field": "items", "message": f"unknown product {pid}"} for pid in missing]},
        )
    inactive = sorted(pid for pid, p in found.items() if not p.is_active)
    if inactive:
        raise InvalidState(f"Products no longer on sale: {', '.join(map(str, inactive))}.")
    return found


async def _insert_unless_key_taken(session: AsyncSession, order: Order) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING on the buyer's idempotency key: the new id, or None if taken."""
    insert = pg_insert if repository.is_postgresql(session) else sqlite_insert
    stmt = (
        insert(Order)
        .values(**order.model_dump(exclude={"id"}))
        .on_conflict_do_nothing(index_elements=["buyer_id", "idempotency_key"])
        .returning(col(Order.id))
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def _take_stock(session: AsyncSession, product_id: int, quantity: int, now: datetime) -> None:
    """Move units straight from free stock to sold; OutOfStock when fewer are free."""
    left = await session.scalar(
        update(Product)
        .where(col(Product.id) == product_id, col(Product.stock) >= quantity)
        .values(stock=col(Product.stock) - quantity, sold=col(Product.sold) + quantity, updated_at=now)
        .returning(col(Product.stock))
        .execution_options(synchronize_session=False)
    )
    if left is None:
        available = await session.scalar(select(col(Product.stock)).where(col(Product.id) == product_id))
        raise OutOfStock(
            f"Product {product_id} has {available or 0} unit(s) left; {quantity} requested.",
            extra={"product_id": product_id, "available": available or 0},
        )


async def _sale(
    session: AsyncSession, order_id: int, channel: str, total: int, lines: Sequence[OrderLine], products: dict[int, Product]
) -> Sale:
    splits = await splits_of(session, [line.product_id for line in lines])
    return Sale(
        order_id=order_id,
        channel=channel,
        stream_id=None,
        total_fen=total,
        lines=tuple(
            SaleLine(
                order_line_id=line.id,  # type: ignore[arg-type]
                product_id=line.product_id,
                county_id=products[line.product_id].county_id,
                quantity=line.quantity,
                amount_fen=line.amount_fen,
                splits=tuple((s.party, s.bp) for s in splits[line.product_id]),
            )
            for line in lines
        ),
    )
