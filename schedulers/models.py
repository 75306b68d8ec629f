"""Studios, campaigns, slots and the bookings of anchors into them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Index, UniqueConstraint
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
    # The county whose organizers see and run it; None: a shared studio every organizer sees and books, only admins change.
    county_id: int | None = Field(default=None, foreign_key="counties.id", index=True)


class Campaign(SQLModel, table=True):
    """A named drive, such as a Consumer Poverty Alleviation Month."""

    __tablename__ = "campaigns"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    # Only certified poverty-alleviation products may be booked or offered in flash deals.
    certified_only: bool = Field(default=False)


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
    """An anchor in a booking: the host (position 0), or a co-host invited until its cadre accepts."""

    __tablename__ = "booking_anchors"

    booking_id: int = Field(foreign_key="bookings.id", primary_key=True, ondelete="CASCADE")
    anchor_id: int = Field(foreign_key="anchors.id", primary_key=True, index=True)
    position: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class BookingApproval(SQLModel, table=True):
    """An organizer's agreement, for one county, to the anchors and products of that county in a booking."""

    __tablename__ = "booking_approvals"

    booking_id: int = Field(foreign_key="bookings.id", primary_key=True, ondelete="CASCADE")
    county_id: int = Field(foreign_key="counties.id", primary_key=True)
    approved_by: int | None = Field(default=None, foreign_key="users.id")
    approved_at: datetime = Field(sa_type=UTCDateTime)


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


class AnchorFollow(SQLModel, table=True):
    """A viewer following an anchor: told when its broadcasts are about to start and go live."""

    __tablename__ = "anchor_follows"

    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    anchor_id: int = Field(foreign_key="anchors.id", primary_key=True, index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StreamReminder(SQLModel, table=True):
    """A viewer's "remind me" for one broadcast."""

    __tablename__ = "stream_reminders"

    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    stream_id: int = Field(foreign_key="streams.id", primary_key=True, index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UserNotification(SQLModel, table=True):
    """One in-app notification of one user; unique per (user, kind, stream), so each goes out once."""

    __tablename__ = "user_notifications"
    __table_args__ = (UniqueConstraint("user_id", "kind", "stream_id", name="uq_user_notifications_once"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=32)
    stream_id: int = Field(foreign_key="streams.id", ondelete="CASCADE")
    at: datetime = Field(sa_type=UTCDateTime)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CampaignPlan(SQLModel, table=True):
    """A planner's proposal of bookings for a campaign's open slots; applied at most once, all or none."""

    __tablename__ = "campaign_plans"

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaigns.id", index=True)
    status: str = Field(max_length=16)  # optimal | feasible | infeasible
    objective: int = Field(default=0, sa_type=BigInteger)
    bound: int = Field(default=0, sa_type=BigInteger)
    # [{"slot_id", "anchor_ids", "product_ids"}] and [{"slot_id", "reason"}]
    assignments: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    unfilled: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    created_by: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    applied_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
