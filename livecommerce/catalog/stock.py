"""Every conditional change of a product's stock buckets and of a flash deal's units.

A product's units are in one of three buckets: `stock` (free to order), `reserved` (held by
unpaid orders) and `sold` (paid). A flash deal holds some units apart in its `remaining`
while it runs. Every move is one conditional UPDATE whose WHERE clause states what must be
true for it (`stock >= q` to reserve, `reserved >= q` to release or settle, `sold >= q` to
restock, `remaining >= q` to take from a deal): checking and writing in one statement is
what makes overselling impossible whatever the concurrency.

Lock order, for every caller: products by ascending id, then deals by ascending id. The
moves record the buckets they leave behind in the session; `announce` (run by the
transaction boundary before commit, or by a caller that wants its events in a given place)
hands them to the `stock_changed` signal, once per product with its latest level.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.catalog.models import FlashDeal, Product
from livecommerce.kit.errors import Conflict, InvalidState, OutOfStock
from livecommerce.kit.i18n import _l
from livecommerce.kit.signals import StockChange, stock_changed

PENDING_KEY = "livecommerce.pending_stock_changes"
_PRODUCTS: Table = Product.__table__  # type: ignore[attr-defined]  # SQLModel declares __table__ only at runtime
_DEALS: Table = FlashDeal.__table__  # type: ignore[attr-defined]  # likewise


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


@dataclass(frozen=True)
class ProductState:
    """A locked product: its buckets, name and whether it is on sale."""

    level: StockLevel
    name: str
    active: bool


@dataclass(frozen=True)
class DealState:
    """A flash deal as stored."""

    id: int
    stream_id: int
    product_id: int
    price_fen: int
    quantity: int
    remaining: int
    per_buyer_limit: int
    starts_at: datetime
    ends_at: datetime
    started_announced: bool
    ended_at: datetime | None

    def status(self, now: datetime) -> str:
        """`countdown` before its window, `open` inside it, `ended` after it or once ended by hand."""
        if self.ended_at is not None or now >= self.ends_at:
            return "ended"
        return "countdown" if now < self.starts_at else "open"


# --- what changed, and telling the layers above -------------------------------------------------


@dataclass
class _Pending:
    """Unannounced changes of one transaction: each product's latest level, each deal's remaining units."""

    levels: dict[int, StockLevel]
    deals: dict[int, tuple[int, int]]  # deal id -> (product id, remaining)


def _pending(session: AsyncSession) -> _Pending:
    pending: _Pending | None = session.info.get(PENDING_KEY)
    if pending is None:
        pending = session.info[PENDING_KEY] = _Pending({}, {})
    return pending


def _record(session: AsyncSession, level: StockLevel, deal: tuple[int, int] | None = None) -> None:
    pending = _pending(session)
    pending.levels[level.product_id] = level
    if deal is not None:
        pending.deals[deal[0]] = (level.product_id, deal[1])


def take_pending(session: AsyncSession) -> list[StockChange]:
    """The changes recorded in this transaction and not yet announced, by product then deal; clears them.

    A product whose deal moved is announced once per such deal (with the deal's remaining
    units beside the product's buckets); otherwise once, with its latest buckets.
    """
    pending: _Pending | None = session.info.pop(PENDING_KEY, None)
    if pending is None:
        return []
    deals_of: dict[int, list[tuple[int, int]]] = {}
    for deal_id, (product_id, remaining) in sorted(pending.deals.items()):
        deals_of.setdefault(product_id, []).append((deal_id, remaining))
    changes: list[StockChange] = []
    for product_id in sorted(pending.levels):
        lv = pending.levels[product_id]
        for deal_id, remaining in deals_of.get(product_id, [(0, -1)]):
            deal = (deal_id, remaining) if deal_id else (None, None)
            changes.append(StockChange(product_id, lv.stock, lv.reserved, lv.sold, *deal))
    return changes


def snapshot_pending(session: AsyncSession) -> _Pending:
    """A copy of the unannounced changes (to restore when a savepoint rolls back)."""
    pending = _pending(session)
    return _Pending(dict(pending.levels), dict(pending.deals))


def restore_pending(session: AsyncSession, snapshot: _Pending) -> None:
    """Put back the unannounced changes of `snapshot_pending` (the savepoint's moves were rolled back)."""
    session.info[PENDING_KEY] = snapshot


async def announce(session: AsyncSession) -> None:
    """Hand the recorded changes to `stock_changed` (the boundary calls this before every commit)."""
    changes = take_pending(session)
    if changes:
        await stock_changed.send(session, tuple(changes))


# --- reading and locking ------------------------------------------------------------------------


async def lock_products(session: AsyncSession, product_ids: Iterable[int]) -> dict[int, ProductState]:
    """The products' buckets, their rows locked until commit in ascending id order (missing ids are absent)."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    rows = (await session.execute(_LOCK_PRODUCTS, {"product_ids": ids})).all()
    return {
        pid: ProductState(StockLevel(pid, county_id, price, stock, reserved, sold), name, bool(active))
        for pid, county_id, price, stock, reserved, sold, name, active in rows
    }


async def read_products(session: AsyncSession, product_ids: Iterable[int]) -> dict[int, ProductState]:
    """The products' buckets without locking (for checks that a later locked read confirms)."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    rows = (await session.execute(_READ_PRODUCTS, {"product_ids": ids})).all()
    return {
        pid: ProductState(StockLevel(pid, county_id, price, stock, reserved, sold), name, bool(active))
        for pid, county_id, price, stock, reserved, sold, name, active in rows
    }


async def lock_deals(session: AsyncSession, deal_ids: Iterable[int]) -> dict[int, DealState]:
    """The deals, their rows locked until commit in ascending id order (lock their products first)."""
    ids = sorted(set(deal_ids))
    if not ids:
        return {}
    rows = (await session.execute(_LOCK_DEALS, {"deal_ids": ids})).all()
    return {row[0]: DealState(*row) for row in rows}


async def read_deals(session: AsyncSession, deal_ids: Iterable[int]) -> dict[int, DealState]:
    """The deals without locking."""
    ids = sorted(set(deal_ids))
    if not ids:
        return {}
    rows = (await session.execute(_READ_DEALS, {"deal_ids": ids})).all()
    return {row[0]: DealState(*row) for row in rows}


async def deals_of_stream(session: AsyncSession, stream_id: int) -> list[DealState]:
    """A stream's deals, newest first."""
    rows = (await session.execute(_DEAL_COLUMNS.where(_DEALS.c.stream_id == stream_id).order_by(_DEALS.c.id.desc()))).all()
    return [DealState(*row) for row in rows]


async def deals_due(session: AsyncSession, now: datetime, limit: int = 200) -> tuple[list[DealState], list[DealState]]:
    """Deals whose window opened without `flash.started` yet, and deals past their end not yet closed."""
    starting = (
        await session.execute(
            _DEAL_COLUMNS.where(_DEALS.c.ended_at.is_(None), ~_DEALS.c.started_announced, _DEALS.c.starts_at <= now)
            .order_by(_DEALS.c.id)
            .limit(limit)
        )
    ).all()
    ending = (
        await session.execute(_DEAL_COLUMNS.where(_DEALS.c.ended_at.is_(None), _DEALS.c.ends_at <= now).order_by(_DEALS.c.id).limit(limit))
    ).all()
    return [DealState(*row) for row in starting], [DealState(*row) for row in ending]


async def county_ids_of(session: AsyncSession, product_ids: Iterable[int]) -> dict[int, int]:
    """The county of each product."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    rows = await session.execute(select(_PRODUCTS.c.id, _PRODUCTS.c.county_id).where(_PRODUCTS.c.id.in_(ids)))
    return {pid: cid for pid, cid in rows.all()}


# --- moves of a batch of orders (rows already locked and the allocation decided) ---------------


async def reserve(
    session: AsyncSession, product_id: int, from_stock: int, from_deals: Mapping[int, int], *, now: datetime
) -> tuple[StockLevel, dict[int, int]]:
    """Hold units for unpaid orders: `from_stock` free units and, per deal, units from its `remaining`.

    Returns the product's level and each deal's remaining units. The conditions cannot fail
    under the caller's locks; if they do, the transaction is refused rather than oversold.
    """
    taken = from_stock + sum(from_deals.values())
    row = (await session.execute(_RESERVE, {"product_id": product_id, "from_stock": from_stock, "taken": taken, "now": now})).first()
    if row is None:
        raise RuntimeError(f"stock of product {product_id} changed under its row lock")
    level = StockLevel(*row)
    remaining: dict[int, int] = {}
    for deal_id in sorted(from_deals):
        left = (await session.execute(_TAKE_FROM_DEAL, {"deal_id": deal_id, "units": from_deals[deal_id]})).scalar_one_or_none()
        if left is None:
            raise RuntimeError(f"units of flash deal {deal_id} changed under its row lock")
        remaining[deal_id] = left
        _record(session, level, (deal_id, left))
    if not from_deals:
        _record(session, level)
    return level, remaining


async def sell(session: AsyncSession, product_id: int, quantity: int, *, now: datetime) -> StockLevel:
    """Move free units straight to sold (orders paid when made: subscriptions and station sales)."""
    row = (await session.execute(_SELL, {"product_id": product_id, "quantity": quantity, "now": now})).first()
    if row is None:
        raise RuntimeError(f"stock of product {product_id} changed under its row lock")
    level = StockLevel(*row)
    _record(session, level)
    return level


# --- moves of one order -------------------------------------------------------------------------


async def release(session: AsyncSession, product_id: int, quantity: int, *, now: datetime, deal_id: int | None = None) -> StockLevel:
    """Return reserved units (cancel, expiry): to their deal while it runs, else to free stock."""
    level = _required(
        await _move(
            session,
            product_id,
            _PRODUCTS.c.reserved >= quantity,
            {"reserved": _PRODUCTS.c.reserved - quantity, "stock": _PRODUCTS.c.stock + quantity},
            now,
        ),
        product_id,
        "reserved",
    )
    if deal_id is None:
        _record(session, level)
        return level
    left = (await session.execute(_RETURN_TO_DEAL, {"deal_id": deal_id, "units": quantity})).scalar_one_or_none()
    if left is None:
        _record(session, level)  # the deal has ended: the units stay in free stock
        return level
    # The deal still runs: the units go back to it, not to free stock.
    level = _required(
        await _move(session, product_id, _PRODUCTS.c.stock >= quantity, {"stock": _PRODUCTS.c.stock - quantity}, now), product_id, "free"
    )
    _record(session, level, (deal_id, left))
    return level


async def settle(session: AsyncSession, product_id: int, quantity: int, *, now: datetime) -> StockLevel:
    """Turn reserved units into sold ones (payment)."""
    level = _required(
        await _move(
            session,
            product_id,
            _PRODUCTS.c.reserved >= quantity,
            {"reserved": _PRODUCTS.c.reserved - quantity, "sold": _PRODUCTS.c.sold + quantity},
            now,
        ),
        product_id,
        "reserved",
    )
    _record(session, level)
    return level


async def restock(session: AsyncSession, product_id: int, quantity: int, *, now: datetime) -> StockLevel:
    """Put sold units back on sale (refund)."""
    level = _required(
        await _move(
            session,
            product_id,
            _PRODUCTS.c.sold >= quantity,
            {"stock": _PRODUCTS.c.stock + quantity, "sold": _PRODUCTS.c.sold - quantity},
            now,
        ),
        product_id,
        "sold",
    )
    _record(session, level)
    return level


async def note_level(session: AsyncSession, product_id: int) -> None:
    """Record a product's current buckets as changed (a change made outside the moves, such as a price)."""
    found = await read_products(session, [product_id])
    if product_id in found:
        _record(session, found[product_id].level)


# --- flash deals --------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewDeal:
    """What an announced deal is made of."""

    stream_id: int
    product_id: int
    price_fen: int
    quantity: int
    per_buyer_limit: int
    starts_at: datetime
    ends_at: datetime
    created_by: int | None


async def open_deal(session: AsyncSession, deal: NewDeal, *, now: datetime) -> DealState:
    """Move the deal's units out of the product's free stock into a new deal; OutOfStock when fewer are free."""
    found = await lock_products(session, [deal.product_id])
    state = found.get(deal.product_id)
    if state is None or not state.active:
        raise InvalidState(_l("This product is no longer on sale."))
    if state.level.stock < deal.quantity:
        raise OutOfStock(
            _l(
                "Only {stock} unit(s) of {name} are free; the deal asks for {quantity}.",
                stock=state.level.stock,
                name=state.name,
                quantity=deal.quantity,
            ),
            extra={"product_id": deal.product_id, "available": state.level.stock},
        )
    if deal.price_fen >= state.level.price_fen:
        raise Conflict(
            _l("A flash deal must cost less than {name}'s price of {price_fen} fen.", name=state.name, price_fen=state.level.price_fen),
            extra={"errors": [{"field": "price_fen", "message": f"must be below {state.level.price_fen}"}]},
        )
    level = _required(
        await _move(session, deal.product_id, _PRODUCTS.c.stock >= deal.quantity, {"stock": _PRODUCTS.c.stock - deal.quantity}, now),
        deal.product_id,
        "free",
    )
    values: dict[str, Any] = {
        "stream_id": deal.stream_id,
        "product_id": deal.product_id,
        "price_fen": deal.price_fen,
        "quantity": deal.quantity,
        "remaining": deal.quantity,
        "per_buyer_limit": deal.per_buyer_limit,
        "starts_at": deal.starts_at,
        "ends_at": deal.ends_at,
        "started_announced": False,
        "returned": 0,
        "created_by": deal.created_by,
        "created_at": now,
    }
    deal_id = (await session.execute(insert(_DEALS).values(**values).returning(_DEALS.c.id))).scalar_one()
    _record(session, level, (deal_id, deal.quantity))
    return (await read_deals(session, [deal_id]))[deal_id]


async def mark_started(session: AsyncSession, deal_id: int) -> bool:
    """Note that `flash.started` was announced (compare-and-set: True for the one caller that did it)."""
    result = await session.execute(
        update(_DEALS)
        .where(_DEALS.c.id == deal_id, ~_DEALS.c.started_announced, _DEALS.c.ended_at.is_(None))
        .values(started_announced=True)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]  # CursorResult of an UPDATE has rowcount


async def close_deal(session: AsyncSession, deal_id: int, *, now: datetime) -> tuple[DealState, int] | None:
    """End a deal once: its remaining units go back to free stock. None when it had ended already.

    The product row is locked before the deal's, as everywhere; the compare-and-set on
    `ended_at` is what makes the units return exactly once.
    """
    found = await read_deals(session, [deal_id])
    if deal_id not in found:
        return None
    product_id = found[deal_id].product_id
    await lock_products(session, [product_id])
    row = (await session.execute(_CLOSE_DEAL, {"deal_id": deal_id, "now": now})).first()
    if row is None:
        return None
    returned = int(row[0])
    level = _required(
        await _move(session, product_id, _PRODUCTS.c.id == product_id, {"stock": _PRODUCTS.c.stock + returned}, now), product_id, ""
    )
    _record(session, level, (deal_id, 0))
    closed = (await read_deals(session, [deal_id]))[deal_id]
    return closed, returned


# --- statements ---------------------------------------------------------------------------------


async def _move(session: AsyncSession, product_id: int, condition: Any, values: dict[str, Any], now: datetime) -> StockLevel | None:
    row = (
        await session.execute(
            update(_PRODUCTS).where(_PRODUCTS.c.id == product_id, condition).values(**values, updated_at=now).returning(*_LEVEL_COLUMNS)
        )
    ).first()
    return None if row is None else StockLevel(*row)


def _required(level: StockLevel | None, product_id: int, bucket: str) -> StockLevel:
    # Only reachable if the buckets disagree with the orders (a bug or a manual edit):
    # refuse the transition rather than let a bucket go negative.
    if level is None:
        raise InvalidState(
            _l("The {bucket} stock of this product is smaller than this change needs; the change was refused.", bucket=bucket)
        )
    return level


_LEVEL_COLUMNS = (
    _PRODUCTS.c.id,
    _PRODUCTS.c.county_id,
    _PRODUCTS.c.price_fen,
    _PRODUCTS.c.stock,
    _PRODUCTS.c.reserved,
    _PRODUCTS.c.sold,
)
_READ_PRODUCTS = (
    select(*_LEVEL_COLUMNS, _PRODUCTS.c.name, _PRODUCTS.c.is_active)
    .where(_PRODUCTS.c.id.in_(bindparam("product_ids", expanding=True)))
    .order_by(_PRODUCTS.c.id)
)
_LOCK_PRODUCTS = _READ_PRODUCTS.with_for_update()
_DEAL_COLUMNS = select(
    _DEALS.c.id,
    _DEALS.c.stream_id,
    _DEALS.c.product_id,
    _DEALS.c.price_fen,
    _DEALS.c.quantity,
    _DEALS.c.remaining,
    _DEALS.c.per_buyer_limit,
    _DEALS.c.starts_at,
    _DEALS.c.ends_at,
    _DEALS.c.started_announced,
    _DEALS.c.ended_at,
)
_READ_DEALS = _DEAL_COLUMNS.where(_DEALS.c.id.in_(bindparam("deal_ids", expanding=True))).order_by(_DEALS.c.id)
_LOCK_DEALS = _READ_DEALS.with_for_update()
# Built once, so a batch only binds its values.
_NOW = bindparam("now", type_=_PRODUCTS.c.updated_at.type)
_RESERVE = (
    update(_PRODUCTS)
    .where(_PRODUCTS.c.id == bindparam("product_id"), _PRODUCTS.c.stock >= bindparam("from_stock"))
    .values(stock=_PRODUCTS.c.stock - bindparam("from_stock"), reserved=_PRODUCTS.c.reserved + bindparam("taken"), updated_at=_NOW)
    .returning(*_LEVEL_COLUMNS)
)
_SELL = (
    update(_PRODUCTS)
    .where(_PRODUCTS.c.id == bindparam("product_id"), _PRODUCTS.c.stock >= bindparam("quantity"))
    .values(stock=_PRODUCTS.c.stock - bindparam("quantity"), sold=_PRODUCTS.c.sold + bindparam("quantity"), updated_at=_NOW)
    .returning(*_LEVEL_COLUMNS)
)
_TAKE_FROM_DEAL = (
    update(_DEALS)
    .where(_DEALS.c.id == bindparam("deal_id"), _DEALS.c.remaining >= bindparam("units"), _DEALS.c.ended_at.is_(None))
    .values(remaining=_DEALS.c.remaining - bindparam("units"))
    .returning(_DEALS.c.remaining)
)
_RETURN_TO_DEAL = (
    update(_DEALS)
    .where(_DEALS.c.id == bindparam("deal_id"), _DEALS.c.ended_at.is_(None))
    .values(remaining=_DEALS.c.remaining + bindparam("units"))
    .returning(_DEALS.c.remaining)
)
_CLOSE_DEAL = (
    update(_DEALS)
    .where(_DEALS.c.id == bindparam("deal_id"), _DEALS.c.ended_at.is_(None))
    .values(ended_at=bindparam("now", type_=_DEALS.c.ended_at.type), returned=_DEALS.c.remaining, remaining=0)
    .returning(_DEALS.c.returned)
)
