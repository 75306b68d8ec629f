"""Group commit for in-stream orders: concurrent orders of one stream placed in one transaction.

A flash sale sends many orders for one product at once. Placed one transaction each, they
queue on the product's row lock (PostgreSQL) or the write lock (SQLite), and every order
pays for its own dozen statements and commit. Here the orders of a stream that arrive while
a batch is being written wait for the next batch, and a batch costs about ten statements
whatever its size.

Each order keeps the meaning it has when placed alone (`service.place_order`): it is
refused, or reserved and announced, on its own. Stock is allocated to the batch's orders
in arrival order under the product rows' lock, so an order that does not fit fails with
OutOfStock and the others still go through; a failed order's row is deleted before the
commit, so nothing of it remains. Whatever is not a plain new order (an idempotent replay,
a refusal, a key used twice in the batch) is handed back to the caller, which places it
alone. The transaction takes its locks in the documented order (order keys and buyers
sorted by buyer, products by ascending id, then the stream's counter) and commits before
any caller is answered.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Table, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.broadcasts import service as streams_service
from livecommerce.broadcasts.events import EventType, append_events
from livecommerce.catalog.models import Product
from livecommerce.catalog.stock import StockLevel, reservation_refusal
from livecommerce.kit.db import Database
from livecommerce.kit.errors import LiveCommerceError
from livecommerce.kit.principal import Principal
from livecommerce.kit.settings import Settings
from livecommerce.orders import repository, service
from livecommerce.orders.models import Channel, Order, OrderLine, OrderStatus
from livecommerce.orders.schemas import OrderCreate
from livecommerce.orders.service import PlacedOrder, buyer_cap_error, refusal, request_hash

log = structlog.get_logger(__name__)
MAX_BATCH = 64
_ORDERS: Table = Order.__table__  # type: ignore[attr-defined]
_LINES: Table = OrderLine.__table__  # type: ignore[attr-defined]
_PRODUCTS: Table = Product.__table__  # type: ignore[attr-defined]


@dataclass
class _Ask:
    """One caller's order, waiting for its batch, and what became of it."""

    buyer: Principal
    data: OrderCreate
    key: str
    digest: str
    now: datetime
    future: asyncio.Future[PlacedOrder | None]
    order: Order | None = None
    lines: list[OrderLine] = field(default_factory=list)
    levels: list[StockLevel] = field(default_factory=list)
    error: LiveCommerceError | None = None


class OrderBatcher:
    """Places the concurrent orders of each stream in shared transactions, one batch at a time per stream."""

    def __init__(self, db: Database, settings: Settings, max_batch: int = MAX_BATCH) -> None:
        self.db = db
        self.settings = settings
        self.max_batch = max_batch
        self._waiting: dict[int, list[_Ask]] = {}
        self._leaders: dict[int, asyncio.Task[None]] = {}
        self.batches_written = 0

    async def place(
        self, buyer: Principal, stream_id: int, data: OrderCreate, *, idempotency_key: str, now: datetime
    ) -> PlacedOrder | None:
        """The new order, placed and committed; None when it must be placed alone (a replay, a refusal, a failed batch)."""
        future: asyncio.Future[PlacedOrder | None] = asyncio.get_running_loop().create_future()
        ask = _Ask(buyer=buyer, data=data, key=idempotency_key, digest=request_hash(stream_id, data), now=now, future=future)
        self._waiting.setdefault(stream_id, []).append(ask)
        if stream_id not in self._leaders:
            # The task is kept in `_leaders` until it ends; it ends once nobody waits.
            self._leaders[stream_id] = asyncio.create_task(self._lead(stream_id), name=f"order-batches-{stream_id}")
        return await future

    async def _lead(self, stream_id: int) -> None:
        """Write the stream's batches, one after the other, until nobody is waiting."""
        try:
            while waiting := self._waiting.get(stream_id):
                batch = waiting[: self.max_batch]
                del waiting[: self.max_batch]
                batch = [ask for ask in batch if not ask.future.done()]  # a caller that went away gets no order
                if batch:
                    self.batches_written += 1
                    await self._write(stream_id, batch)
        finally:
            self._leaders.pop(stream_id, None)
            if not self._waiting.get(stream_id):
                self._waiting.pop(stream_id, None)

    async def _write(self, stream_id: int, batch: list[_Ask]) -> None:
        try:
            async with self.db.transaction() as session:
                await place_batch(session, stream_id, batch, settings=self.settings)
        except Exception as exc:
            # The batch as a whole failed (a deadlock victim, one order tripping a constraint, the
            # database going away) and nothing of it was kept: every order is handed back to be
            # placed alone, so one bad order never fails the others, and an outage still answers
            # each caller from its own attempt.
            log.warning("order_batch_failed", stream_id=stream_id, orders=len(batch), error=f"{type(exc).__name__}: {exc}")
            for ask in batch:
                if not ask.future.done():
                    ask.future.set_result(None)
            return
        except BaseException:
            for ask in batch:
                if not ask.future.done():
                    ask.future.cancel()
            raise
        for ask in batch:
            if ask.future.done():
                continue
            if ask.error is not None:
                ask.future.set_exception(ask.error)
            elif ask.order is None:
                ask.future.set_result(None)
            else:
                ask.future.set_result(PlacedOrder(order=ask.order, lines=ask.lines, created=True))


