"""Studios, campaigns, slots and the bookings of anchors into them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index
from sqlmodel import Field, SQLModel

from livecommerce.kit.clock import utcnow
from livecommerce.kit.types import UTCDateTime


class BookingStatus(StrEnum):
    """requested → confirmed → live → ended, or cancelled / no_show."""

    requested = "requested"
    confirmed = "confirmed"
    live = "live"
    ended = "ended"
    cancelled = "cancelled"
    no_show = "no_show"


class Studio(SQLModel, table=True):
    """A room or channel; one broadcast at a time."""

    __tablename__ = "studios"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128)
    platform: str = Field(max_length=64)


class Campaign(SQLModel, table=True):
    """A named drive, such as a Consumer Poverty Alleviation Month."""

    __tablename__ = "campaigns"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)


class Slot(SQLModel, table=True):
    """A window of studio time that a booking can take."""

    __tablename__ = "slots"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="order"),
        Index("ix_slots_studio_time", "studio_id", "starts_at", "ends_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    studio_id: int = Field(foreign_key="studios.id")
    campaign_id: int | None = Field(default=None, foreign_key="campaigns.id", index=True)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Booking(SQLModel, table=True):
    """Anchors booked into a slot with the products they will present."""

    __tablename__ = "bookings"
    __table_args__ = (Index("ix_bookings_status_slot", "status", "slot_id"),)

    id: int | None = Field(default=None, primary_key=True)
    slot_id: int = Field(foreign_key="slots.id", index=True)
    stream_id: int | None = Field(default=None, foreign_key="streams.id")
    status: str = Field(default=BookingStatus.requested, max_length=16)
    auto_start: bool = Field(default=True)
    created_by: int | None = Field(default=None, foreign_key="users.id")
    # Denormalized from the slot so conflict checks are one indexed range query.
    starts_at: datetime = Field(sa_type=UTCDateTime, index=True)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class BookingAnchor(SQLModel, table=True):
    """An anchor (host or co-host) in a booking."""

    __tablename__ = "booking_anchors"

    booking_id: int = Field(foreign_key="bookings.id", primary_key=True, ondelete="CASCADE")
    anchor_id: int = Field(foreign_key="anchors.id", primary_key=True, index=True)


class BookingProduct(SQLModel, table=True):
    """A product a booking will present."""

    __tablename__ = "booking_products"

    booking_id: int = Field(foreign_key="bookings.id", primary_key=True, ondelete="CASCADE")
    product_id: int = Field(foreign_key="products.id", primary_key=True)


ACTIVE_BOOKING_STATUSES = (BookingStatus.requested, BookingStatus.confirmed, BookingStatus.live)


class AnchorAvailability(SQLModel, table=True):
    """A weekly window (local time of the scheduling zone) in which an anchor can broadcast."""

    __tablename__ = "anchor_availability"
    __table_args__ = (
        CheckConstraint("weekday >= 0 AND weekday <= 6", name="weekday"),
        CheckConstraint("start_minute >= 0 AND end_minute <= 1440 AND end_minute > start_minute", name="window"),
    )

    id: int | None = Field(default=None, primary_key=True)
    anchor_id: int = Field(foreign_key="anchors.id", index=True, ondelete="CASCADE")
    weekday: int  # 0 = Monday
    start_minute: int  # minutes after local midnight
    end_minute: int


class AnchorLimit(SQLModel, table=True):
    """Per-anchor overrides of the booking limits in the settings."""

    __tablename__ = "anchor_limits"

    anchor_id: int = Field(foreign_key="anchors.id", primary_key=True, ondelete="CASCADE")
    max_broadcasts_per_week: int | None = Field(default=None)
    max_air_minutes_per_day: int | None = Field(default=None)


class SentNotification(SQLModel, table=True):
    """A notification that went out; the unique key is what makes a reminder go out once."""

    __tablename__ = "sent_notifications"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=128, unique=True, index=True)
    kind: str = Field(max_length=32)
    booking_id: int | None = Field(default=None, index=True)
    county_id: int | None = Field(default=None)
    recipients: str = Field(default="", max_length=2000)
    content: str = Field(default="", max_length=4000)
    sent_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SchedulerLease(SQLModel, table=True):
    """The leader lease of the scheduler where no advisory lock exists (SQLite)."""

    __tablename__ = "scheduler_leases"

    name: str = Field(max_length=64, primary_key=True)
    holder: str = Field(max_length=128)
    expires_at: datetime = Field(sa_type=UTCDateTime)
