"""Read-only views the pages render on the server; every write goes through the API.

Live figures (sales, viewers, the order ticker) are read from the stream's outbox events,
the same source the websocket replays, so a page renders exactly the state that its
`since=<seq>` subscription then continues from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.broadcasts import service as streams
from livecommerce.broadcasts.events import EventType, OutboxEvent
from livecommerce.broadcasts.models import Stream, StreamHost, StreamStatus
from livecommerce.catalog.models import Anchor, County, Product
from livecommerce.kit.principal import Principal
from schedulers.models import Booking, BookingAnchor, BookingStatus, Slot, Studio

TICKER_SIZE = 15
ACTIVE_BOOKING = (BookingStatus.requested, BookingStatus.confirmed, BookingStatus.live)


@dataclass
class StreamCard:
    """A stream as the lists show it."""

    stream: Stream
    hosts: list[Anchor]
    pinned: Product | None = None
    gmv_fen: int = 0
    paid_orders: int = 0


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
    stmt = (
        select(col(StreamHost.stream_id), Anchor)
        .join(Anchor, col(Anchor.id) == col(StreamHost.anchor_id))
        .where(col(StreamHost.stream_id).in_(stream_ids))
        .order_by(col(Anchor.id))
    )
    result: dict[int, list[Anchor]] = {sid: [] for sid in stream_ids}
    for stream_id, anchor in (await session.execute(stmt)).all():
        result[stream_id].append(anchor)
    return result


async def latest_event_data(session: AsyncSession, stream_id: int, type: EventType) -> dict[str, Any] | None:
    """The data of a stream's most recent event of one type."""
    stmt = (
        select(col(OutboxEvent.data))
        .where(col(OutboxEvent.stream_id) == stream_id, col(OutboxEvent.type) == type.value)
        .order_by(col(OutboxEvent.seq).desc())
        .limit(1)
    )
    data = await session.scalar(stmt)
    return dict(data) if data else None


async def live_state(session: AsyncSession, stream_id: int) -> LiveState:
    """The stream's live figures and recent orders, as of its latest event."""
    state = LiveState()
    last_seq = await session.scalar(select(func.max(col(OutboxEvent.seq))).where(col(OutboxEvent.stream_id) == stream_id))
    state.last_seq = int(last_seq or 0)
    sales = await latest_event_data(session, stream_id, EventType.sales_updated)
    if sales:
        state.sales = {k: int(sales.get(k, 0)) for k in ("gmv_fen", "paid_orders", "units")}
    viewers = await latest_event_data(session, stream_id, EventType.viewers_updated)
    if viewers:
        state.viewers = int(viewers.get("count", 0))
    stmt = (
        select(OutboxEvent)
        .where(
            col(OutboxEvent.stream_id) == stream_id, col(OutboxEvent.type).in_([EventType.order_placed.value, EventType.order_paid.value])
        )
        .order_by(col(OutboxEvent.seq).desc())
        .limit(TICKER_SIZE)
    )
    state.ticker = [e.envelope() for e in reversed((await session.scalars(stmt)).all())]
    return state


async def stream_page(session: AsyncSession, stream_id: int) -> StreamPage:
    """The stream with its hosts, products, studio and live state; NotFound for an unknown id."""
    stream = await streams.get_stream(session, stream_id)
    hosts = (await hosts_of(session, [stream_id]))[stream_id]
    product_ids = await streams.featured_product_ids(session, stream_id)
    products = list((await session.scalars(select(Product).where(col(Product.id).in_(product_ids)).order_by(col(Product.id)))).all())
    pinned = next((p for p in products if p.id == stream.pinned_product_id), None)
    studio = await session.get(Studio, stream.studio_id) if stream.studio_id is not None else None
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
        pinned = {p.id: p for p in (await session.scalars(select(Product).where(col(Product.id).in_(pinned_ids)))).all()}
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
    live = (
        await session.scalars(
            select(Stream).where(col(Stream.status) == StreamStatus.live).order_by(col(Stream.started_at).desc()).limit(limit)
        )
    ).all()
    upcoming = (
        await session.scalars(
            select(Stream)
            .where(col(Stream.status) == StreamStatus.scheduled, col(Stream.scheduled_end) >= now)
            .order_by(col(Stream.scheduled_start))
            .limit(limit)
        )
    ).all()
    return await _cards(session, live), await _cards(session, upcoming)


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
    stmt = (
        select(Stream)
        .where(
            or_(
                col(Stream.status) == StreamStatus.live,
                (col(Stream.scheduled_start) < end) & (col(Stream.scheduled_end) > start),
            )
        )
        .order_by(col(Stream.scheduled_start))
        .limit(200)
    )
    rows = await _visible(session, principal, (await session.scalars(stmt)).all())
    return await _cards(session, rows, with_sales=True)


