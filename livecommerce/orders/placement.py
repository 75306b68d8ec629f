"""One placement path for every channel: a stream order, a flash-deal order, a unit subscription, a station sale.

Each is an `Ask` placed by `place_batch`: the same steps in the same order, with the rules
of its channel (`LiveRules`, `BulkRules`) deciding what may be bought, at what price, and
where the units go. One order alone is a batch of one; concurrent orders of one stream share
a transaction (`Placer`), so a flash sale pays for one set of statements per batch.

The steps, and the lock order they keep (everywhere in the house): the channel's checks
(reads only); one INSERT of every order, ON CONFLICT DO NOTHING on the buyer's key (unique
key locks, sorted by buyer); the buyers' advisory locks; products by ascending id, then
deals by ascending id (FOR UPDATE); the allocation in arrival order, in memory; refused
orders deleted so their keys stay free; one INSERT of every line; one conditional UPDATE
per product and per deal; the ledger for orders paid when made; then the streams' event
counters in ascending order. A refusal is decided before anything of its order is kept.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import Table, bindparam, delete, func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.broadcasts import service as broadcasts
from livecommerce.broadcasts.events import EventType
from livecommerce.broadcasts.stock_events import append_with_stock_changes
from livecommerce.catalog import stock
from livecommerce.catalog.service import get_station, splits_of
from livecommerce.catalog.stock import DealState, ProductState, StockLevel
from livecommerce.kit.db import Database
from livecommerce.kit.errors import Conflict, InvalidInput, InvalidState, LiveCommerceError, NotFound, OutOfStock
from livecommerce.kit.group_commit import GroupCommit
from livecommerce.kit.i18n import LazyMessage, _l, status_word
from livecommerce.kit.principal import Principal
from livecommerce.kit.settings import Settings
from livecommerce.ledger.service import Sale, SaleLine, credit_sales
from livecommerce.orders import addresses, repository
from livecommerce.orders.models import Channel, Order, OrderLine, OrderStatus

log = structlog.get_logger(__name__)
MAX_BATCH = 64
_ORDERS: Table = Order.__table__  # type: ignore[attr-defined]  # SQLModel declares __table__ only at runtime
_LINES: Table = OrderLine.__table__  # type: ignore[attr-defined]  # likewise


# --- what is asked, and what comes of it -------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """Units of one product, from a flash deal when `flash_deal_id` is set."""

    product_id: int
    quantity: int
    flash_deal_id: int | None = None


@dataclass(frozen=True)
class Scope:
    """Where an order is placed: its channel and the stream, station or unit it belongs to."""

    channel: Channel
    stream_id: int | None = None
    station_id: int | None = None
    unit_name: str | None = None
    unit_type: str | None = None
    unit_id: int | None = None

    def lane(self) -> str:
        """Orders of one lane share batches: each stream is a lane, and orders paid when made are another."""
        return f"stream:{self.stream_id}" if self.channel is Channel.live else "paid-when-made"


@dataclass(frozen=True)
class PlacedLine:
    """One line of a placed order."""

    product_id: int
    quantity: int
    unit_price_fen: int
    amount_fen: int
    flash_deal_id: int | None = None


@dataclass(frozen=True)
class Placed:
    """An order as placed (or as an earlier request with the same key placed it: `created` is False)."""

    id: int
    status: str
    channel: str
    total_fen: int
    stream_id: int | None
    station_id: int | None
    unit_name: str | None
    unit_type: str | None
    created_at: datetime
    expires_at: datetime | None
    paid_at: datetime | None
    cancelled_at: datetime | None
    refunded_at: datetime | None
    lines: tuple[PlacedLine, ...]
    created: bool
    address_id: int | None = None
    fulfillment: str = "unshipped"
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None


def fingerprint(scope: Scope, items: Sequence[Item]) -> str:
    """What was asked for, to tell a retry from a different order under a reused key (the same for every channel)."""
    pairs = sorted((i.product_id, i.quantity) for i in items)
    body: dict[str, Any]
    if scope.channel is Channel.live:
        body = {"stream_id": scope.stream_id, "items": pairs}
    else:
        body = {"channel": scope.channel.value, "items": pairs}
        if scope.station_id is not None:
            body["station_id"] = scope.station_id
        if scope.unit_name is not None:
            body |= {"unit_name": scope.unit_name, "unit_type": scope.unit_type}
        if scope.unit_id is not None:
            body["unit_id"] = scope.unit_id
    deals = sorted((i.product_id, i.flash_deal_id) for i in items if i.flash_deal_id is not None)
    if deals:
        body["deals"] = deals
    return hashlib.sha256(json.dumps(body, separators=(",", ":"), sort_keys=True).encode()).hexdigest()


@dataclass
class Ask:
    """One caller's order on its way through a batch, and what became of it."""

    buyer: Principal
    scope: Scope
    items: tuple[Item, ...]
    key: str
    now: datetime
    digest: str = ""
    address_id: int | None = None  # asked for; else the buyer's default address, decided in the batch
    # Decided along the way:
    prices: dict[int, int] = field(default_factory=dict)  # unit price by product
    order_id: int | None = None
    error: LiveCommerceError | None = None
    result: Placed | None = None
    lines: list[dict[str, Any]] = field(default_factory=list)
    again: bool = False  # to be placed alone after this batch (a key sent twice in one batch)

    def __post_init__(self) -> None:
        self.items = tuple(sorted(self.items, key=lambda i: i.product_id))
        if not self.digest:
            self.digest = fingerprint(self.scope, self.items)

    @property
    def total_fen(self) -> int:
        """The order's total at the prices decided."""
        return sum(self.prices[i.product_id] * i.quantity for i in self.items)


