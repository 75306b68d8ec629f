"""Slots: windows of studio time that a booking can take; a studio's slots never overlap (buffers included)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, or_, select

from livecommerce.kit.errors import Forbidden
from livecommerce.kit.i18n import _l
from livecommerce.kit.pagination import PageParams, paginate
from livecommerce.kit.principal import Principal
from livecommerce.kit.settings import Settings
from schedulers.models import ACTIVE_BOOKING_STATUSES, Booking, Campaign, Slot, Studio
from schedulers.problems import bad_field, clash_conflict
from schedulers.schemas import Clash, SlotCreate, SlotPublic
from schedulers.studios import lock_studio, may_see


async def get_slot(session: AsyncSession, slot_id: int) -> Slot:
    """The slot, or 422 naming `slot_id` (slots are always named in a request body)."""
    slot = await session.get(Slot, slot_id)
    if slot is None:
        raise bad_field("slot_id", "unknown slot", _l("Slot {slot_id} does not exist.", slot_id=slot_id))
    return slot


async def create_slot(session: AsyncSession, principal: Principal, data: SlotCreate, *, settings: Settings) -> Slot:
    """Add a slot to a shared studio or one of the caller's counties (403 for another county's); 409 with `conflicts`
    when it overlaps another slot of the studio (buffers included)."""
    if data.campaign_id is not None and await session.get(Campaign, data.campaign_id) is None:
        raise bad_field("campaign_id", "unknown campaign", _l("Campaign {campaign_id} does not exist.", campaign_id=data.campaign_id))
    studio = await lock_studio(session, data.studio_id)
    if not may_see(principal, studio):
        raise Forbidden(_l("The studio “{studio}” belongs to a county you do not act for.", studio=studio.name))
    buffer = timedelta(minutes=settings.booking_buffer_minutes)
    stmt = (
        select(Slot)
        .where(
            col(Slot.studio_id) == data.studio_id,
            col(Slot.starts_at) < data.ends_at + buffer,
            col(Slot.ends_at) > data.starts_at - buffer,
        )
        .order_by(col(Slot.starts_at))
    )
    clashes = [
        Clash(
            kind="studio",
            studio_id=data.studio_id,
            slot_id=other.id,
            starts_at=other.starts_at,
            ends_at=other.ends_at,
            detail="the studio has an overlapping slot",
        )
        for other in (await session.scalars(stmt)).all()
    ]
    if clashes:
        raise clash_conflict(_l("The studio already has a slot at that time."), clashes)
    slot = Slot(**data.model_dump())
    session.add(slot)
    await session.flush()
    return slot


async def list_slots(
    session: AsyncSession,
    page: PageParams,
    *,
    starts_from: datetime | None,
    starts_to: datetime | None,
    studio_id: int | None,
    open_only: bool,
    county_ids: frozenset[int] | None = None,
) -> tuple[list[SlotPublic], str | None]:
    """A page of slots, each with its active booking (if any): those of shared studios and of `county_ids`' studios
    (None: every slot)."""
    stmt = select(Slot)
    if county_ids is not None:
        seen = select(col(Studio.id)).where(or_(col(Studio.county_id).is_(None), col(Studio.county_id).in_(county_ids)))
        stmt = stmt.where(col(Slot.studio_id).in_(seen))
    if starts_from is not None:
        stmt = stmt.where(col(Slot.ends_at) > starts_from)
    if starts_to is not None:
        stmt = stmt.where(col(Slot.starts_at) < starts_to)
    if studio_id is not None:
        stmt = stmt.where(col(Slot.studio_id) == studio_id)
    active = select(col(Booking.slot_id)).where(col(Booking.status).in_(ACTIVE_BOOKING_STATUSES))
    if open_only:
        stmt = stmt.where(col(Slot.id).not_in(active))
    rows, cursor = await paginate(session, stmt, Slot.id, page)  # type: ignore[arg-type]
    booked: dict[int, int] = {}
    if rows:
        found = await session.execute(
            select(col(Booking.slot_id), col(Booking.id)).where(
                col(Booking.slot_id).in_([r.id for r in rows]), col(Booking.status).in_(ACTIVE_BOOKING_STATUSES)
            )
        )
        booked = {slot_id: booking_id for slot_id, booking_id in found.all() if booking_id is not None}
    items = [SlotPublic(**r.model_dump(), booking_id=booked.get(r.id)) for r in rows]
    return items, cursor


async def campaign_slots(session: AsyncSession, campaign_id: int) -> list[Slot]:
    """Every slot of a campaign, in time order."""
    stmt = select(Slot).where(col(Slot.campaign_id) == campaign_id).order_by(col(Slot.starts_at), col(Slot.id))
    return list((await session.scalars(stmt)).all())
