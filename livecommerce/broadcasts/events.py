"""The event envelope and the publish side of the bus: the transactional outbox.

Every state change a viewer should see is written here in the same transaction as the
change itself, with a per-stream `seq` taken under a row lock on the stream's counter.
Because that lock is held until commit, events of one stream become visible in `seq`
order with no holes, which is what lets the relay resume from `since=<seq>` gap-free.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Table, bindparam, case, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from livecommerce.broadcasts.models import AudienceMinute, Deployment, OutboxEvent, StreamAudience, StreamSequence, new_epoch
from livecommerce.kit.clock import utcnow
from livecommerce.kit.db import insert_or_ignore
from livecommerce.kit.tables import table_of

PENDING_EVENTS_KEY = "livecommerce.pending_stream_events"
PENDING_EPOCHS_KEY = "livecommerce.pending_stream_epochs"


class EventType(StrEnum):
    """The event types fixed by the contract."""

    stream_started = "stream.started"
    stream_ended = "stream.ended"
    product_pinned = "product.pinned"
    order_placed = "order.placed"
    order_paid = "order.paid"
    order_cancelled = "order.cancelled"
    order_refunded = "order.refunded"
    stock_changed = "stock.changed"
    sales_updated = "sales.updated"
    viewers_updated = "viewers.updated"
    flash_announced = "flash.announced"
    flash_started = "flash.started"
    flash_ended = "flash.ended"
    chat_message = "chat.message"
    chat_hidden = "chat.hidden"


@dataclass(frozen=True, slots=True)
class AppendedEvent:
    """An event as `append_events` wrote it: the outbox row's fields, made without building an ORM object per event."""

    id: int
    stream_id: int
    seq: int
    type: str
    ts: datetime
    data: dict[str, Any]

    def envelope(self) -> dict[str, Any]:
        """The wire form of the event (as `OutboxEvent.envelope` gives it)."""
        return {"seq": self.seq, "type": self.type, "stream_id": self.stream_id, "ts": self.ts.isoformat(), "data": self.data}


async def ensure_stream_sequence(session: AsyncSession, stream_id: int) -> None:
    """Create the stream's counter (call once, when the stream is created)."""
    exists = await session.scalar(select(col(StreamSequence.stream_id)).where(col(StreamSequence.stream_id) == stream_id))
    if exists is None:
        await session.execute(insert(StreamSequence).values(stream_id=stream_id, last_seq=0, epoch=new_epoch()))


async def append_event(
    session: AsyncSession, stream_id: int, type: EventType | str, data: dict[str, Any], *, ts: datetime | None = None
) -> AppendedEvent:
    """Write one event to the outbox in the caller's transaction and return it.

    Call it last in a transaction (after the stock and order rows are locked) so the lock
    on the stream's counter is held as briefly as possible and always in the same order.
    """
    return (await append_events(session, stream_id, [(type, data)], ts=ts))[0]


# Built once: a statement object reused across calls keeps its compiled form and cache key.
_TAKE_SEQS = (
    update(StreamSequence)
    .where(col(StreamSequence.stream_id) == bindparam("sid"))
    .values(last_seq=col(StreamSequence.last_seq) + bindparam("n"))
    .returning(col(StreamSequence.last_seq), col(StreamSequence.epoch))
    .execution_options(synchronize_session=False)
)
_OUTBOX: Table = table_of(OutboxEvent)
_INSERT_EVENTS = insert(_OUTBOX).returning(_OUTBOX.c.id, sort_by_parameter_order=True)


async def append_events(
    session: AsyncSession, stream_id: int, events: Sequence[tuple[EventType | str, dict[str, Any]]], *, ts: datetime | None = None
) -> list[AppendedEvent]:
    """Write several events of one stream to the outbox, in order, with consecutive seqs; return them.

    One counter update takes all the seqs (`last_seq = last_seq + n`) and one multi-row
    insert writes the events: two round trips whatever their number, so the stream's
    counter row stays locked for as short a time as possible. Same contract as
    `append_event`: call it last in the transaction; the envelopes reach the after-commit
    hooks through `pending_events`.
    """
    if not events:
        return []
    taken = (await session.execute(_TAKE_SEQS, {"sid": stream_id, "n": len(events)})).first()
    if taken is None:
        await ensure_stream_sequence(session, stream_id)
        return await append_events(session, stream_id, events, ts=ts)
    last, epoch = int(taken[0]), str(taken[1])
    when = ts or utcnow()
    first = last - len(events) + 1
    values: list[dict[str, Any]] = [
        {"stream_id": stream_id, "seq": first + i, "type": str(type), "ts": when, "data": data} for i, (type, data) in enumerate(events)
    ]
    ids = (await session.execute(_INSERT_EVENTS, values)).scalars()
    rows = [AppendedEvent(event_id, stream_id, v["seq"], v["type"], when, v["data"]) for v, event_id in zip(values, ids, strict=True)]
    await _count_audience(session, stream_id, [r for r in rows if r.type == EventType.viewers_updated.value])
    session.info.setdefault(PENDING_EVENTS_KEY, []).extend(row.envelope() for row in rows)
    session.info.setdefault(PENDING_EPOCHS_KEY, {})[stream_id] = epoch
    return rows