# --- the rules of each channel -----------------------------------------------------------------


class Rules(Protocol):
    """What a channel allows: checked before any write, then again against the locked rows."""

    pays_when_made: bool

    async def check(self, session: AsyncSession, asks: Sequence[Ask]) -> None:
        """Set `error` on the asks this channel refuses and `prices` on the others (reads only)."""

    def allocate(
        self, ask: Ask, products: dict[int, ProductState], deals: dict[int, DealState], held: _Holdings, free: dict[int, int]
    ) -> LiveCommerceError | None:
        """Decide one order against the locked rows and what earlier orders of the batch took; None to accept."""


@dataclass
class _Holdings:
    """Units each buyer already holds (open and paid orders): by product in the stream, and by deal."""

    by_product: dict[int, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    by_deal: dict[int, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))


class LiveRules:
    """In-stream orders: the stream is live, the products featured, the buyer within caps; deals open and within limits."""

    pays_when_made = False

    def __init__(self, settings: Settings) -> None:
        self.cap = settings.max_quantity_per_buyer
        self.ttl = timedelta(seconds=settings.reservation_ttl_seconds)

    async def check(self, session: AsyncSession, asks: Sequence[Ask]) -> None:
        """The stream's offer and its deals, read once for the batch."""
        stream_id = asks[0].scope.stream_id
        assert stream_id is not None
        offer = await broadcasts.stream_offer(session, stream_id, sorted({i.product_id for a in asks for i in a.items}))
        deals = await stock.read_deals(session, {i.flash_deal_id for a in asks for i in a.items if i.flash_deal_id is not None})
        for ask in asks:
            ask.error = self._refusal(ask, stream_id, offer, deals)
            if ask.error is None and offer is not None:
                ask.prices = {
                    i.product_id: deals[i.flash_deal_id].price_fen if i.flash_deal_id is not None else offer.prices[i.product_id]
                    for i in ask.items
                }

    def _refusal(
        self, ask: Ask, stream_id: int, offer: broadcasts.StreamOffer | None, deals: dict[int, DealState]
    ) -> LiveCommerceError | None:
        if offer is None:
            return NotFound(_l("Stream {stream_id} does not exist.", stream_id=stream_id))
        if offer.status != "live":
            return InvalidState(
                _l(
                    "Orders are taken only while a stream is live; 「{title}」 is {status}.",
                    title=offer.title,
                    status=status_word(offer.status),
                )
            )
        errors: list[dict[str, str]] = []
        for n, item in enumerate(ask.items):
            if item.product_id not in offer.prices:
                errors.append({"field": f"items.{n}.product_id", "message": f"product {item.product_id} is not featured in this stream"})
            elif item.quantity > self.cap:
                errors.append({"field": f"items.{n}.quantity", "message": f"at most {self.cap} units per buyer"})
            elif item.flash_deal_id is not None:
                deal = deals.get(item.flash_deal_id)
                if deal is None or deal.stream_id != stream_id or deal.product_id != item.product_id:
                    errors.append({"field": f"items.{n}.flash_deal_id", "message": "no such flash deal for this product in this stream"})
        if errors:
            return InvalidInput("; ".join(e["message"] for e in errors) + ".", extra={"errors": errors})
        for item in ask.items:
            if item.flash_deal_id is not None:
                refused = deal_refusal(deals[item.flash_deal_id], item.quantity, ask.now)
                if refused is not None:
                    return refused
        return None

    def allocate(
        self, ask: Ask, products: dict[int, ProductState], deals: dict[int, DealState], held: _Holdings, free: dict[int, int]
    ) -> LiveCommerceError | None:
        """Caps, deal windows and limits, prices, then stock (the deal's units or the product's free ones)."""
        mine, mine_in_deals = held.by_product[ask.buyer.id], held.by_deal[ask.buyer.id]
        over = [i for i in ask.items if mine.get(i.product_id, 0) + i.quantity > self.cap]
        if over:
            errors = [
                {"field": "items", "message": f"product {i.product_id}: you hold {mine.get(i.product_id, 0)} of at most {self.cap}"}
                for i in over
            ]
            return Conflict(_l("At most {cap} units of a product per buyer in one stream.", cap=self.cap), extra={"errors": errors})
        for item in ask.items:
            state = products.get(item.product_id)
            if state is None or not state.active:
                return InvalidState(_no_longer_on_sale(state))
            if item.flash_deal_id is None:
                if state.level.price_fen != ask.prices[item.product_id]:
                    return Conflict(_l("The price of {name} changed while ordering; please order again.", name=state.name))
                if free[item.product_id] < item.quantity:
                    return out_of_stock(state.name, item.product_id, free[item.product_id], item.quantity)
                continue
            deal = deals[item.flash_deal_id]
            if mine_in_deals.get(deal.id, 0) + item.quantity > deal.per_buyer_limit:
                return deal_limit(deal, mine_in_deals.get(deal.id, 0))
            refused = deal_refusal(deal, item.quantity, ask.now, remaining=free[-deal.id], name=state.name)
            if refused is not None:
                return refused
        for item in ask.items:
            slot = item.product_id if item.flash_deal_id is None else -item.flash_deal_id
            free[slot] -= item.quantity
            mine[item.product_id] = mine.get(item.product_id, 0) + item.quantity
            if item.flash_deal_id is not None:
                mine_in_deals[item.flash_deal_id] = mine_in_deals.get(item.flash_deal_id, 0) + item.quantity
        return None


