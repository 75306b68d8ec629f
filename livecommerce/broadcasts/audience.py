"""Who watched a broadcast, and the parts of its event log a post-stream review reads.

The relay counts viewers as they come and go (`viewers.updated` in the event log); this
module keeps the other half: each signed-in user who watched a stream, once, with when
they first arrived. That is what "unique viewers" and conversion are counted from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col, select

from livecommerce.broadcasts.events import EventType
from livecommerce.broadcasts.models import AudienceMinute, OutboxEvent, Stream, StreamAudience, StreamHost, StreamProduct
from livecommerce.catalog import repository as catalog
from livecommerce.kit.buckets import as_utc, minute_of
from livecommerce.kit.types import UTCDateTime

# Flash deals are being added to the contract's event types; the review reads them by name
# so it shows them as soon as they are written.
FLASH_EVENT_TYPES = ("flash.announced", "flash.started", "flash.ended")
MOMENT_EVENT_TYPES = (EventType.product_pinned.value, *FLASH_EVENT_TYPES)


class StreamViewer(SQLModel, table=True):
    """A signed-in user who watched a stream, recorded once, when first seen."""

    __tablename__ = "stream_viewers"

    stream_id: int = Field(foreign_key="streams.id", primary_key=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="users.id", primary_key=True, index=True)
    first_seen: datetime = Field(sa_type=UTCDateTime)


@dataclass(frozen=True)
class LoggedEvent:
    """One event of a stream's log, as a review reads it."""

    seq: int
    type: str
    ts: datetime
    data: dict[str, Any]


@dataclass(frozen=True)
class MinuteViewers:
    """The audience of one clock minute, from the relay's counts."""

    at: datetime
    peak: int
    last: int


@dataclass(frozen=True)
class StreamHostName:
    """An anchor hosting a stream, with the name a report prints."""

    stream_id: int
    anchor_id: int
    name: str


async def record_viewer(session: AsyncSession, stream_id: int, user_id: int, *, now: datetime) -> None:
    """Note that a signed-in user watches the stream; a second visit changes nothing.

    A first visit also adds one to the stream's `unique_viewers` (one row per stream, taken
    after the viewer's own row and nothing else, in the caller's short transaction).
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    dialect_insert = postgresql.insert if postgres else sqlite.insert
    first = dialect_insert(StreamViewer).values(stream_id=stream_id, user_id=user_id, first_seen=now).on_conflict_do_nothing()
    inserted = (await session.execute(first.returning(col(StreamViewer.stream_id)))).first()
    if inserted is None:
        return
    counter = dialect_insert(StreamAudience).values(stream_id=stream_id, peak_viewers=0, unique_viewers=1)
    counter = counter.on_conflict_do_update(
        index_elements=["stream_id"], set_={"unique_viewers": col(StreamAudience.unique_viewers) + counter.excluded.unique_viewers}
    )
    await session.execute(counter)


async def unique_viewers(session: AsyncSession, stream_ids: Iterable[int]) -> dict[int, int]:
    """How many distinct signed-in users watched each stream (0 for none), from the running counts."""
    ids = sorted(set(stream_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(col(StreamAudience.stream_id), col(StreamAudience.unique_viewers)).where(col(StreamAudience.stream_id).in_(ids))
    )
    counts = {int(sid): int(n) for sid, n in rows.all()}
    return {sid: counts.get(sid, 0) for sid in ids}


async def recount_unique_viewers(session: AsyncSession, stream_ids: Iterable[int]) -> dict[int, int]:
    """`unique_viewers` counted from the viewer records, to check the running counts."""
    ids = sorted(set(stream_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(col(StreamViewer.stream_id), func.count()).where(col(StreamViewer.stream_id).in_(ids)).group_by(col(StreamViewer.stream_id))
    )
    counts = {int(sid): int(n) for sid, n in rows.all()}
    return {sid: counts.get(sid, 0) for sid in ids}


async def distinct_viewers(session: AsyncSession, stream_ids: Iterable[int]) -> int:
    """How many distinct signed-in users watched any of the streams."""
    ids = sorted(set(stream_ids))
    if not ids:
        return 0
    return int(
        await session.scalar(select(func.count(func.distinct(col(StreamViewer.user_id)))).where(col(StreamViewer.stream_id).in_(ids))) or 0
    )


async def events_of_types(session: AsyncSession, stream_id: int, types: Sequence[str]) -> list[LoggedEvent]:
    """The stream's events of these types, in seq order."""
    # Sorted here, not by the database: ORDER BY seq would tempt SQLite to walk the (stream, seq)
    # index through every order event instead of the (stream, type, seq) one.
    rows = await session.execute(
        select(col(OutboxEvent.seq), col(OutboxEvent.type), col(OutboxEvent.ts), col(OutboxEvent.data)).where(
            col(OutboxEvent.stream_id) == stream_id, col(OutboxEvent.type).in_(list(types))
        )
    )
    events = [LoggedEvent(seq=int(s), type=str(t), ts=ts, data=dict(d or {})) for s, t, ts, d in rows.all()]
    return sorted(events, key=lambda e: e.seq)