async def place_batch(session: AsyncSession, stream_id: int, batch: Sequence[_Ask], *, settings: Settings) -> None:
    """Place the batch's new orders in the caller's transaction: each ask ends with an order, an error, or neither (place it alone)."""
    cap = settings.max_quantity_per_buyer
    offer = await streams_service.stream_offer(session, stream_id, sorted({i.product_id for a in batch for i in a.data.items}))
    seen: set[tuple[int, str]] = set()
    fresh: list[_Ask] = []
    for ask in batch:
        # Refusals, and a key sent twice in one batch, take the single-order path, which also finds replays.
        if refusal(stream_id, offer, ask.data, cap) is None and (ask.buyer.id, ask.key) not in seen:
            seen.add((ask.buyer.id, ask.key))
            fresh.append(ask)
    if not fresh or offer is None:
        return
    await _insert_orders(session, stream_id, fresh, offer.prices, settings)
    placed = [ask for ask in fresh if ask.order is not None]  # the others found their key taken: a replay
    if not placed:
        return
    await _lock_buyers(session, sorted({ask.buyer.id for ask in placed}))
    held = await _held(session, stream_id, placed)
    levels = await _lock_products(session, sorted({i.product_id for a in placed for i in a.data.items}))
    for ask in placed:
        _allocate(ask, held, levels, offer.prices, cap)
    failed = [ask.order.id for ask in placed if ask.error is not None and ask.order is not None]
    if failed:
        # Nothing of a refused order may remain, and its key must be free for a retry.
        await session.execute(delete(_ORDERS).where(_ORDERS.c.id.in_(failed)))
    won = [ask for ask in placed if ask.error is None]
    for ask in placed:
        if ask.error is not None:
            ask.order = None
    if not won:
        return
    await repository.insert_lines(session, [line for ask in won for line in ask.lines])
    # From here to the commit the hot rows are locked: the products (since `_lock_products`) and the stream's counter.
    last = max(ask.now for ask in won)
    for pid, total in sorted(_totals(won).items()):
        moved = await session.execute(_RESERVE_TOTAL, {"product_id": pid, "quantity": total, "now": last})
        if moved.rowcount != 1:  # type: ignore[attr-defined]  # impossible under the row lock; refuse rather than oversell
            raise RuntimeError(f"stock of product {pid} changed under its row lock")
    events: list[tuple[EventType | str, dict[str, Any]]] = []
    for ask in won:
        assert ask.order is not None
        events.append(
            (
                EventType.order_placed,
                {
                    "order_id": ask.order.id,
                    "buyer": ask.buyer.display_name,  # in full for staff; the relay masks it for everyone else
                    "items": [{"product_id": line.product_id, "quantity": line.quantity} for line in ask.lines],
                    "total_fen": ask.order.total_fen,
                },
            )
        )
        events += [(EventType.stock_changed, level.event_data()) for level in ask.levels]
    await append_events(session, stream_id, events, ts=last)


