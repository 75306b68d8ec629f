"""The tables of broadcasts: streams, their hosts and featured products, and the per-stream event log.

Only `livecommerce.broadcasts` imports this module (an import-linter contract): everyone else
goes through `service.py`, `repository.py` and `events.py`.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

# Re-exported for the modules that still import it from here (each is a pending ignore in pyproject.toml).
from livecommerce.broadcasts.schemas import StreamStatus as StreamStatus
from livecommerce.kit.clock import utcnow
from livecommerce.kit.types import UTCDateTime


class Stream(SQLModel, table=True):
    """One broadcast, created with its booking."""

    __tablename__ = "streams"
    __table_args__ = (Index("ix_streams_status_start", "status", "scheduled_start"),)

    id: int | None = Field(default=None, primary_key=True)
    booking_id: int | None = Field(default=None, index=True)
    title: str = Field(max_length=200)
    status: str = Field(default=StreamStatus.scheduled, max_length=16)
    studio_id: int | None = Field(default=None)
    scheduled_start: datetime = Field(sa_type=UTCDateTime)
    scheduled_end: datetime = Field(sa_type=UTCDateTime)
    auto_start: bool = Field(default=True)
    # Booked in a certified-only campaign: its flash deals offer certified products only.
    certified_only: bool = Field(default=False)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    pinned_product_id: int | None = Field(default=None, foreign_key="products.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StreamHost(SQLModel, table=True):
    """An anchor hosting a stream."""

    __tablename__ = "stream_hosts"

    stream_id: int = Field(foreign_key="streams.id", primary_key=True, ondelete="CASCADE")
    anchor_id: int = Field(foreign_key="anchors.id", primary_key=True, index=True)


class StreamProduct(SQLModel, table=True):
    """A product featured in a stream (only these can be ordered in it)."""

    __tablename__ = "stream_products"

    stream_id: int = Field(foreign_key="streams.id", primary_key=True, ondelete="CASCADE")
    product_id: int = Field(foreign_key="products.id", primary_key=True, index=True)


class StreamSequence(SQLModel, table=True):
    """The last `seq` handed out for a stream."""

    __tablename__ = "stream_sequences"

    stream_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    last_seq: int = Field(default=0)
    # The stream's history generation: Redis copies of events are kept under it, and a copy
    # found to disagree with the outbox (the database was rewound) makes the relay take a new one.
    epoch: str = Field(default_factory=lambda: new_epoch(), max_length=16)


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


def new_epoch() -> str:
    """A fresh random epoch for a stream's history."""
    return secrets.token_hex(8)


class Deployment(SQLModel, table=True):
    """The identity of this deployment's event log: one row, written by the first migration that knows it.

    Its namespace prefixes every Redis channel and key the relay uses, so two deployments
    (or two databases) sharing one Redis server never hear each other.
    """

    __tablename__ = "deployments"

    id: int = Field(default=1, sa_column=Column(Integer, primary_key=True, autoincrement=False))
    namespace: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StreamAudience(SQLModel, table=True):
    """A stream's audience so far, kept as it happens: the highest `viewers.updated` count, and the signed-in viewers recorded.

    `peak_viewers` moves with each viewer count appended to the log (under the stream's
    sequence row, which the append holds anyway); `unique_viewers` with each first visit
    of a signed-in user (`audience.record_viewer`).
    """

    __tablename__ = "stream_audience"

    stream_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    peak_viewers: int = Field(default=0)
    unique_viewers: int = Field(default=0)


class AudienceMinute(SQLModel, table=True):
    """The viewer counts one clock minute (UTC) of a stream's log reported: the highest, and the last (the one of the highest seq)."""

    __tablename__ = "audience_minutes"

    stream_id: int = Field(primary_key=True)
    minute: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    peak: int = Field(default=0)
    last: int = Field(default=0)
    last_seq: int = Field(default=0)
