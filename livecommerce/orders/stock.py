"""Moving units between a product's three buckets (free stock, reserved, sold).

Every move is one conditional UPDATE whose WHERE clause states what must be true for it
(`stock >= q` to reserve, `reserved >= q` to release or settle, `sold >= q` to restock).
Checking and writing in one statement is what makes overselling impossible whatever the
concurrency: a reservation that would take stock below zero matches no row. Callers pass
products in ascending id order so that transactions touching several products always take
their row locks in the same order and cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.catalog.models import Product
from livecommerce.errors import Conflict, InvalidState, OutOfStock


@dataclass(frozen=True)
class StockLevel:
    """A product's buckets right after a move (what `stock.changed` announces)."""

    product_id: int
    county_id: int
    price_fen: int
    stock: int
    reserved: int
    sold: int

    def event_data(self) -> dict[str, int]:
        """The `stock.changed` payload."""
        return {"product_id": self.product_id, "stock": self.stock, "reserved": self.reserved, "sold": self.sold}


_RETURNING = (col(Product.id), col(Product.county_id), col(Product.price_fen), col(Product.stock), col(Product.reserved), col(Product.sold))


async def _move(
    session: AsyncSession, product_id: int, condition: ColumnElement[bool], values: dict[str, Any], now: datetime
) -> StockLevel | None:
    row = (
        await session.execute(
            update(Product)
            .where(col(Product.id) == product_id, condition)
            .values(**values, updated_at=now)
            .returning(*_RETURNING)
            .execution_options(synchronize_session=False)
        )
    ).first()
    if row is None:
        return None
    pid, county_id, price_fen, stock, reserved, sold = row
    assert pid is not None
    return StockLevel(pid, county_id, price_fen, stock, reserved, sold)


async def reserve(session: AsyncSession, product_id: int, quantity: int, *, now: datetime, price_fen: int | None = None) -> StockLevel:
    """Take `quantity` free units into reservation; OutOfStock when fewer are free.

    With `price_fen`, the reservation also requires the product to still cost that (the
    caller priced the order from an earlier read); a changed price is a Conflict.
    """
    condition = (col(Product.stock) >= quantity) & col(Product.is_active)
    if price_fen is not None:
        condition = condition & (col(Product.price_fen) == price_fen)
    level = await _move(
        session,
        product_id,
        condition,
        {"stock": col(Product.stock) - quantity, "reserved": col(Product.reserved) + quantity},
        now,
    )
    if level is not None:
        return level
    row = (
        await session.execute(
            select(col(Product.stock), col(Product.is_active), col(Product.price_fen)).where(col(Product.id) == product_id)
        )
    ).first()
    if row is not None and not row[1]:
        raise InvalidState(f"Product {product_id} is no longer on sale.")
    left = 0 if row is None else row[0]
    if row is not None and left >= quantity and price_fen is not None and row[2] != price_fen:
        raise Conflict(f"The price of product {product_id} changed while ordering; please order again.")
    raise OutOfStock(
        f"Product {product_id} has {left} unit(s) left; {quantity} requested.",
        extra={"product_id": product_id, "available": left},
    )


async def release(session: AsyncSession, product_id: int, quantity: int, *, now: datetime) -> StockLevel:
    """Return reserved units to free stock (cancel, expiry)."""
    return _required(
        await _move(
            session,
            product_id,
            col(Product.reserved) >= quantity,
            {"stock": col(Product.stock) + quantity, "reserved": col(Product.reserved) - quantity},
            now,
        ),
        product_id,
        "reserved",
    )


async def settle(session: AsyncSession, product_id: int, quantity: int, *, now: datetime) -> StockLevel:
    """Turn reserved units into sold ones (payment)."""
    return _required(
        await _move(
            session,
            product_id,
            col(Product.reserved) >= quantity,
            {"reserved": col(Product.reserved) - quantity, "sold": col(Product.sold) + quantity},
            now,
        ),
        product_id,
        "reserved",
    )


async def restock(session: AsyncSession, product_id: int, quantity: int, *, now: datetime) -> StockLevel:
    """Put sold units back on sale (refund)."""
    return _required(
        await _move(
            session,
            product_id,
            col(Product.sold) >= quantity,
            {"stock": col(Product.stock) + quantity, "sold": col(Product.sold) - quantity},
            now,
        ),
        product_id,
        "sold",
    )


def _required(level: StockLevel | None, product_id: int, bucket: str) -> StockLevel:
    # Only reachable if the buckets disagree with the orders (a bug or a manual edit):
    # refuse the transition rather than let a bucket go negative.
    if level is None:
        raise InvalidState(f"Product {product_id} has fewer {bucket} units than this order holds; the change was refused.")
    return level


async def county_ids_of(session: AsyncSession, product_ids: Iterable[int]) -> dict[int, int]:
    """The county of each product."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    rows = await session.execute(select(col(Product.id), col(Product.county_id)).where(col(Product.id).in_(ids)))
    return {pid: cid for pid, cid in rows.all() if pid is not None}