async def viewers_by_minute(session: AsyncSession, stream_id: int) -> list[MinuteViewers]:
    """Per clock minute with `viewers.updated` events: the highest count reported in it and the last one, in time order.

    Read from the per-minute rows the log's appends keep (`audience_minutes`): a row per
    minute, however many counts a long broadcast logged.
    """
    rows = await session.execute(
        select(col(AudienceMinute.minute), col(AudienceMinute.peak), col(AudienceMinute.last)).where(
            col(AudienceMinute.stream_id) == stream_id
        )
    )
    result = [MinuteViewers(at=as_utc(at), peak=int(peak), last=int(last)) for at, peak, last in rows.all()]
    return sorted(result, key=lambda m: m.at)


async def recount_viewers_by_minute(session: AsyncSession, stream_id: int) -> list[MinuteViewers]:
    """`viewers_by_minute` recomputed from the event log, to check the running rows."""
    minute = minute_of(session, col(OutboxEvent.ts)).label("minute")
    count = col(OutboxEvent.data)["count"].as_integer()
    mine = (col(OutboxEvent.stream_id) == stream_id, col(OutboxEvent.type) == EventType.viewers_updated.value)
    grouped = (await session.execute(select(minute, func.max(count), func.max(col(OutboxEvent.seq))).where(*mine).group_by(minute))).all()
    last_seqs = [int(seq) for _, _, seq in grouped]
    last_counts: dict[int, int] = {}
    for i in range(0, len(last_seqs), 1000):
        rows = await session.execute(select(col(OutboxEvent.seq), count).where(*mine, col(OutboxEvent.seq).in_(last_seqs[i : i + 1000])))
        last_counts.update({int(seq): int(n or 0) for seq, n in rows.all()})
    result = [MinuteViewers(at=as_utc(at), peak=int(peak or 0), last=last_counts.get(int(seq), 0)) for at, peak, seq in grouped]
    return sorted(result, key=lambda m: m.at)