class BulkRules:
    """Orders paid when made (unit subscriptions, station sales): staff acting for every product's county (and the station's)."""

    pays_when_made = True

    async def check(self, session: AsyncSession, asks: Sequence[Ask]) -> None:
        """Products exist and are on sale, the staff member acts for their counties (and the station's)."""
        products = await stock.read_products(session, {i.product_id for a in asks for i in a.items})
        for ask in asks:
            ask.error = await self._refusal(session, ask, products)
            if ask.error is None:
                ask.prices = {i.product_id: products[i.product_id].level.price_fen for i in ask.items}

    async def _refusal(self, session: AsyncSession, ask: Ask, products: dict[int, ProductState]) -> LiveCommerceError | None:
        if any(i.flash_deal_id is not None for i in ask.items):
            return InvalidInput(
                _l("Flash deals are sold only in their stream."), extra={"errors": [{"field": "items", "message": "no flash deals here"}]}
            )
        missing = [i.product_id for i in ask.items if i.product_id not in products]
        if missing:
            return InvalidInput(
                _l("Unknown products: {ids}.", ids=", ".join(map(str, missing))),
                extra={"errors": [{"field": "items", "message": f"unknown product {pid}"} for pid in missing]},
            )
        inactive = [products[i.product_id].name for i in ask.items if not products[i.product_id].active]
        if inactive:
            return InvalidState(_l("No longer on sale: {names}.", names=", ".join(inactive)))
        try:
            if ask.scope.station_id is not None:
                station = await get_station(session, ask.scope.station_id)
                ask.buyer.require_county(station.county_id)
            # Every channel that sells stock asks the same question of every product: does this
            # person act for the county whose households grew it? (A station sale of another
            # county's stock credited that county for money nobody paid.)
            for item in ask.items:
                ask.buyer.require_county(products[item.product_id].level.county_id)
        except LiveCommerceError as refused:
            return refused
        return None

    def allocate(
        self, ask: Ask, products: dict[int, ProductState], deals: dict[int, DealState], held: _Holdings, free: dict[int, int]
    ) -> LiveCommerceError | None:
        """Prices unchanged and enough free stock."""
        for item in ask.items:
            state = products.get(item.product_id)
            if state is None or not state.active:
                return InvalidState(_no_longer_on_sale(state))
            if state.level.price_fen != ask.prices[item.product_id]:
                return Conflict(_l("The price of {name} changed while ordering; please order again.", name=state.name))
            if free[item.product_id] < item.quantity:
                return out_of_stock(state.name, item.product_id, free[item.product_id], item.quantity)
        for item in ask.items:
            free[item.product_id] -= item.quantity
        return None


