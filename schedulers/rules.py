"""The booking rules: overlaps (with buffers), notice, availability windows and per-anchor limits.

Every rule yields `Clash` items rather than raising, so one refusal names every reason at once.
Days and weeks are those of the scheduling zone (Asia/Shanghai by default), weeks start Monday.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.kit.settings import Settings
from schedulers.models import ACTIVE_BOOKING_STATUSES, AnchorAvailability, AnchorLimit, Booking, BookingAnchor, BookingStatus, Slot
from schedulers.schemas import Clash

# Bookings that count towards an anchor's limits: everything that took (or will take) air time.
COUNTED_STATUSES = (*ACTIVE_BOOKING_STATUSES, BookingStatus.ended)


async def find_clashes(
    session: AsyncSession,
    *,
    slot: Slot,
    anchor_ids: Sequence[int],
    settings: Settings,
    now: datetime,
    ignore_booking_id: int | None = None,
) -> list[Clash]:
    """Every reason the anchors cannot be booked into the slot (empty when they can).

    `ignore_booking_id` leaves one booking out of every count: the booking being moved.
    """
    clashes: list[Clash] = []
    notice = timedelta(minutes=settings.booking_min_notice_minutes)
    if slot.starts_at < now + notice:
        clashes.append(
            Clash(
                kind="notice",
                slot_id=slot.id,
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
                detail=f"bookings need {settings.booking_min_notice_minutes} minutes' notice",
            )
        )
    clashes += await studio_clashes(session, slot=slot, settings=settings)
    clashes += await anchor_clashes(session, starts_at=slot.starts_at, ends_at=slot.ends_at, anchor_ids=anchor_ids, settings=settings)
    for anchor_id in sorted(anchor_ids):
        clashes += await availability_clashes(session, anchor_id, slot.starts_at, slot.ends_at, settings)
        clashes += await limit_clashes(session, anchor_id, slot.starts_at, slot.ends_at, settings, ignore_booking_id=ignore_booking_id)
    if ignore_booking_id is not None:
        clashes = [c for c in clashes if c.booking_id != ignore_booking_id]
    return clashes


def _overlapping(starts_at: datetime, ends_at: datetime, buffer: timedelta) -> list[object]:
    return [col(Booking.starts_at) < ends_at + buffer, col(Booking.ends_at) > starts_at - buffer]


async def studio_clashes(session: AsyncSession, *, slot: Slot, settings: Settings) -> list[Clash]:
    """Active bookings of the slot's studio whose time (plus buffers) overlaps the slot."""
    buffer = timedelta(minutes=settings.booking_buffer_minutes)
    stmt = (
        select(Booking)
        .join(Slot, col(Slot.id) == col(Booking.slot_id))
        .where(col(Slot.studio_id) == slot.studio_id, col(Booking.status).in_(ACTIVE_BOOKING_STATUSES))
        .where(*_overlapping(slot.starts_at, slot.ends_at, buffer))  # type: ignore[arg-type]
        .order_by(col(Booking.starts_at), col(Booking.id))
    )
    return [
        Clash(
            kind="studio",
            booking_id=b.id,
            studio_id=slot.studio_id,
            slot_id=b.slot_id,
            starts_at=b.starts_at,
            ends_at=b.ends_at,
            detail="the studio is booked at an overlapping time",
        )
        for b in (await session.scalars(stmt)).all()
    ]


async def anchor_clashes(
    session: AsyncSession, *, starts_at: datetime, ends_at: datetime, anchor_ids: Sequence[int], settings: Settings
) -> list[Clash]:
    """Active bookings of any of the anchors whose time (plus buffers) overlaps."""
    buffer = timedelta(minutes=settings.booking_buffer_minutes)
    stmt = (
        select(Booking, col(BookingAnchor.anchor_id))
        .join(BookingAnchor, col(BookingAnchor.booking_id) == col(Booking.id))
        .where(col(BookingAnchor.anchor_id).in_(anchor_ids), col(Booking.status).in_(ACTIVE_BOOKING_STATUSES))
        .where(*_overlapping(starts_at, ends_at, buffer))  # type: ignore[arg-type]
        .order_by(col(BookingAnchor.anchor_id), col(Booking.starts_at), col(Booking.id))
    )
    return [
        Clash(
            kind="anchor",
            booking_id=b.id,
            anchor_id=anchor_id,
            slot_id=b.slot_id,
            starts_at=b.starts_at,
            ends_at=b.ends_at,
            detail="the anchor is booked at an overlapping time",
        )
        for b, anchor_id in (await session.execute(stmt)).all()
    ]