async def peak_viewers(session: AsyncSession, stream_ids: Iterable[int]) -> dict[int, int]:
    """The highest `viewers.updated` count each stream reached (0 if none was logged), from the running figures."""
    ids = sorted(set(stream_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(col(StreamAudience.stream_id), col(StreamAudience.peak_viewers)).where(col(StreamAudience.stream_id).in_(ids))
    )
    peaks = {int(sid): int(n) for sid, n in rows.all()}
    return {sid: peaks.get(sid, 0) for sid in ids}


async def recount_peak_viewers(session: AsyncSession, stream_ids: Iterable[int]) -> dict[int, int]:
    """`peak_viewers` recomputed from the event log, to check the running figures."""
    ids = sorted(set(stream_ids))
    if not ids:
        return {}
    count = col(OutboxEvent.data)["count"].as_integer()
    rows = await session.execute(
        select(col(OutboxEvent.stream_id), func.max(count))
        .where(col(OutboxEvent.stream_id).in_(ids), col(OutboxEvent.type) == EventType.viewers_updated.value)
        .group_by(col(OutboxEvent.stream_id))
    )
    peaks = {int(sid): int(n or 0) for sid, n in rows.all()}
    return {sid: peaks.get(sid, 0) for sid in ids}


async def streams_by_id(session: AsyncSession, stream_ids: Iterable[int]) -> dict[int, Stream]:
    """The streams with these ids (unknown ids are left out)."""
    ids = sorted(set(stream_ids))
    if not ids:
        return {}
    rows = await session.scalars(select(Stream).where(col(Stream.id).in_(ids)))
    return {s.id: s for s in rows if s.id is not None}


async def ended_streams_serving(session: AsyncSession, county_ids: Iterable[int]) -> list[int]:
    """Ended streams that serve any of the counties (through a host or a featured product)."""
    wanted = sorted(set(county_ids))
    if not wanted:
        return []
    anchor_ids = [a.id for a in await catalog.anchors_of_counties(session, wanted) if a.id is not None]
    product_ids = await catalog.product_ids_of_counties(session, wanted)
    by_host = (
        select(col(StreamHost.stream_id))
        .join(Stream, col(Stream.id) == col(StreamHost.stream_id))
        .where(col(StreamHost.anchor_id).in_(anchor_ids), col(Stream.status) == "ended")
    )
    by_product = (
        select(col(StreamProduct.stream_id))
        .join(Stream, col(Stream.id) == col(StreamProduct.stream_id))
        .where(col(StreamProduct.product_id).in_(product_ids), col(Stream.status) == "ended")
    )
    found = set((await session.scalars(by_host)).all()) | set((await session.scalars(by_product)).all())
    return sorted(found)


async def counties_served(session: AsyncSession, stream_ids: Iterable[int]) -> dict[int, set[int]]:
    """The counties each stream serves: those of its hosts and of its featured products."""
    ids = sorted(set(stream_ids))
    served: dict[int, set[int]] = {sid: set() for sid in ids}
    if not ids:
        return served
    hosts = (
        await session.execute(select(col(StreamHost.stream_id), col(StreamHost.anchor_id)).where(col(StreamHost.stream_id).in_(ids)))
    ).all()
    featured = (
        await session.execute(
            select(col(StreamProduct.stream_id), col(StreamProduct.product_id)).where(col(StreamProduct.stream_id).in_(ids))
        )
    ).all()
    anchor_county = {a.id: a.county_id for a in await catalog.anchors_by_ids(session, {a for _, a in hosts})}
    product_county = {p.id: p.county_id for p in await catalog.products_by_ids(session, {p for _, p in featured})}
    for sid, anchor_id in hosts:
        if anchor_id in anchor_county:
            served[int(sid)].add(int(anchor_county[anchor_id]))
    for sid, product_id in featured:
        if product_id in product_county:
            served[int(sid)].add(int(product_county[product_id]))
    return served


async def hosts_of(session: AsyncSession, stream_ids: Iterable[int]) -> dict[int, list[StreamHostName]]:
    """Each stream's host anchors with their names, by anchor id."""
    ids = sorted(set(stream_ids))
    result: dict[int, list[StreamHostName]] = defaultdict(list)
    if not ids:
        return result
    rows = (
        await session.execute(
            select(col(StreamHost.stream_id), col(StreamHost.anchor_id))
            .where(col(StreamHost.stream_id).in_(ids))
            .order_by(col(StreamHost.stream_id), col(StreamHost.anchor_id))
        )
    ).all()
    names = {a.id: a.name for a in await catalog.anchors_by_ids(session, {a for _, a in rows})}
    for sid, anchor_id in rows:
        result[int(sid)].append(StreamHostName(stream_id=int(sid), anchor_id=int(anchor_id), name=str(names.get(anchor_id, ""))))
    return result
