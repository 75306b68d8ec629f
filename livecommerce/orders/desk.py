"""The order desk: where every channel's orders come in, are refused from memory when surely sold out, or placed.

A sold-out answer costs no database write: the desk asks this instance's `Availability`
first, and confirms only that the caller's key has no earlier order (a read), since a retry
of an order placed before the product sold out must still get its order back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import BigInteger, String, Table, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.catalog import stock
from livecommerce.catalog.stock import DealState, ProductState
from livecommerce.kit.db import Database
from livecommerce.kit.errors import InvalidInput
from livecommerce.kit.group_read import GroupRead
from livecommerce.kit.i18n import _l
from livecommerce.kit.metrics import ORDERS
from livecommerce.kit.principal import Principal
from livecommerce.kit.settings import Settings
from livecommerce.orders.availability import STALE, Availability
from livecommerce.orders.models import Channel, Order
from livecommerce.orders.placement import Ask, Item, Outcome, Placed, Placer, Scope
from livecommerce.orders.schemas import OrderCreate, OrderItemIn, StationSaleCreate, SubscriptionCreate

_REFUSED_FROM_MEMORY = ORDERS.labels("refused_from_memory")
_ORDERS: Table = Order.__table__  # type: ignore[attr-defined]  # SQLModel declares __table__ only at runtime
# The pairs among a batch's buyers and keys that have an order (the unique index on
# (buyer_id, idempotency_key) answers it; the cross product is filtered back to the pairs asked).
# One statement text whatever the batch's size, so it is compiled (and prepared) once: an
# expanding IN would be rewritten for every size of batch. SQLite takes the lists as JSON arrays.
_IDS = func.json_each(bindparam("buyer_ids")).table_valued("value")
_KEYS = func.json_each(bindparam("keys")).table_valued("value")
_KEYS_USED = select(_ORDERS.c.buyer_id, _ORDERS.c.idempotency_key).where(
    _ORDERS.c.buyer_id.in_(select(_IDS.c.value)),
    _ORDERS.c.idempotency_key.in_(select(_KEYS.c.value)),
)
_KEYS_USED_PG = select(_ORDERS.c.buyer_id, _ORDERS.c.idempotency_key).where(
    _ORDERS.c.buyer_id == any_(bindparam("buyer_ids", type_=ARRAY(BigInteger))),
    _ORDERS.c.idempotency_key == any_(bindparam("keys", type_=ARRAY(String))),
)


def items_of(items: Sequence[OrderItemIn]) -> tuple[Item, ...]:
    """The items of a request body."""
    return tuple(Item(i.product_id, i.quantity, i.flash_deal_id) for i in items)


class UnitDirectory(Protocol):
    """Names a purchasing unit by id (the assistance domain's, put on the app by the composition root)."""

    async def describe(self, session: AsyncSession, unit_id: int) -> tuple[str, str] | None:
        """The unit's name and type, or None when there is no such unit."""
        ...


class OrderDesk:
    """Takes orders of every channel for one app instance."""

    def __init__(self, db: Database, settings: Settings, availability: Availability, units: UnitDirectory | None = None) -> None:
        self.db = db
        self.availability = availability
        self.units = units
        self.placer = Placer(db, settings, on_placed=self._learn)
        self.keys = KeyChecks(db)

    def _learn(self, asks: list[Ask], outcome: Outcome) -> None:
        self.availability.learn_outcome(outcome)

    async def order_in_stream(self, buyer: Principal, stream_id: int, body: OrderCreate, *, key: str, now: datetime) -> Placed:
        """A viewer's order in a live stream (from flash deals where its items say so)."""
        items = tuple(sorted(items_of(body.items), key=lambda i: i.product_id))  # as a placement takes them
        refused = self.availability.refusal(items, now)
        if isinstance(refused, STALE):
            await self.availability.refresh(refused, self._reread)
            refused = self.availability.refusal(items, now)
        if refused is not None and not isinstance(refused, STALE) and not await self.keys.used(buyer.id, key):
            self.availability.refused_from_memory += 1
            _REFUSED_FROM_MEMORY.inc()
            raise refused
        scope = Scope(Channel.live, stream_id=stream_id)
        return await self.placer.place(Ask(buyer=buyer, scope=scope, items=items, key=key, now=now, address_id=body.address_id))

    async def subscribe(self, buyer: Principal, body: SubscriptionCreate, *, key: str | None, now: datetime) -> Placed:
        """A unit's bulk purchase, paid and credited at once."""
        name: str | None = body.unit_name
        kind: str | None = body.unit_type
        if body.unit_id is not None:
            name, kind = await self._unit(body.unit_id)
        scope = Scope(Channel.unit_subscription, unit_name=name, unit_type=kind, unit_id=body.unit_id)
        return await self.placer.place(Ask(buyer=buyer, scope=scope, items=items_of(body.items), key=key or _auto_key(), now=now))

    async def sell_at_station(
        self, seller: Principal, station_id: int, body: StationSaleCreate, *, key: str | None, now: datetime
    ) -> Placed:
        """A station's over-the-counter sale, paid and credited at once."""
        scope = Scope(Channel.physical, station_id=station_id)
        return await self.placer.place(Ask(buyer=seller, scope=scope, items=items_of(body.items), key=key or _auto_key(), now=now))

    async def _unit(self, unit_id: int) -> tuple[str, str]:
        described = None
        if self.units is not None:
            async with self.db.read_sessionmaker() as session:
                described = await self.units.describe(session, unit_id)
        if described is None:
            raise InvalidInput(
                _l("Purchasing unit {unit_id} does not exist.", unit_id=unit_id),
                extra={"errors": [{"field": "unit_id", "message": "unknown unit"}]},
            )
        return described

    async def _reread(self, product_ids: Sequence[int], deal_ids: Sequence[int]) -> tuple[dict[int, ProductState], dict[int, DealState]]:
        async with self.db.read_sessionmaker() as session:
            return await stock.read_products(session, product_ids), await stock.read_deals(session, deal_ids)


def desk_of(state: Any) -> OrderDesk:
    """The order desk of an app (its `app.state`), made on first use for the app's current database."""
    desk: OrderDesk | None = getattr(state, "order_desk", None)
    if desk is None or desk.db is not state.db:
        desk = state.order_desk = OrderDesk(state.db, state.settings, state.availability, getattr(state, "units", None))
    return desk


class KeyChecks:
    """Whether a buyer's idempotency key already has an order, asked for many callers in one read.

    During a sell-out every refused caller asks; the questions are answered in batches
    (`kit.group_read`), so the database sees one query per batch instead of one per caller.
    """

    def __init__(self, db: Database, *, max_batch: int = 200, readers: int = 2) -> None:
        self.db = db
        self._group: GroupRead[tuple[int, str], bool] = GroupRead(
            lambda pairs: self._read(pairs), missing=False, name="idempotency-key-checks", max_batch=max_batch, readers=readers
        )

    @property
    def reads(self) -> int:
        """Reads made so far."""
        return self._group.reads

    async def used(self, buyer_id: int, key: str) -> bool:
        """True when `buyer_id` has an order under `key`."""
        return await self._group.ask((buyer_id, key))

    async def _read(self, pairs: set[tuple[int, str]]) -> dict[tuple[int, str], bool]:
        params = {"buyer_ids": sorted({b for b, _ in pairs}), "keys": sorted({k for _, k in pairs})}
        async with self.db.read_connection() as conn:
            if self.db.is_sqlite:
                as_json = {name: json.dumps(values) for name, values in params.items()}
                rows = (await conn.execute(_KEYS_USED, as_json)).all()
            else:
                rows = (await conn.execute(_KEYS_USED_PG, params)).all()
        return dict.fromkeys({(int(b), str(k)) for b, k in rows} & pairs, True)


def _auto_key() -> str:
    # Without a key a request cannot be recognised when retried; it still gets a unique one.
    return f"auto-{uuid.uuid4().hex}"