_AUDIENCE: Table = table_of(StreamAudience)
_AUDIENCE_MINUTES: Table = table_of(AudienceMinute)


def viewer_count(data: dict[str, Any]) -> int | None:
    """The count a `viewers.updated` event reports (None when it carries no whole number)."""
    count = data.get("count")
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def floor_minute(at: datetime) -> datetime:
    """The clock minute (UTC) a moment falls in, as `kit.buckets.minute_of` computes it in the database."""
    return at.astimezone(UTC).replace(second=0, microsecond=0)


async def _count_audience(session: AsyncSession, stream_id: int, counts: Sequence[AppendedEvent]) -> None:
    """Fold appended viewer counts into the stream's per-minute rows and its peak, in the append's transaction.

    The caller holds the stream's sequence row, so these rows (the stream's own) are only ever
    taken after it: no other stream waits, and no new lock order. A minute's `last` is the
    count of its highest seq, whatever order the events' times came in.
    """
    if not counts:
        return
    minutes: dict[datetime, dict[str, Any]] = {}
    for event in sorted(counts, key=lambda e: e.seq):
        count = viewer_count(event.data)
        at = floor_minute(event.ts)
        row = minutes.setdefault(at, {"stream_id": stream_id, "minute": at, "peak": 0, "last": 0, "last_seq": 0})
        row["peak"] = max(row["peak"], count or 0)
        row["last"], row["last_seq"] = count or 0, event.seq
    postgres = session.get_bind().dialect.name == "postgresql"
    greatest = func.greatest if postgres else func.max  # SQLite's max() of two arguments is the scalar one
    dialect_insert = postgresql.insert if postgres else sqlite.insert
    stmt = dialect_insert(_AUDIENCE_MINUTES)
    stmt = stmt.on_conflict_do_update(
        index_elements=["stream_id", "minute"],
        set_={
            "peak": greatest(_AUDIENCE_MINUTES.c.peak, stmt.excluded.peak),
            "last": case((stmt.excluded.last_seq > _AUDIENCE_MINUTES.c.last_seq, stmt.excluded.last), else_=_AUDIENCE_MINUTES.c.last),
            "last_seq": greatest(_AUDIENCE_MINUTES.c.last_seq, stmt.excluded.last_seq),
        },
    )
    await session.execute(stmt, [minutes[at] for at in sorted(minutes)])
    peak = max(row["peak"] for row in minutes.values())
    whole = dialect_insert(_AUDIENCE).values(stream_id=stream_id, peak_viewers=peak, unique_viewers=0)
    whole = whole.on_conflict_do_update(
        index_elements=["stream_id"], set_={"peak_viewers": greatest(_AUDIENCE.c.peak_viewers, whole.excluded.peak_viewers)}
    )
    await session.execute(whole)


def pending_events(session: AsyncSession) -> list[dict[str, Any]]:
    """The envelopes appended in this session's transaction (read by after-commit hooks)."""
    return list(session.info.get(PENDING_EVENTS_KEY, []))


async def last_seq(session: AsyncSession, stream_id: int) -> int:
    """The seq of the stream's latest event (0 before its first)."""
    seq = await session.scalar(select(func.max(col(OutboxEvent.seq))).where(col(OutboxEvent.stream_id) == stream_id))
    return int(seq or 0)


async def latest_event_data(session: AsyncSession, stream_id: int, type: EventType) -> dict[str, Any] | None:
    """The data of the stream's most recent event of one type."""
    stmt = (
        select(col(OutboxEvent.data))
        .where(col(OutboxEvent.stream_id) == stream_id, col(OutboxEvent.type) == type.value)
        .order_by(col(OutboxEvent.seq).desc())
        .limit(1)
    )
    data = await session.scalar(stmt)
    return dict(data) if data else None