def out_of_stock(name: str, product_id: int, left: int, quantity: int) -> OutOfStock:
    """The refusal of `quantity` units when `left` are free."""
    return OutOfStock(
        _l("{name} has {left} unit(s) left; {quantity} requested.", name=name, left=left, quantity=quantity),
        extra={"product_id": product_id, "available": left},
    )


def deal_refusal(
    deal: DealState, quantity: int, now: datetime, *, remaining: int | None = None, name: str = ""
) -> LiveCommerceError | None:
    """Why `quantity` units cannot be bought from `deal` at `now`, if they cannot."""
    status = deal.status(now)
    if status == "countdown":
        return InvalidState(
            _l("The flash deal opens at {starts_at}; it cannot be bought yet.", starts_at=deal.starts_at.isoformat()),
            extra={"deal_id": deal.id, "deal_status": status},
        )
    if status == "ended":
        return InvalidState(_l("The flash deal has ended."), extra={"deal_id": deal.id, "deal_status": status})
    if quantity > deal.per_buyer_limit:
        return deal_limit(deal, 0)
    left = deal.remaining if remaining is None else remaining
    if left < quantity:
        return OutOfStock(
            _l("The flash deal on {name} has {left} unit(s) left; {quantity} requested.", name=name, left=left, quantity=quantity)
            if name
            else _l("The flash deal has {left} unit(s) left; {quantity} requested.", left=left, quantity=quantity),
            extra={"product_id": deal.product_id, "deal_id": deal.id, "available": left},
        )
    return None


def deal_limit(deal: DealState, held: int) -> Conflict:
    """The refusal of an order that would take a buyer past the deal's per-buyer limit."""
    return Conflict(
        _l(
            "At most {per_buyer_limit} unit(s) of this flash deal per buyer; you hold {held}.",
            per_buyer_limit=deal.per_buyer_limit,
            held=held,
        ),
        extra={"deal_id": deal.id, "errors": [{"field": "items", "message": f"deal {deal.id}: at most {deal.per_buyer_limit} per buyer"}]},
    )


# --- the one path ------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a batch learned of the rows it locked: free units left per product, and per deal (keyed by -deal id)."""

    free: dict[int, int] = field(default_factory=dict)
    deals: dict[int, DealState] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)  # the products' names, so a refusal from memory names them


