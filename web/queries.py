"""Read-only views the pages render on the server; every write goes through the API.

Live figures (sales, viewers, the order ticker) are read from the stream's outbox events,
the same source the websocket replays, so a page renders exactly the state that its
`since=<seq>` subscription then continues from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.broadcasts import events
from livecommerce.broadcasts import repository as broadcasts
from livecommerce.broadcasts import service as streams
from livecommerce.broadcasts.events import EventType
from livecommerce.broadcasts.schemas import StreamStatus
from livecommerce.catalog import repository as catalog
from livecommerce.catalog import service as catalog_service
from livecommerce.kit.principal import Principal
from schedulers import week
from schedulers.week import SlotView as SlotView  # re-exported: the calendar route annotates with it

if TYPE_CHECKING:
    # Annotations only: the pages render these rows, but read them through their owners' functions.
    from livecommerce.broadcasts.models import Stream
    from livecommerce.catalog.models import Anchor, County, Product
    from schedulers.models import Studio

TICKER_SIZE = 15


@dataclass
class StreamCard:
    """A stream as the lists show it."""

    stream: Stream
    hosts: list[Anchor]
    pinned: Product | None = None
    gmv_fen: int = 0
    paid_orders: int = 0
    urgent: bool = False  # features a product on urgent sale


@dataclass
class LiveState:
    """What the live widgets of a stream show, folded from its outbox up to `last_seq`."""

    last_seq: int = 0
    sales: dict[str, int] = field(default_factory=lambda: {"gmv_fen": 0, "paid_orders": 0, "units": 0})
    viewers: int = 0
    ticker: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class StreamPage:
    """Everything the stream and dashboard pages render."""

    stream: Stream
    hosts: list[Anchor]
    products: list[Product]
    pinned: Product | None
    studio: Studio | None
    live: LiveState
    county_ids: set[int]


async def hosts_of(session: AsyncSession, stream_ids: Sequence[int]) -> dict[int, list[Anchor]]:
    """The anchors hosting each stream."""
    if not stream_ids:
        return {}
    host_ids = await broadcasts.host_ids_by_stream(session, stream_ids)
    anchors = {a.id: a for a in await catalog.anchors_by_ids(session, {i for ids in host_ids.values() for i in ids})}
    return {sid: [anchors[i] for i in sorted(ids) if i in anchors] for sid, ids in host_ids.items()}


async def latest_event_data(session: AsyncSession, stream_id: int, type: EventType) -> dict[str, Any] | None:
    """The data of a stream's most recent event of one type."""
    return await events.latest_event_data(session, stream_id, type)


async def live_state(session: AsyncSession, stream_id: int) -> LiveState:
    """The stream's live figures and recent orders, as of its latest event."""
    state = LiveState()
    state.last_seq = await events.last_seq(session, stream_id)
    sales = await latest_event_data(session, stream_id, EventType.sales_updated)
    if sales:
        state.sales = {k: int(sales.get(k, 0)) for k in ("gmv_fen", "paid_orders", "units")}
    viewers = await latest_event_data(session, stream_id, EventType.viewers_updated)
    if viewers:
        state.viewers = int(viewers.get("count", 0))
    state.ticker = await events.latest_envelopes(session, stream_id, [EventType.order_placed, EventType.order_paid], TICKER_SIZE)
    return state


async def stream_page(session: AsyncSession, stream_id: int) -> StreamPage:
    """The stream with its hosts, products, studio and live state; NotFound for an unknown id."""
    stream = await streams.get_stream(session, stream_id)
    hosts = (await hosts_of(session, [stream_id]))[stream_id]
    product_ids = await streams.featured_product_ids(session, stream_id)
    products = await catalog.products_by_ids(session, product_ids)
    pinned = next((p for p in products if p.id == stream.pinned_product_id), None)
    studio = await week.get_studio(session, stream.studio_id) if stream.studio_id is not None else None
    return StreamPage(
        stream=stream,
        hosts=hosts,
        products=products,
        pinned=pinned,
        studio=studio,
        live=await live_state(session, stream_id),
        county_ids=await streams.stream_county_ids(session, stream_id),
    )


