"""The studio calendar as the pages show it: slots of a window with their active booking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, or_, select

from schedulers.models import ACTIVE_BOOKING_STATUSES, Booking, BookingAnchor, Slot, Studio


@dataclass
class SlotView:
    """A studio slot in the calendar: open, or taken (by me or someone else)."""

    slot: Slot
    studio: Studio
    booking: Booking | None
    mine: bool


async def get_studio(session: AsyncSession, studio_id: int) -> Studio | None:
    """The studio, if it exists."""
    return await session.get(Studio, studio_id)


async def week_slots(
    session: AsyncSession, anchor_id: int | None, start: datetime, end: datetime, *, county_ids: frozenset[int] | None = None
) -> list[SlotView]:
    """Every slot overlapping [start, end) with its active booking, marking those the anchor hosts.

    With `county_ids`, only the slots of shared studios and of those counties' studios (the ones
    a booking of those counties may use, see `studios.serves`); None: every studio's.
    """
    stmt = (
        select(Slot, Studio)
        .join(Studio, col(Studio.id) == col(Slot.studio_id))
        .where(col(Slot.starts_at) < end, col(Slot.ends_at) > start)
        .order_by(col(Slot.starts_at), col(Studio.id))
    )
    if county_ids is not None:
        stmt = stmt.where(or_(col(Studio.county_id).is_(None), col(Studio.county_id).in_(county_ids)))
    slots = (await session.execute(stmt)).all()
    slot_ids = [slot.id for slot, _ in slots]
    bookings: dict[int, Booking] = {}
    mine: set[int] = set()
    if slot_ids:
        active = [s.value for s in ACTIVE_BOOKING_STATUSES]
        for booking in (
            await session.scalars(select(Booking).where(col(Booking.slot_id).in_(slot_ids), col(Booking.status).in_(active)))
        ).all():
            bookings[booking.slot_id] = booking
        if anchor_id is not None and bookings:
            hosted = select(col(BookingAnchor.booking_id)).where(
                col(BookingAnchor.anchor_id) == anchor_id, col(BookingAnchor.booking_id).in_([b.id for b in bookings.values()])
            )
            mine = set((await session.scalars(hosted)).all())
    views = []
    for slot, studio in slots:
        assert slot.id is not None
        taken = bookings.get(slot.id)
        views.append(SlotView(slot=slot, studio=studio, booking=taken, mine=taken is not None and taken.id in mine))
    return views