async def report_streams(session: AsyncSession, principal: Principal, limit: int = 50) -> list[StreamCard]:
    """Streams that have sold or are selling, newest first, within the organizer's counties."""
    stmt = (
        select(Stream)
        .where(col(Stream.status).in_([StreamStatus.live, StreamStatus.ended]))
        .order_by(col(Stream.scheduled_start).desc())
        .limit(limit * 4)
    )
    rows = (await _visible(session, principal, (await session.scalars(stmt)).all()))[:limit]
    return await _cards(session, rows, with_sales=True)


async def counties_for(session: AsyncSession, principal: Principal) -> list[County]:
    """The counties an organizer acts for (all of them for admins)."""
    stmt = select(County).order_by(col(County.id))
    if not principal.is_admin:
        stmt = stmt.where(col(County.id).in_(sorted(principal.county_ids)))
    return list((await session.scalars(stmt)).all())


async def paid_per_minute(session: AsyncSession, stream_id: int, now: datetime, minutes: int = 30) -> list[int]:
    """Paid orders in each of the last `minutes` minutes (oldest first), counted from the outbox."""
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)
    stmt = select(col(OutboxEvent.ts)).where(
        col(OutboxEvent.stream_id) == stream_id, col(OutboxEvent.type) == EventType.order_paid.value, col(OutboxEvent.ts) >= start
    )
    counts = [0] * minutes
    for ts in (await session.scalars(stmt)).all():
        index = int((ts - start).total_seconds() // 60)
        if 0 <= index < minutes:
            counts[index] += 1
    return counts


@dataclass
class SlotView:
    """A studio slot in the calendar: open, or taken (by me or someone else)."""

    slot: Slot
    studio: Studio
    booking: Booking | None
    mine: bool


async def week_slots(session: AsyncSession, anchor_id: int | None, start: datetime, end: datetime) -> list[SlotView]:
    """Every slot of the week with its active booking, marking those the anchor hosts."""
    slots = (
        await session.execute(
            select(Slot, Studio)
            .join(Studio, col(Studio.id) == col(Slot.studio_id))
            .where(col(Slot.starts_at) < end, col(Slot.ends_at) > start)
            .order_by(col(Slot.starts_at), col(Studio.id))
        )
    ).all()
    slot_ids = [slot.id for slot, _ in slots]
    bookings: dict[int, Booking] = {}
    mine: set[int] = set()
    if slot_ids:
        for booking in (
            await session.scalars(
                select(Booking).where(col(Booking.slot_id).in_(slot_ids), col(Booking.status).in_([s.value for s in ACTIVE_BOOKING]))
            )
        ).all():
            bookings[booking.slot_id] = booking
        if anchor_id is not None and bookings:
            stmt = select(col(BookingAnchor.booking_id)).where(
                col(BookingAnchor.anchor_id) == anchor_id, col(BookingAnchor.booking_id).in_([b.id for b in bookings.values()])
            )
            mine = set((await session.scalars(stmt)).all())
    views = []
    for slot, studio in slots:
        assert slot.id is not None
        taken = bookings.get(slot.id)
        views.append(SlotView(slot=slot, studio=studio, booking=taken, mine=taken is not None and taken.id in mine))
    return views


async def anchor_streams(session: AsyncSession, anchor_id: int, start: datetime, end: datetime) -> list[StreamCard]:
    """The anchor's streams in a window, and any of theirs that is live."""
    stmt = (
        select(Stream)
        .join(StreamHost, col(StreamHost.stream_id) == col(Stream.id))
        .where(
            col(StreamHost.anchor_id) == anchor_id,
            or_(col(Stream.status) == StreamStatus.live, (col(Stream.scheduled_start) < end) & (col(Stream.scheduled_end) > start)),
            col(Stream.status) != StreamStatus.cancelled,
        )
        .order_by(col(Stream.scheduled_start))
    )
    return await _cards(session, (await session.scalars(stmt)).all())


async def bookable_products(session: AsyncSession, county_ids: set[int]) -> list[Product]:
    """Active products of the given counties, for the booking form."""
    if not county_ids:
        return []
    stmt = select(Product).where(col(Product.county_id).in_(sorted(county_ids)), col(Product.is_active)).order_by(col(Product.name))
    return list((await session.scalars(stmt)).all())


async def anchors_for(session: AsyncSession, principal: Principal) -> list[Anchor]:
    """The hosts a user may book for: their own, or every anchor of an organizer's counties."""
    if principal.role == "cadre":
        if principal.anchor_id is None:
            return []
        anchor = await session.get(Anchor, principal.anchor_id)
        return [anchor] if anchor else []
    stmt = select(Anchor).order_by(col(Anchor.name))
    if not principal.is_admin:
        stmt = stmt.where(col(Anchor.county_id).in_(sorted(principal.county_ids)))
    return list((await session.scalars(stmt)).all())
