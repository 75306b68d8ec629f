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

from sqlalchemy import ColumnElement, Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.catalog.models import Product
from livecommerce.kit.errors import Conflict, InvalidState, OutOfStock


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
    params = {"product_id": product_id, "quantity": quantity, "now": now}
    if price_fen is None:
        row = (await session.execute(_RESERVE, params)).first()
    else:
        row = (await session.execute(_RESERVE_AT_PRICE, {**params, "expected_price": price_fen})).first()
    if row is not None:
        pid, county_id, price, stock, reserved, sold = row
        return StockLevel(pid, county_id, price, stock, reserved, sold)
    found = (
        await session.execute(
            select(col(Product.stock), col(Product.is_active), col(Product.price_fen)).where(col(Product.id) == product_id)
        )
    ).first()
    raise reservation_refusal(product_id, quantity, None if found is None else (found[0], found[1], found[2]), price_fen)


def reservation_refusal(
    product_id: int, quantity: int, found: tuple[int, bool, int] | None, price_fen: int | None
) -> InvalidState | Conflict | OutOfStock:
    """Why `quantity` units of a product (`found` as (stock, is_active, price_fen), None if missing) cannot be reserved."""
    if found is not None and not found[1]:
        return InvalidState(f"Product {product_id} is no longer on sale.")
    left = 0 if found is None else found[0]
    if found is not None and left >= quantity and price_fen is not None and found[2] != price_fen:
        return Conflict(f"The price of product {product_id} changed while ordering; please order again.")
    return OutOfStock(
        f"Product {product_id} has {left} unit(s) left; {quantity} requested.",
        extra={"product_id": product_id, "available": left},
    )


# The reservation is the one statement every order runs on the hot row: built once, so a
# request only binds its values (see `_move` for the other, rarer moves).
_PRODUCTS: Table = Product.__table__  # type: ignore[attr-defined]
_RESERVE = (
    update(_PRODUCTS)
    .where(_PRODUCTS.c.id == bindparam("product_id"), _PRODUCTS.c.stock >= bindparam("quantity"), _PRODUCTS.c.is_active)
    .values(
        stock=_PRODUCTS.c.stock - bindparam("quantity"),
        reserved=_PRODUCTS.c.reserved + bindparam("quantity"),
        updated_at=bindparam("now", type_=_PRODUCTS.c.updated_at.type),
    )
    .returning(_PRODUCTS.c.id, _PRODUCTS.c.county_id, _PRODUCTS.c.price_fen, _PRODUCTS.c.stock, _PRODUCTS.c.reserved, _PRODUCTS.c.sold)
)
_RESERVE_AT_PRICE = _RESERVE.where(_PRODUCTS.c.price_fen == bindparam("expected_price"))


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
