"""Every read of the streams, hosts and featured-products tables that other modules need."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.broadcasts.models import Stream, StreamHost, StreamProduct
from livecommerce.broadcasts.schemas import StreamStatus


async def stream_exists(session: AsyncSession, stream_id: int) -> bool:
    """Whether a stream with this id exists."""
    return await session.scalar(select(col(Stream.id)).where(col(Stream.id) == stream_id)) is not None


async def host_ids_by_stream(session: AsyncSession, stream_ids: Iterable[int]) -> dict[int, list[int]]:
    """The anchors hosting each of these streams, by anchor id."""
    wanted = sorted(set(stream_ids))
    result: dict[int, list[int]] = {sid: [] for sid in wanted}
    if not wanted:
        return result
    stmt = (
        select(col(StreamHost.stream_id), col(StreamHost.anchor_id))
        .where(col(StreamHost.stream_id).in_(wanted))
        .order_by(col(StreamHost.stream_id), col(StreamHost.anchor_id))
    )
    for stream_id, anchor_id in (await session.execute(stmt)).all():
        result[stream_id].append(anchor_id)
    return result


async def featured_ids(session: AsyncSession, stream_id: int) -> list[int]:
    """The products featured in a stream, by id."""
    stmt = select(col(StreamProduct.product_id)).where(col(StreamProduct.stream_id) == stream_id).order_by(col(StreamProduct.product_id))
    return list((await session.scalars(stmt)).all())


async def live_streams(session: AsyncSession, limit: int) -> list[Stream]:
    """Streams live now, the most recently started first."""
    stmt = select(Stream).where(col(Stream.status) == StreamStatus.live).order_by(col(Stream.started_at).desc()).limit(limit)
    return list((await session.scalars(stmt)).all())


async def upcoming_streams(session: AsyncSession, now: datetime, limit: int) -> list[Stream]:
    """Scheduled streams that have not run out yet, soonest first."""
    stmt = (
        select(Stream)
        .where(col(Stream.status) == StreamStatus.scheduled, col(Stream.scheduled_end) >= now)
        .order_by(col(Stream.scheduled_start))
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def streams_overlapping(session: AsyncSession, start: datetime, end: datetime, limit: int) -> list[Stream]:
    """Streams scheduled to overlap [start, end), and any live now, by scheduled start."""
    stmt = (
        select(Stream)
        .where(
            or_(
                col(Stream.status) == StreamStatus.live,
                (col(Stream.scheduled_start) < end) & (col(Stream.scheduled_end) > start),
            )
        )
        .order_by(col(Stream.scheduled_start))
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def streams_in_states(session: AsyncSession, states: Sequence[StreamStatus], limit: int) -> list[Stream]:
    """Streams in these states, the latest scheduled first."""
    stmt = select(Stream).where(col(Stream.status).in_([s.value for s in states])).order_by(col(Stream.scheduled_start).desc()).limit(limit)
    return list((await session.scalars(stmt)).all())


async def streams_hosted_by(session: AsyncSession, anchor_id: int, start: datetime, end: datetime) -> list[Stream]:
    """The anchor's streams overlapping [start, end), and any of theirs live now; cancelled ones left out."""
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
    return list((await session.scalars(stmt)).all())