async def place_batch(session: AsyncSession, asks: Sequence[Ask], rules: Rules, settings: Settings) -> Outcome:
    """Place one lane's asks in the caller's transaction; each ends with a result, an error, or `again`."""
    await rules.check(session, asks)
    await _choose_addresses(session, [a for a in asks if a.error is None and a.scope.channel is Channel.live])
    fresh: list[Ask] = []
    seen: set[tuple[int, str]] = set()
    for ask in asks:
        if ask.error is not None:
            # A retry of an order placed before (say, before the stream ended) still gets its order back.
            earlier = await repository.order_by_key(session, ask.buyer.id, ask.key)
            if earlier is not None:
                ask.error = None
                await _replay(session, ask, earlier)
        elif (ask.buyer.id, ask.key) in seen:
            ask.again = True
        else:
            seen.add((ask.buyer.id, ask.key))
            fresh.append(ask)
    if not fresh:
        return Outcome()
    await _insert_orders(session, fresh, rules, settings)
    placed = []
    for ask in fresh:
        if ask.order_id is not None:
            placed.append(ask)
            continue
        winner = await repository.order_by_key(session, ask.buyer.id, ask.key)
        if winner is None:
            ask.again = True  # the key's holder went away meanwhile: try again alone
        else:
            await _replay(session, ask, winner)
    if not placed:
        return Outcome()
    held = await _lock_buyers_and_read_holdings(session, placed, rules)
    products = await stock.lock_products(session, {i.product_id for a in placed for i in a.items})
    deals = await stock.lock_deals(session, {i.flash_deal_id for a in placed for i in a.items if i.flash_deal_id is not None})
    free: dict[int, int] = {pid: state.level.stock for pid, state in products.items()}
    free |= {-deal_id: deal.remaining for deal_id, deal in deals.items()}
    won: list[Ask] = []
    for ask in placed:
        ask.error = rules.allocate(ask, products, deals, held, free)
        if ask.error is None:
            won.append(ask)
    refused = [ask.order_id for ask in placed if ask.error is not None]
    if refused:
        # Nothing of a refused order may remain, and its key must be free for a retry.
        await session.execute(delete(_ORDERS).where(_ORDERS.c.id.in_(refused)))
    outcome = Outcome(free=free, deals=deals, names={pid: state.name for pid, state in products.items()})
    if not won:
        return outcome
    await _insert_lines(session, won)
    levels = await _move_units(session, won, rules)
    if rules.pays_when_made:
        await _credit(session, won, levels)
    # After the products' and the ledger's rows and before the stream's sequence row, as paying an order takes them.
    await repository.note_stream_buyers(
        session, ((a.scope.stream_id, a.buyer.id, rules.pays_when_made) for a in won if a.scope.stream_id is not None)
    )
    if not rules.pays_when_made:
        await _announce_placed(session, won)
    for ask in won:
        ask.result = _placed_view(ask, rules, settings)
    return outcome


async def _choose_addresses(session: AsyncSession, asks: list[Ask]) -> None:
    """Each order's address: the one asked for (the buyer's own, else 422), or the buyer's default (if any)."""
    if not asks:
        return
    defaults, owners = await addresses.for_orders(
        session, {a.buyer.id for a in asks}, {a.address_id for a in asks if a.address_id is not None}
    )
    for ask in asks:
        if ask.address_id is None:
            ask.address_id = defaults.get(ask.buyer.id)
        elif owners.get(ask.address_id) != ask.buyer.id:
            ask.error = InvalidInput(
                _l("Address {address_id} is not one of yours.", address_id=ask.address_id),
                extra={"errors": [{"field": "address_id", "message": "not one of your addresses"}]},
            )


