"""Broadcasts: their hosts, the products they feature, and their lifecycle state."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from livecommerce.kit.clock import utcnow
from livecommerce.kit.types import UTCDateTime


class StreamStatus(StrEnum):
    """A stream is scheduled, then live, then ended (or cancelled before it went live)."""

    scheduled = "scheduled"
    live = "live"
    ended = "ended"
    cancelled = "cancelled"


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
