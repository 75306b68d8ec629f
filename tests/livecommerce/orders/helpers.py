"""Helpers to set up a live stream and order in it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func
from sqlmodel import col, select

from livecommerce.accounts.models import User
from livecommerce.broadcasts import service as streams_service
from livecommerce.broadcasts.events import OutboxEvent
from livecommerce.catalog.models import Product
from livecommerce.kit.clock import utcnow
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from livecommerce.orders.models import Order
from tests.factories import Factory, TestUser


@dataclass
class Shop:
    """One county, its organizer and host cadre, and a live stream featuring `product`."""

    county_id: int
    product_id: int
    other_product_id: int
    stream_id: int
    organizer: TestUser
    cadre: TestUser
    household_id: int


async def open_stream(db: Database, anchor_id: int, product_ids: list[int], *, live: bool = True) -> int:
    """Create a stream featuring the products; started unless `live` is False."""
    now = utcnow()
    async with db.transaction() as session:
        stream = await streams_service.create_stream(
            session,
            title="Qingyuan chicken live",
            scheduled_start=now - timedelta(minutes=5),
            scheduled_end=now + timedelta(hours=2),
            anchor_ids=[anchor_id],
            product_ids=product_ids,
        )
        assert stream.id is not None
        if live:
            await streams_service.start_stream(session, stream.id, now=now)
        return stream.id


async def make_buyers(db: Database, make: Factory, n: int, *, display_name: str = "李小龙") -> list[TestUser]:
    """`n` viewers inserted in one go (password hashing for hundreds of users would dominate the test)."""
    tag = uuid.uuid4().hex[:8]
    users = [User(username=f"b{tag}{i}", password_hash="!", role=Role.viewer, display_name=display_name) for i in range(n)]
    async with db.transaction() as session:
        session.add_all(users)
        await session.flush()
    out = []
    for u in users:
        assert u.id is not None
        out.append(TestUser(id=u.id, username=u.username, role=Role.viewer, token=make.token_for(u.id)))
    return out


async def order(
    client: httpx.AsyncClient,
    buyer: TestUser,
    stream_id: int,
    items: list[tuple[int, int]],
    *,
    key: str | None = None,
) -> httpx.Response:
    """POST an order; a fresh idempotency key unless one is given."""
    body = {"items": [{"product_id": p, "quantity": q} for p, q in items]}
    headers = {**buyer.headers, "Idempotency-Key": key or uuid.uuid4().hex}
    return await client.post(f"/api/streams/{stream_id}/orders", json=body, headers=headers)


async def buckets(db: Database, product_id: int) -> tuple[int, int, int]:
    """(stock, reserved, sold) of a product, read fresh."""
    async with db.sessionmaker() as session:
        product = await session.get(Product, product_id)
        assert product is not None
        return product.stock, product.reserved, product.sold


async def count_orders(db: Database, **where: Any) -> int:
    async with db.sessionmaker() as session:
        stmt = select(func.count()).select_from(Order)
        for key, value in where.items():
            stmt = stmt.where(getattr(Order, key) == value)
        return int(await session.scalar(stmt) or 0)


async def events(db: Database, stream_id: int, type: str | None = None) -> list[OutboxEvent]:
    """The stream's outbox events in seq order."""
    async with db.sessionmaker() as session:
        stmt = select(OutboxEvent).where(col(OutboxEvent.stream_id) == stream_id).order_by(col(OutboxEvent.seq))
        if type is not None:
            stmt = stmt.where(col(OutboxEvent.type) == type)
        return list((await session.scalars(stmt)).all())