async def _insert_orders(session: AsyncSession, asks: list[Ask], rules: Rules, settings: Settings) -> None:
    """One INSERT for every order (ON CONFLICT DO NOTHING on the buyer's key); an ask whose key was taken gets no id."""
    rows = []
    for ask in sorted(asks, key=lambda a: (a.buyer.id, a.key)):  # unique-key locks in a fixed order
        paid = rules.pays_when_made
        rows.append(
            {
                "buyer_id": ask.buyer.id,
                "stream_id": ask.scope.stream_id,
                "channel": ask.scope.channel.value,
                "status": (OrderStatus.paid if paid else OrderStatus.pending_payment).value,
                "idempotency_key": ask.key,
                "request_hash": ask.digest,
                "total_fen": ask.total_fen,
                "unit_name": ask.scope.unit_name,
                "unit_type": ask.scope.unit_type,
                "unit_id": ask.scope.unit_id,
                "station_id": ask.scope.station_id,
                "address_id": ask.address_id,
                "created_at": ask.now,
                "expires_at": None if paid else ask.now + timedelta(seconds=settings.reservation_ttl_seconds),
                "paid_at": ask.now if paid else None,
            }
        )
    stmt = _INSERT_ORDERS_PG if repository.is_postgresql(session) else _INSERT_ORDERS_SQLITE
    ids = {(buyer_id, key): oid for oid, buyer_id, key in (await session.execute(stmt, rows)).all()}
    for ask in asks:
        ask.order_id = ids.get((ask.buyer.id, ask.key))


async def _lock_buyers_and_read_holdings(session: AsyncSession, asks: list[Ask], rules: Rules) -> _Holdings:
    """For in-stream orders: the buyers' advisory locks (PostgreSQL) and the units they already hold."""
    held = _Holdings()
    if rules.pays_when_made:
        return held
    buyer_ids = sorted({a.buyer.id for a in asks})
    if repository.is_postgresql(session):
        keys = sorted({buyer_id % 2**31 for buyer_id in buyer_ids})
        await session.execute(_LOCK_BUYERS, {"namespace": repository.BUYER_LOCK_NAMESPACE, "keys": keys})
    params = {
        "stream_id": asks[0].scope.stream_id,
        "buyer_ids": buyer_ids,
        "product_ids": sorted({i.product_id for a in asks for i in a.items}),
    }
    for buyer_id, product_id, deal_id, total in (await session.execute(_HELD_BY_BUYER, params)).all():
        units = int(total or 0)
        mine = held.by_product[buyer_id]
        mine[product_id] = mine.get(product_id, 0) + units
        if deal_id is not None:
            held.by_deal[buyer_id][deal_id] = held.by_deal[buyer_id].get(deal_id, 0) + units
    return held


async def _insert_lines(session: AsyncSession, asks: list[Ask]) -> None:
    rows = []
    for ask in asks:
        ask.lines = [
            {
                "order_id": ask.order_id,
                "product_id": i.product_id,
                "quantity": i.quantity,
                "unit_price_fen": ask.prices[i.product_id],
                "amount_fen": ask.prices[i.product_id] * i.quantity,
                "flash_deal_id": i.flash_deal_id,
            }
            for i in ask.items
        ]
        rows += ask.lines
    ids = (await session.execute(_INSERT_LINES, rows)).scalars()
    for row, line_id in zip(rows, ids, strict=True):
        row["id"] = line_id


async def _move_units(session: AsyncSession, asks: list[Ask], rules: Rules) -> dict[int, StockLevel]:
    """One conditional UPDATE per product (and per deal): the batch's units held, or sold for orders paid when made."""
    from_stock: dict[int, int] = defaultdict(int)
    from_deals: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for ask in asks:
        for i in ask.items:
            if i.flash_deal_id is None:
                from_stock[i.product_id] += i.quantity
            else:
                from_deals[i.product_id][i.flash_deal_id] += i.quantity
    levels: dict[int, StockLevel] = {}
    last = max(ask.now for ask in asks)
    for product_id in sorted(set(from_stock) | set(from_deals)):
        if rules.pays_when_made:
            levels[product_id] = await stock.sell(session, product_id, from_stock[product_id], now=last)
        else:
            levels[product_id], _ = await stock.reserve(session, product_id, from_stock[product_id], from_deals[product_id], now=last)
    return levels


