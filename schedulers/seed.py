"""Load a ready-made schedule (a campaign, its studios, slots and bookings) as the demo needs it.

The demo loader sits in the composition root and must not write the scheduler's tables itself;
it describes the schedule in plain data and this module, the tables' owner, writes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.broadcasts import service as broadcasts
from schedulers.models import Booking, BookingAnchor, BookingProduct, BookingStatus, Campaign, Slot, Studio


@dataclass(frozen=True)
class SeedStudio:
    """A studio by a key the bookings refer to."""

    key: str
    name: str
    platform: str
    county_id: int | None = None  # None: a studio shared by every county


@dataclass(frozen=True)
class SeedBooking:
    """A slot taken by a booking with its stream; `status` is requested, confirmed or live."""

    studio: str
    starts_at: datetime
    title: str
    anchor_ids: tuple[int, ...]
    product_ids: tuple[int, ...]
    status: Literal["requested", "confirmed", "live"]


@dataclass(frozen=True)
class SeedSchedule:
    """A campaign with its studios, booked slots and open slots, each slot `slot_length` long."""

    campaign: str
    description: str
    starts_at: datetime
    ends_at: datetime
    studios: tuple[SeedStudio, ...]
    bookings: tuple[SeedBooking, ...]
    open_slots: tuple[tuple[str, datetime], ...]
    slot_length: timedelta = timedelta(hours=2)


async def campaign_exists(session: AsyncSession, name: str) -> bool:
    """Whether a campaign of this name exists already."""
    return await session.scalar(select(col(Campaign.id)).where(col(Campaign.name) == name).limit(1)) is not None


async def _studio(session: AsyncSession, seed: SeedStudio) -> Studio:
    studio = (await session.scalars(select(Studio).where(col(Studio.name) == seed.name).limit(1))).first()
    return studio or Studio(name=seed.name, platform=seed.platform, county_id=seed.county_id)


async def seed_schedule(session: AsyncSession, plan: SeedSchedule, *, now: datetime) -> None:
    """Write the campaign and everything in it; a live booking's stream goes live with its first product pinned."""
    campaign = Campaign(name=plan.campaign, description=plan.description, starts_at=plan.starts_at, ends_at=plan.ends_at)
    session.add(campaign)
    studios: dict[str, Studio] = {}
    for seed in plan.studios:
        studio = await _studio(session, seed)
        session.add(studio)
        studios[seed.key] = studio
    await session.flush()
    for booked in plan.bookings:
        await _book(session, campaign, studios[booked.studio], booked, plan.slot_length, now)
    for studio_key, starts_at in plan.open_slots:
        studio_id = studios[studio_key].id
        assert studio_id is not None
        session.add(Slot(studio_id=studio_id, campaign_id=campaign.id, starts_at=starts_at, ends_at=starts_at + plan.slot_length))
    await session.flush()


async def _book(session: AsyncSession, campaign: Campaign, studio: Studio, booked: SeedBooking, length: timedelta, now: datetime) -> None:
    assert studio.id is not None
    ends_at = booked.starts_at + length
    status = BookingStatus(booked.status)
    slot = Slot(studio_id=studio.id, campaign_id=campaign.id, starts_at=booked.starts_at, ends_at=ends_at, created_at=now)
    session.add(slot)
    await session.flush()
    assert slot.id is not None
    booking = Booking(
        slot_id=slot.id,
        status=status,
        starts_at=booked.starts_at,
        ends_at=ends_at,
        created_at=now,
        confirmed_at=None if status is BookingStatus.requested else now,
    )
    session.add(booking)
    await session.flush()
    assert booking.id is not None
    session.add_all([BookingAnchor(booking_id=booking.id, anchor_id=a) for a in booked.anchor_ids])
    session.add_all([BookingProduct(booking_id=booking.id, product_id=p) for p in booked.product_ids])
    stream = await broadcasts.create_stream(
        session,
        title=booked.title,
        scheduled_start=booked.starts_at,
        scheduled_end=ends_at,
        anchor_ids=booked.anchor_ids,
        product_ids=booked.product_ids,
        booking_id=booking.id,
        studio_id=studio.id,
    )
    assert stream.id is not None
    booking.stream_id = stream.id
    session.add(booking)
    await session.flush()
    if status is BookingStatus.live:
        await broadcasts.start_stream(session, stream.id, now=now)
        await broadcasts.pin_product(session, stream.id, booked.product_ids[0], now=now)