async def _cards(session: AsyncSession, rows: Sequence[Stream], *, with_sales: bool = False) -> list[StreamCard]:
    ids = [s.id for s in rows if s.id is not None]
    hosts = await hosts_of(session, ids)
    pinned_ids = [s.pinned_product_id for s in rows if s.pinned_product_id is not None]
    pinned: dict[int | None, Product] = {}
    if pinned_ids:
        pinned = {p.id: p for p in await catalog.products_by_ids(session, pinned_ids)}
    cards = []
    for s in rows:
        assert s.id is not None
        card = StreamCard(stream=s, hosts=hosts.get(s.id, []), pinned=pinned.get(s.pinned_product_id))
        if with_sales:
            sales = await latest_event_data(session, s.id, EventType.sales_updated) or {}
            card.gmv_fen, card.paid_orders = int(sales.get("gmv_fen", 0)), int(sales.get("paid_orders", 0))
        cards.append(card)
    return cards


async def home_streams(session: AsyncSession, now: datetime, limit: int = 30) -> tuple[list[StreamCard], list[StreamCard]]:
    """Streams live now, and those still to come (soonest first)."""
    live = await broadcasts.live_streams(session, limit)
    upcoming = await _cards(session, await broadcasts.upcoming_streams(session, now, limit))
    # Broadcasts offering produce on urgent sale come first, each group still soonest first.
    for card in upcoming:
        assert card.stream.id is not None
        featured = await catalog.products_by_ids(session, await streams.featured_product_ids(session, card.stream.id))
        card.urgent = any(catalog_service.is_urgent(p, now) for p in featured)
    upcoming.sort(key=lambda c: not c.urgent)
    return await _cards(session, live), upcoming


async def _visible(session: AsyncSession, principal: Principal, rows: Sequence[Stream]) -> list[Stream]:
    if principal.is_admin:
        return list(rows)
    kept = []
    for s in rows:
        assert s.id is not None
        if principal.county_ids & await streams.stream_county_ids(session, s.id):
            kept.append(s)
    return kept


async def day_streams(session: AsyncSession, principal: Principal, start: datetime, end: datetime) -> list[StreamCard]:
    """The streams of one day (and any still live) that the organizer may see, with their sales."""
    rows = await _visible(session, principal, await broadcasts.streams_overlapping(session, start, end, 200))
    return await _cards(session, rows, with_sales=True)


async def report_streams(session: AsyncSession, principal: Principal, limit: int = 50) -> list[StreamCard]:
    """Streams that have sold or are selling, newest first, within the organizer's counties."""
    candidates = await broadcasts.streams_in_states(session, [StreamStatus.live, StreamStatus.ended], limit * 4)
    rows = (await _visible(session, principal, candidates))[:limit]
    return await _cards(session, rows, with_sales=True)


async def counties_for(session: AsyncSession, principal: Principal) -> list[County]:
    """The counties an organizer acts for (all of them for admins)."""
    return await catalog.counties_by_ids(session, None if principal.is_admin else principal.county_ids)


async def paid_per_minute(session: AsyncSession, stream_id: int, now: datetime, minutes: int = 30) -> list[int]:
    """Paid orders in each of the last `minutes` minutes (oldest first), counted from the outbox."""
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)
    counts = [0] * minutes
    for ts in await events.event_times(session, stream_id, EventType.order_paid, start):
        index = int((ts - start).total_seconds() // 60)
        if 0 <= index < minutes:
            counts[index] += 1
    return counts


async def week_slots(
    session: AsyncSession, anchor_id: int | None, start: datetime, end: datetime, *, county_ids: frozenset[int] | None = None
) -> list[SlotView]:
    """Every slot of the week that those counties may book (None: every one), marking those the anchor hosts."""
    return await week.week_slots(session, anchor_id, start, end, county_ids=county_ids)


async def anchor_streams(session: AsyncSession, anchor_id: int, start: datetime, end: datetime) -> list[StreamCard]:
    """The anchor's streams in a window, and any of theirs that is live."""
    return await _cards(session, await broadcasts.streams_hosted_by(session, anchor_id, start, end))


async def bookable_products(session: AsyncSession, county_ids: set[int]) -> list[Product]:
    """Active products of the given counties, for the booking form."""
    return await catalog.active_products_of_counties(session, county_ids)


async def anchors_for(session: AsyncSession, principal: Principal) -> list[Anchor]:
    """The hosts a user may book for: their own, or every anchor of an organizer's counties."""
    if principal.role == "cadre":
        if principal.anchor_id is None:
            return []
        return await catalog.anchors_by_ids(session, [principal.anchor_id])
    return await catalog.anchors_of_counties(session, None if principal.is_admin else principal.county_ids)