async def _credit(session: AsyncSession, asks: list[Ask], levels: dict[int, StockLevel]) -> None:
    """Orders paid when made are credited at once, each its own sale, all in one posting of the ledger."""
    splits = await splits_of(session, sorted({i.product_id for a in asks for i in a.items}))
    sales = []
    for ask in asks:
        assert ask.order_id is not None
        lines = tuple(
            SaleLine(
                order_line_id=line["id"],
                product_id=line["product_id"],
                county_id=levels[line["product_id"]].county_id,
                quantity=line["quantity"],
                amount_fen=line["amount_fen"],
                splits=tuple((s.party, s.bp) for s in splits[line["product_id"]]),
            )
            for line in ask.lines
        )
        # A station's over-the-counter sale changes hands as it is made: its settlement days count from now.
        delivered_at = ask.now if ask.scope.channel is Channel.physical else None
        sales.append(
            Sale(
                order_id=ask.order_id,
                channel=ask.scope.channel.value,
                stream_id=None,
                lines=lines,
                total_fen=ask.total_fen,
                delivered_at=delivered_at,
            )
        )
    await credit_sales(session, sales, now=max(a.now for a in asks))


async def _announce_placed(session: AsyncSession, asks: list[Ask]) -> None:
    """`order.placed` for each order, then `stock.changed` for every live stream featuring what moved."""
    events: dict[int, list[tuple[EventType | str, dict[str, Any]]]] = defaultdict(list)
    for ask in asks:
        assert ask.scope.stream_id is not None
        data: dict[str, Any] = {
            "order_id": ask.order_id,
            "buyer": ask.buyer.display_name,  # in full for staff; the relay masks it for everyone else
            "items": [{"product_id": i.product_id, "quantity": i.quantity} for i in ask.items],
            "total_fen": ask.total_fen,
        }
        deal_items = [i for i in ask.items if i.flash_deal_id is not None]
        if deal_items:
            data["flash_deal_ids"] = sorted({i.flash_deal_id for i in deal_items if i.flash_deal_id is not None})
        events[ask.scope.stream_id].append((EventType.order_placed, data))
    await append_with_stock_changes(session, events, stock.take_pending(session), ts=max(a.now for a in asks))


def _placed_view(ask: Ask, rules: Rules, settings: Settings) -> Placed:
    assert ask.order_id is not None
    paid = rules.pays_when_made
    return Placed(
        id=ask.order_id,
        status=(OrderStatus.paid if paid else OrderStatus.pending_payment).value,
        channel=ask.scope.channel.value,
        total_fen=ask.total_fen,
        stream_id=ask.scope.stream_id,
        station_id=ask.scope.station_id,
        unit_name=ask.scope.unit_name,
        unit_type=ask.scope.unit_type,
        created_at=ask.now,
        expires_at=None if paid else ask.now + timedelta(seconds=settings.reservation_ttl_seconds),
        paid_at=ask.now if paid else None,
        cancelled_at=None,
        refunded_at=None,
        lines=tuple(
            PlacedLine(line["product_id"], line["quantity"], line["unit_price_fen"], line["amount_fen"], line["flash_deal_id"])
            for line in ask.lines
        ),
        created=True,
        address_id=ask.address_id,
    )


async def _replay(session: AsyncSession, ask: Ask, order: Order) -> None:
    """The order an earlier request with this key placed, or 409 when that request asked for something else."""
    if order.request_hash != ask.digest:
        ask.error = Conflict(
            _l("This Idempotency-Key was already used for a different order; send a new key for a new order."),
            extra={"order_id": order.id, "errors": [{"field": "Idempotency-Key", "message": "reused for a different request"}]},
        )
        return
    assert order.id is not None
    lines = (await repository.lines_of(session, [order.id]))[order.id]
    ask.result = placed_of(order, lines, created=False)