async def latest_envelopes(session: AsyncSession, stream_id: int, types: Sequence[EventType], limit: int) -> list[dict[str, Any]]:
    """The wire form of the stream's last `limit` events of these types, oldest first."""
    stmt = (
        select(OutboxEvent)
        .where(col(OutboxEvent.stream_id) == stream_id, col(OutboxEvent.type).in_([t.value for t in types]))
        .order_by(col(OutboxEvent.seq).desc())
        .limit(limit)
    )
    return [e.envelope() for e in reversed((await session.scalars(stmt)).all())]


async def event_times(session: AsyncSession, stream_id: int, type: EventType, since: datetime) -> list[datetime]:
    """When each of the stream's events of one type since `since` happened."""
    stmt = select(col(OutboxEvent.ts)).where(
        col(OutboxEvent.stream_id) == stream_id, col(OutboxEvent.type) == type.value, col(OutboxEvent.ts) >= since
    )
    return list((await session.scalars(stmt)).all())


def pending_epochs(session: AsyncSession) -> dict[int, str]:
    """The history epoch of each stream this session's transaction appended to."""
    return dict(session.info.get(PENDING_EPOCHS_KEY, {}))


async def deployment_namespace(session: AsyncSession) -> str:
    """This deployment's namespace (created if the row is missing, e.g. a database built without migrations)."""
    namespace = await session.scalar(select(col(Deployment.namespace)).where(col(Deployment.id) == 1))
    if namespace is not None:
        return str(namespace)
    await insert_or_ignore(session, Deployment, {"id": 1, "namespace": secrets.token_hex(8), "created_at": utcnow()})
    # Another instance may have won the race: whatever row exists now is the namespace.
    return str(await session.scalar(select(col(Deployment.namespace)).where(col(Deployment.id) == 1)))


async def stream_heads(session: AsyncSession, stream_ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    """The last committed seq and the history epoch of each stream that has a counter."""
    ids = list(stream_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(col(StreamSequence.stream_id), col(StreamSequence.last_seq), col(StreamSequence.epoch)).where(
            col(StreamSequence.stream_id).in_(ids)
        )
    )
    return {int(stream_id): (int(last_seq), str(epoch)) for stream_id, last_seq, epoch in rows.all()}


async def events_after(
    session: AsyncSession, stream_id: int, after_seq: int, until: int | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    """Committed envelopes of a stream with after_seq < seq <= until, in seq order (by the unique index)."""
    stmt = select(OutboxEvent).where(col(OutboxEvent.stream_id) == stream_id, col(OutboxEvent.seq) > after_seq)
    if until is not None:
        stmt = stmt.where(col(OutboxEvent.seq) <= until)
    rows = (await session.scalars(stmt.order_by(col(OutboxEvent.seq)).limit(limit))).all()
    return [row.envelope() for row in rows]


async def event_at(session: AsyncSession, stream_id: int, seq: int) -> dict[str, Any] | None:
    """The envelope of one committed event, or None."""
    row = await session.scalar(select(OutboxEvent).where(col(OutboxEvent.stream_id) == stream_id, col(OutboxEvent.seq) == seq))
    return None if row is None else row.envelope()


async def rotate_epoch(session: AsyncSession, stream_id: int, expected: str) -> str:
    """Give the stream's history a new epoch if it is still `expected` (compare-and-set); the epoch now in force."""
    fresh = new_epoch()
    await session.execute(
        update(StreamSequence)
        .where(col(StreamSequence.stream_id) == stream_id, col(StreamSequence.epoch) == expected)
        .values(epoch=fresh)
        .execution_options(synchronize_session=False)
    )
    current = await session.scalar(select(col(StreamSequence.epoch)).where(col(StreamSequence.stream_id) == stream_id))
    return str(current) if current is not None else fresh


async def last_event_data(session: AsyncSession, stream_id: int, type: EventType | str) -> dict[str, Any] | None:
    """The data of the stream's latest event of one type, or None."""
    data = await session.scalar(
        select(col(OutboxEvent.data))
        .where(col(OutboxEvent.stream_id) == stream_id, col(OutboxEvent.type) == str(type))
        .order_by(col(OutboxEvent.seq).desc())
        .limit(1)
    )
    return None if data is None else dict(data)