async def _insert_orders(session: AsyncSession, stream_id: int, asks: list[_Ask], prices: dict[int, int], settings: Settings) -> None:
    """One INSERT for every order (ON CONFLICT DO NOTHING on the buyer's key); an ask whose key was taken gets no order."""
    rows = []
    for ask in sorted(asks, key=lambda a: (a.buyer.id, a.key)):  # unique-key locks in a fixed order
        ask.order = Order(
            buyer_id=ask.buyer.id,
            stream_id=stream_id,
            channel=Channel.live,
            status=OrderStatus.pending_payment,
            idempotency_key=ask.key,
            request_hash=ask.digest,
            total_fen=sum(prices[item.product_id] * item.quantity for item in ask.data.items),
            created_at=ask.now,
            expires_at=ask.now + timedelta(seconds=settings.reservation_ttl_seconds),
        )
        rows.append(ask.order.model_dump(exclude={"id", "unit_name", "unit_type", "station_id", "paid_at", "cancelled_at", "refunded_at"}))
    stmt = _INSERT_ORDERS_PG if repository.is_postgresql(session) else _INSERT_ORDERS_SQLITE
    ids = {(buyer_id, key): oid for oid, buyer_id, key in (await session.execute(stmt, rows)).all()}
    for ask in asks:
        assert ask.order is not None
        ask.order.id = ids.get((ask.buyer.id, ask.key))
        if ask.order.id is None:
            ask.order = None
            continue
        ask.lines = [
            OrderLine(
                order_id=ask.order.id,
                product_id=item.product_id,
                quantity=item.quantity,
                unit_price_fen=prices[item.product_id],
                amount_fen=prices[item.product_id] * item.quantity,
            )
            for item in sorted(ask.data.items, key=lambda i: i.product_id)
        ]


async def _lock_buyers(session: AsyncSession, buyer_ids: list[int]) -> None:
    """The buyers' advisory locks (PostgreSQL), in ascending order, in one statement."""
    if repository.is_postgresql(session):
        keys = sorted({buyer_id % 2**31 for buyer_id in buyer_ids})
        await session.execute(_LOCK_BUYERS, {"namespace": repository.BUYER_LOCK_NAMESPACE, "keys": keys})


async def _held(session: AsyncSession, stream_id: int, asks: list[_Ask]) -> dict[int, dict[int, int]]:
    """Units each buyer already holds in the stream, by product (orders of this batch have no lines yet)."""
    params = {
        "stream_id": stream_id,
        "buyer_ids": sorted({a.buyer.id for a in asks}),
        "product_ids": sorted({i.product_id for a in asks for i in a.data.items}),
    }
    held: dict[int, dict[int, int]] = defaultdict(dict)
    for buyer_id, product_id, total in (await session.execute(_HELD_BY_BUYER, params)).all():
        held[buyer_id][product_id] = int(total or 0)
    return held


async def _lock_products(session: AsyncSession, product_ids: list[int]) -> dict[int, tuple[StockLevel, bool]]:
    """The products' buckets, their rows locked until commit (in ascending id order); with whether each is on sale."""
    rows = (await session.execute(_LOCK_PRODUCTS, {"product_ids": product_ids})).all()
    return {
        pid: (StockLevel(pid, county_id, price, stock, reserved, sold), bool(active))
        for pid, county_id, price, stock, reserved, sold, active in rows
    }


def _allocate(
    ask: _Ask, held: dict[int, dict[int, int]], levels: dict[int, tuple[StockLevel, bool]], prices: dict[int, int], cap: int
) -> None:
    """Decide one order against the buyer's cap and the stock left by the orders before it in the batch."""
    mine = held[ask.buyer.id]
    ask.error = buyer_cap_error(mine, ask.data, cap)
    if ask.error is not None:
        return
    for item in ask.data.items:
        found = levels.get(item.product_id)
        level, active = found if found is not None else (None, False)
        if level is None or not active or level.stock < item.quantity or level.price_fen != prices[item.product_id]:
            state = None if level is None else (level.stock, active, level.price_fen)
            ask.error = reservation_refusal(item.product_id, item.quantity, state, prices[item.product_id])
            return
    for item in sorted(ask.data.items, key=lambda i: i.product_id):
        level, active = levels[item.product_id]
        moved = StockLevel(
            level.product_id, level.county_id, level.price_fen, level.stock - item.quantity, level.reserved + item.quantity, level.sold
        )
        levels[item.product_id] = (moved, active)
        ask.levels.append(moved)
        mine[item.product_id] = mine.get(item.product_id, 0) + item.quantity


