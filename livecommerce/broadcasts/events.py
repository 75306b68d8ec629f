"""The event envelope and the publish side of the bus: the transactional outbox.

Every state change a viewer should see is written here in the same transaction as the
change itself, with a per-stream `seq` taken under a row lock on the stream's counter.
Because that lock is held until commit, events of one stream become visible in `seq`
order with no holes, which is what lets the relay resume from `since=<seq>` gap-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, Table, UniqueConstraint, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from livecommerce.kit.clock import utcnow
from livecommerce.kit.types import UTCDateTime

PENDING_EVENTS_KEY = "livecommerce.pending_stream_events"


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


class StreamSequence(SQLModel, table=True):
    """The last `seq` handed out for a stream."""

    __tablename__ = "stream_sequences"

    stream_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    last_seq: int = Field(default=0)


class OutboxEvent(SQLModel, table=True):
    """One event of one stream, kept for resume; `(stream_id, seq)` is unique and indexed."""

    __tablename__ = "outbox_events"
    __table_args__ = (
        UniqueConstraint("stream_id", "seq", name="uq_outbox_events_stream_seq"),
        Index("ix_outbox_events_ts", "ts"),
        # A review reads one kind of event of a stream (viewer counts, pins) among all its order events.
        Index("ix_outbox_events_stream_type_seq", "stream_id", "type", "seq"),
    )

    id: int | None = Field(default=None, primary_key=True)
    stream_id: int
    seq: int
    type: str = Field(max_length=32)
    ts: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)

    def envelope(self) -> dict[str, Any]:
        """The wire form of the event."""
        return {
            "seq": self.seq,
            "type": self.type,
            "stream_id": self.stream_id,
            "ts": self.ts.isoformat(),
            "data": self.data,
        }


async def ensure_stream_sequence(session: AsyncSession, stream_id: int) -> None:
    """Create the stream's counter (call once, when the stream is created)."""
    exists = await session.scalar(select(col(StreamSequence.stream_id)).where(col(StreamSequence.stream_id) == stream_id))
    if exists is None:
        await session.execute(insert(StreamSequence).values(stream_id=stream_id, last_seq=0))


async def append_event(
    session: AsyncSession, stream_id: int, type: EventType | str, data: dict[str, Any], *, ts: datetime | None = None
) -> OutboxEvent:
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
    .returning(col(StreamSequence.last_seq))
    .execution_options(synchronize_session=False)
)
_OUTBOX: Table = OutboxEvent.__table__  # type: ignore[attr-defined]
_INSERT_EVENTS = insert(_OUTBOX).returning(_OUTBOX.c.id, sort_by_parameter_order=True)


async def append_events(
    session: AsyncSession, stream_id: int, events: Sequence[tuple[EventType | str, dict[str, Any]]], *, ts: datetime | None = None
) -> list[OutboxEvent]:
    """Write several events of one stream to the outbox, in order, with consecutive seqs; return them.

    One counter update takes all the seqs (`last_seq = last_seq + n`) and one multi-row
    insert writes the events: two round trips whatever their number, so the stream's
    counter row stays locked for as short a time as possible. Same contract as
    `append_event`: call it last in the transaction; the envelopes reach the after-commit
    hooks through `pending_events`.
    """
    if not events:
        return []
    last = (await session.execute(_TAKE_SEQS, {"sid": stream_id, "n": len(events)})).scalar_one_or_none()
    if last is None:
        await ensure_stream_sequence(session, stream_id)
        return await append_events(session, stream_id, events, ts=ts)
    when = ts or utcnow()
    first = last - len(events) + 1
    rows = [OutboxEvent(stream_id=stream_id, seq=first + i, type=str(type), ts=when, data=data) for i, (type, data) in enumerate(events)]
    ids = (
        await session.execute(
            _INSERT_EVENTS, [{"stream_id": r.stream_id, "seq": r.seq, "type": r.type, "ts": r.ts, "data": r.data} for r in rows]
        )
    ).scalars()
    for row, event_id in zip(rows, ids, strict=True):
        row.id = event_id
    session.info.setdefault(PENDING_EVENTS_KEY, []).extend(row.envelope() for row in rows)
    return rows


def pending_events(session: AsyncSession) -> list[dict[str, Any]]:
    """The envelopes appended in this session's transaction (read by after-commit hooks)."""
    return list(session.info.get(PENDING_EVENTS_KEY, []))
