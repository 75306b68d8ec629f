"""The event envelope and the publish side of the bus: the transactional outbox.

Every state change a viewer should see is written here in the same transaction as the
change itself, with a per-stream `seq` taken under a row lock on the stream's counter.
Because that lock is held until commit, events of one stream become visible in `seq`
order with no holes, which is what lets the relay resume from `since=<seq>` gap-free.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, UniqueConstraint, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from livecommerce.clock import utcnow
from livecommerce.types import UTCDateTime

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
    seq = await session.scalar(
        update(StreamSequence)
        .where(col(StreamSequence.stream_id) == stream_id)
        .values(last_seq=col(StreamSequence.last_seq) + 1)
        .returning(col(StreamSequence.last_seq))
    )
    if seq is None:
        await ensure_stream_sequence(session, stream_id)
        return await append_event(session, stream_id, type, data, ts=ts)
    event = OutboxEvent(stream_id=stream_id, seq=seq, type=str(type), ts=ts or utcnow(), data=data)
    session.add(event)
    await session.flush()
    session.info.setdefault(PENDING_EVENTS_KEY, []).append(event.envelope())
    return event


def pending_events(session: AsyncSession) -> list[dict[str, Any]]:
    """The envelopes appended in this session's transaction (read by after-commit hooks)."""
    return list(session.info.get(PENDING_EVENTS_KEY, []))