def fits_windows(windows: Sequence[tuple[int, int, int]], starts_at: datetime, ends_at: datetime, settings: Settings) -> bool:
    """True when the broadcast fits inside one of the weekly windows `(weekday, start_minute, end_minute)` (none: always)."""
    if not windows:
        return True
    start, end = starts_at.astimezone(settings.tz), ends_at.astimezone(settings.tz)
    start_minute = start.hour * 60 + start.minute
    # A broadcast ending at the next local midnight ends at minute 1440 of its day.
    end_minute = 1440 if (end.date() > start.date() and end.time() == time(0)) else end.hour * 60 + end.minute
    same_day = end.date() == start.date() or end_minute == 1440
    return same_day and any(day == start.weekday() and lo <= start_minute and end_minute <= hi for day, lo, hi in windows)


async def availability_clashes(
    session: AsyncSession, anchor_id: int, starts_at: datetime, ends_at: datetime, settings: Settings
) -> list[Clash]:
    """A clash unless the broadcast fits inside one of the anchor's weekly windows (none: always fits)."""
    rows = (await session.scalars(select(AnchorAvailability).where(col(AnchorAvailability.anchor_id) == anchor_id))).all()
    if fits_windows([(w.weekday, w.start_minute, w.end_minute) for w in rows], starts_at, ends_at, settings):
        return []
    return [
        Clash(
            kind="availability",
            anchor_id=anchor_id,
            starts_at=starts_at,
            ends_at=ends_at,
            detail="outside the anchor's availability windows",
        )
    ]


async def limits_of(session: AsyncSession, anchor_id: int, settings: Settings) -> tuple[int, int]:
    """(broadcasts per week, minutes on air per day) allowed for an anchor."""
    override = await session.get(AnchorLimit, anchor_id)
    weekly = override.max_broadcasts_per_week if override and override.max_broadcasts_per_week else settings.anchor_max_broadcasts_per_week
    daily = override.max_air_minutes_per_day if override and override.max_air_minutes_per_day else settings.anchor_max_air_minutes_per_day
    return weekly, daily


def local_day_bounds(when: datetime, settings: Settings) -> tuple[datetime, datetime]:
    """The UTC bounds of the local day holding `when`."""
    local = when.astimezone(settings.tz)
    start = datetime.combine(local.date(), time(0), tzinfo=settings.tz)
    return start, start + timedelta(days=1)


def local_week_bounds(when: datetime, settings: Settings) -> tuple[datetime, datetime]:
    """The UTC bounds of the local Monday-to-Sunday week holding `when`."""
    local = when.astimezone(settings.tz)
    monday = local.date() - timedelta(days=local.weekday())
    start = datetime.combine(monday, time(0), tzinfo=settings.tz)
    return start, start + timedelta(days=7)


async def _counted(session: AsyncSession, anchor_id: int, lower: datetime, upper: datetime, ignore: int | None = None) -> list[Booking]:
    stmt = (
        select(Booking)
        .join(BookingAnchor, col(BookingAnchor.booking_id) == col(Booking.id))
        .where(
            col(BookingAnchor.anchor_id) == anchor_id,
            col(Booking.status).in_(COUNTED_STATUSES),
            col(Booking.starts_at) >= lower,
            col(Booking.starts_at) < upper,
        )
    )
    if ignore is not None:
        stmt = stmt.where(col(Booking.id) != ignore)
    return list((await session.scalars(stmt)).all())


async def limit_clashes(
    session: AsyncSession,
    anchor_id: int,
    starts_at: datetime,
    ends_at: datetime,
    settings: Settings,
    *,
    ignore_booking_id: int | None = None,
) -> list[Clash]:
    """Clashes when one more broadcast would exceed the anchor's weekly count or daily air time."""
    weekly, daily = await limits_of(session, anchor_id, settings)
    clashes = []
    week = await _counted(session, anchor_id, *local_week_bounds(starts_at, settings), ignore_booking_id)
    if len(week) + 1 > weekly:
        clashes.append(
            Clash(
                kind="weekly_limit",
                anchor_id=anchor_id,
                starts_at=starts_at,
                ends_at=ends_at,
                detail=f"the anchor already has {len(week)} of {weekly} broadcasts this week",
            )
        )
    day = await _counted(session, anchor_id, *local_day_bounds(starts_at, settings), ignore_booking_id)
    used = sum(int((b.ends_at - b.starts_at).total_seconds() // 60) for b in day)
    wanted = int((ends_at - starts_at).total_seconds() // 60)
    if used + wanted > daily:
        clashes.append(
            Clash(
                kind="daily_limit",
                anchor_id=anchor_id,
                starts_at=starts_at,
                ends_at=ends_at,
                detail=f"{used} + {wanted} minutes on air would exceed {daily} that day",
            )
        )
    return clashes