def _totals(asks: list[_Ask]) -> dict[int, int]:
    totals: dict[int, int] = defaultdict(int)
    for ask in asks:
        for item in ask.data.items:
            totals[item.product_id] += item.quantity
    return totals


# Statements built once (see `repository`): a batch only binds its values.
_INSERT_ORDERS_PG = (
    pg_insert(_ORDERS)
    .on_conflict_do_nothing(index_elements=["buyer_id", "idempotency_key"])
    .returning(_ORDERS.c.id, _ORDERS.c.buyer_id, _ORDERS.c.idempotency_key)
)
_INSERT_ORDERS_SQLITE = (
    sqlite_insert(_ORDERS)
    .on_conflict_do_nothing(index_elements=["buyer_id", "idempotency_key"])
    .returning(_ORDERS.c.id, _ORDERS.c.buyer_id, _ORDERS.c.idempotency_key)
)
# The function scan hands the sorted keys to the lock one by one, in array order.
_LOCK_BUYERS = text("SELECT count(pg_advisory_xact_lock(:namespace, k)) FROM unnest(CAST(:keys AS integer[])) AS k")
_HELD_BY_BUYER = (
    select(_ORDERS.c.buyer_id, _LINES.c.product_id, func.sum(_LINES.c.quantity))
    .select_from(_LINES.join(_ORDERS, _ORDERS.c.id == _LINES.c.order_id))
    .where(
        _ORDERS.c.buyer_id.in_(bindparam("buyer_ids", expanding=True)),
        _ORDERS.c.stream_id == bindparam("stream_id"),
        _ORDERS.c.status.in_(repository.HOLDING_STATUSES),
        _LINES.c.product_id.in_(bindparam("product_ids", expanding=True)),
    )
    .group_by(_ORDERS.c.buyer_id, _LINES.c.product_id)
)
_LOCK_PRODUCTS = (
    select(
        _PRODUCTS.c.id,
        _PRODUCTS.c.county_id,
        _PRODUCTS.c.price_fen,
        _PRODUCTS.c.stock,
        _PRODUCTS.c.reserved,
        _PRODUCTS.c.sold,
        _PRODUCTS.c.is_active,
    )
    .where(_PRODUCTS.c.id.in_(bindparam("product_ids", expanding=True)))
    .order_by(_PRODUCTS.c.id)
    .with_for_update()
)
_RESERVE_TOTAL = (
    update(_PRODUCTS)
    .where(_PRODUCTS.c.id == bindparam("product_id"), _PRODUCTS.c.stock >= bindparam("quantity"))
    .values(
        stock=_PRODUCTS.c.stock - bindparam("quantity"),
        reserved=_PRODUCTS.c.reserved + bindparam("quantity"),
        updated_at=bindparam("now", type_=_PRODUCTS.c.updated_at.type),
    )
)


async def place_order_batched(
    session: AsyncSession,
    batcher: OrderBatcher,
    buyer: Principal,
    stream_id: int,
    data: OrderCreate,
    *,
    idempotency_key: str,
    settings: Settings,
    now: datetime,
) -> PlacedOrder:
    """Place an order through the stream's batches; what a batch hands back is placed alone in `session`.

    `session` is the request's and must hold no work of its own yet (the endpoint has only
    read the caller with it): it is closed before waiting, which lets its connection go.
    """
    # On SQLite the batch needs the one writer connection, and on PostgreSQL a connection
    # idling through someone else's transaction is one the pool lacks.
    await session.close()
    placed = await batcher.place(buyer, stream_id, data, idempotency_key=idempotency_key, now=now)
    if placed is not None:
        return placed
    return await service.place_order(session, buyer, stream_id, data, idempotency_key=idempotency_key, settings=settings, now=now)