def placed_of(order: Order, lines: Sequence[OrderLine], *, created: bool) -> Placed:
    """The placement view of a stored order."""
    assert order.id is not None
    return Placed(
        id=order.id,
        status=order.status,
        channel=order.channel,
        total_fen=order.total_fen,
        stream_id=order.stream_id,
        station_id=order.station_id,
        unit_name=order.unit_name,
        unit_type=order.unit_type,
        created_at=order.created_at,
        expires_at=order.expires_at,
        paid_at=order.paid_at,
        cancelled_at=order.cancelled_at,
        refunded_at=order.refunded_at,
        lines=tuple(PlacedLine(ln.product_id, ln.quantity, ln.unit_price_fen, ln.amount_fen, ln.flash_deal_id) for ln in lines),
        created=created,
        address_id=order.address_id,
        fulfillment=order.fulfillment,
        shipped_at=order.shipped_at,
        delivered_at=order.delivered_at,
    )


# --- group commit ------------------------------------------------------------------------------


class Placer:
    """Places asks in shared transactions, one batch at a time per lane (`kit.group_commit`); a single order is a batch of one.

    While a lane's batch is being written, the asks that arrive wait for the next one. If a
    batch fails as a whole, each of its asks is placed again alone, so one bad order never
    fails the others and an outage still answers each caller from its own attempt.
    """

    def __init__(
        self, db: Database, settings: Settings, *, max_batch: int = MAX_BATCH, on_placed: Callable[[list[Ask], Outcome], None] | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        self.live_rules = LiveRules(settings)
        self.bulk_rules = BulkRules()
        self.on_placed = on_placed  # called with (asks, outcome) after each committed batch
        self.batches = GroupCommit(self._write, max_batch=max_batch, name="placement")

    @property
    def batches_written(self) -> int:
        """How many transactions placed orders (batches and asks placed alone)."""
        return self.batches.batches_written

    def rules_for(self, scope: Scope) -> Rules:
        """The rules of the scope's channel."""
        return self.live_rules if scope.channel is Channel.live else self.bulk_rules

    async def place(self, ask: Ask) -> Placed:
        """The order placed (or replayed) for `ask`; raises its refusal."""
        await self.batches.submit(ask.scope.lane(), ask)
        if ask.error is not None:
            raise ask.error
        assert ask.result is not None
        return ask.result

    async def _write(self, asks: list[Ask]) -> None:
        for ask in asks:
            ask.error, ask.result, ask.order_id, ask.lines = None, None, None, []
        rules = self.rules_for(asks[0].scope)
        async with self.db.transaction() as session:
            outcome = await place_batch(session, asks, rules, self.settings)
        if self.on_placed is not None:
            self.on_placed(asks, outcome)


# Statements built once, so a batch only binds its values.
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
_INSERT_LINES = insert(_LINES).returning(_LINES.c.id, sort_by_parameter_order=True)
# The function scan hands the sorted keys to the lock one by one, in array order.
_LOCK_BUYERS = text("SELECT count(pg_advisory_xact_lock(:namespace, k)) FROM unnest(CAST(:keys AS integer[])) AS k")
_HELD_BY_BUYER = (
    select(_ORDERS.c.buyer_id, _LINES.c.product_id, _LINES.c.flash_deal_id, func.sum(_LINES.c.quantity))
    .select_from(_LINES.join(_ORDERS, _ORDERS.c.id == _LINES.c.order_id))
    .where(
        _ORDERS.c.buyer_id.in_(bindparam("buyer_ids", expanding=True)),
        _ORDERS.c.stream_id == bindparam("stream_id"),
        _ORDERS.c.status.in_(repository.HOLDING_STATUSES),
        _LINES.c.product_id.in_(bindparam("product_ids", expanding=True)),
    )
    .group_by(_ORDERS.c.buyer_id, _LINES.c.product_id, _LINES.c.flash_deal_id)
)


def _no_longer_on_sale(state: ProductState | None) -> LazyMessage:
    if state is None:
        return _l("A product of this order is not sold in this stream.")
    return _l("{name} is no longer on sale.", name=state.name)
