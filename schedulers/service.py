"""Scheduling: studios, campaigns, slots, and bookings of anchors into them under the booking rules.

Conflict checks run inside the booking's own transaction after the rows they depend on are
locked (the anchors, then the studio, each in id order), so of two simultaneous requests for the
same anchor or studio the second sees the first's booking and is refused. On SQLite every
transaction is BEGIN IMMEDIATE, which serializes them the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, delete, select

from livecommerce.audit import service as audit
from livecommerce.broadcasts import service as streams
from livecommerce.catalog.models import Anchor, Product
from livecommerce.kit.errors import Conflict, Forbidden, InvalidInput, InvalidState, NotFound, OutOfStock
from livecommerce.kit.pagination import PageParams, paginate
from livecommerce.kit.principal import Principal, Role
from livecommerce.kit.settings import Settings
from schedulers import rules
from schedulers.models import (
    ACTIVE_BOOKING_STATUSES,
    AnchorAvailability,
    AnchorLimit,
    Booking,
    BookingAnchor,
    BookingProduct,
    BookingStatus,
    Campaign,
    Slot,
    Studio,
)
from schedulers.schemas import (
    AnchorLimits,
    Availability,
    AvailabilityWindow,
    BookingCreate,
    BookingPublic,
    CampaignCreate,
    Clash,
    EffectiveLimits,
    SlotCreate,
    SlotPublic,
    StudioCreate,
    hhmm_of,
    minutes_of,
)

# Which states each state may be reached from; anything else is out of order (409).
ALLOWED_FROM: dict[BookingStatus, tuple[BookingStatus, ...]] = {
    BookingStatus.confirmed: (BookingStatus.requested,),
    BookingStatus.live: (BookingStatus.confirmed,),
    BookingStatus.ended: (BookingStatus.live,),
    BookingStatus.cancelled: (BookingStatus.requested, BookingStatus.confirmed),
    BookingStatus.no_show: (BookingStatus.confirmed,),
}


def _bad(field: str, message: str, detail: str) -> InvalidInput:
    return InvalidInput(detail, extra={"errors": [{"field": field, "message": message}]})


# --- studios and campaigns -------------------------------------------------------------------


async def create_studio(session: AsyncSession, data: StudioCreate) -> Studio:
    """Add a studio."""
    studio = Studio(**data.model_dump())
    session.add(studio)
    await session.flush()
    return studio


async def list_studios(session: AsyncSession, page: PageParams) -> tuple[list[Studio], str | None]:
    """A page of studios."""
    return await paginate(session, select(Studio), Studio.id, page)  # type: ignore[arg-type]


async def create_campaign(session: AsyncSession, data: CampaignCreate) -> Campaign:
    """Add a campaign."""
    campaign = Campaign(**data.model_dump())
    session.add(campaign)
    await session.flush()
    return campaign


async def list_campaigns(session: AsyncSession, page: PageParams) -> tuple[list[Campaign], str | None]:
    """A page of campaigns."""
    return await paginate(session, select(Campaign), Campaign.id, page)  # type: ignore[arg-type]


# --- slots -----------------------------------------------------------------------------------


async def _lock_studio(session: AsyncSession, studio_id: int) -> Studio:
    studio = await session.scalar(select(Studio).where(col(Studio.id) == studio_id).with_for_update())
    if studio is None:
        raise _bad("studio_id", "unknown studio", f"Studio {studio_id} does not exist.")
    return studio


async def create_slot(session: AsyncSession, data: SlotCreate, *, settings: Settings) -> Slot:
    """Add a slot; 409 with `conflicts` when it overlaps another slot of the studio (buffers included)."""
    if data.campaign_id is not None and await session.get(Campaign, data.campaign_id) is None:
        raise _bad("campaign_id", "unknown campaign", f"Campaign {data.campaign_id} does not exist.")
    await _lock_studio(session, data.studio_id)
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
        raise _conflict("The studio already has a slot at that time.", clashes)
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
) -> tuple[list[SlotPublic], str | None]:
    """A page of slots, each with its active booking (if any)."""
    stmt = select(Slot)
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


# --- bookings --------------------------------------------------------------------------------


def _conflict(detail: str, clashes: Sequence[Clash]) -> Conflict:
    return Conflict(detail, extra={"conflicts": [c.model_dump(mode="json", exclude_none=True) for c in clashes]})


async def _anchors(session: AsyncSession, anchor_ids: Sequence[int], *, lock: bool = False) -> list[Anchor]:
    stmt = select(Anchor).where(col(Anchor.id).in_(anchor_ids)).order_by(col(Anchor.id))
    if lock:
        stmt = stmt.with_for_update()
    return list((await session.scalars(stmt)).all())


def authorize_booking(principal: Principal, anchors: Sequence[Anchor]) -> None:
    """Organizers book within their counties, cadres book themselves (with co-hosts), admins anyone."""
    if principal.is_admin:
        return
    if principal.role == Role.organizer:
        outside = sorted({a.county_id for a in anchors if not principal.covers_county(a.county_id)})
        if outside:
            raise Forbidden(f"You do not organize county {', '.join(map(str, outside))} of these anchors.")
        return
    if principal.role == Role.cadre and principal.anchor_id is not None and principal.anchor_id in {a.id for a in anchors}:
        return
    raise Forbidden("Cadres can book only broadcasts they host themselves.")


async def _check_products(session: AsyncSession, product_ids: Sequence[int], county_ids: set[int]) -> None:
    if not product_ids:
        return
    products = {p.id: p for p in (await session.scalars(select(Product).where(col(Product.id).in_(product_ids)))).all()}
    missing = [pid for pid in product_ids if pid not in products]
    if missing:
        raise _bad("product_ids", "unknown product", f"Product {', '.join(map(str, missing))} does not exist.")
    foreign = [pid for pid in product_ids if products[pid].county_id not in county_ids]
    if foreign:
        raise _bad(
            "product_ids",
            "product of a county this booking does not serve",
            f"Product {', '.join(map(str, foreign))} is not from a county of the booking's anchors.",
        )
    inactive = [pid for pid in product_ids if not products[pid].is_active]
    if inactive:
        raise _bad("product_ids", "product withdrawn", f"Product {', '.join(map(str, inactive))} is no longer sold.")
    empty = [pid for pid in product_ids if products[pid].stock <= 0]
    if empty:
        raise OutOfStock(f"Product {', '.join(map(str, empty))} is out of stock.", extra={"product_ids": empty})


async def create_booking(session: AsyncSession, principal: Principal, data: BookingCreate, *, settings: Settings, now: datetime) -> Booking:
    """Book anchors into a slot with the products they will present, and create its stream.

    409 with `conflicts` naming every clash: an anchor or the studio already booked at an
    overlapping time (buffers included), too little notice, outside availability, over a limit.
    """
    slot = await session.get(Slot, data.slot_id)
    if slot is None:
        raise _bad("slot_id", "unknown slot", f"Slot {data.slot_id} does not exist.")
    anchors = await _anchors(session, data.anchor_ids)
    missing = sorted(set(data.anchor_ids) - {a.id for a in anchors if a.id is not None})
    if missing:
        raise _bad("anchor_ids", "unknown anchor", f"Anchor {', '.join(map(str, missing))} does not exist.")
    authorize_booking(principal, anchors)
    await _check_products(session, data.product_ids, {a.county_id for a in anchors})

    # Lock order everywhere: anchors by id, then the studio. Keeps concurrent bookings deadlock-free.
    await _anchors(session, data.anchor_ids, lock=True)
    await _lock_studio(session, slot.studio_id)
    clashes = await rules.find_clashes(session, slot=slot, anchor_ids=data.anchor_ids, settings=settings, now=now)
    if clashes:
        raise _conflict("The booking clashes with the schedule.", clashes)

    booking = Booking(
        slot_id=data.slot_id,
        status=BookingStatus.requested,
        auto_start=data.auto_start,
        created_by=principal.id or None,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        created_at=now,
    )
    session.add(booking)
    await session.flush()
    assert booking.id is not None
    for anchor_id in data.anchor_ids:
        session.add(BookingAnchor(booking_id=booking.id, anchor_id=anchor_id))
    for product_id in data.product_ids:
        session.add(BookingProduct(booking_id=booking.id, product_id=product_id))
    details = {"slot_id": data.slot_id, "anchor_ids": list(data.anchor_ids), "product_ids": list(data.product_ids)}
    await audit.record(session, principal, "booking.created", f"booking:{booking.id}", details, now=now)
    names = {a.id: a.name for a in anchors}
    title = data.title or " & ".join(names[i] for i in data.anchor_ids) + " live"
    stream = await streams.create_stream(
        session,
        title=title[:200],
        scheduled_start=slot.starts_at,
        scheduled_end=slot.ends_at,
        anchor_ids=data.anchor_ids,
        product_ids=data.product_ids,
        booking_id=booking.id,
        studio_id=slot.studio_id,
        auto_start=data.auto_start,
    )
    booking.stream_id = stream.id
    session.add(booking)
    await session.flush()
    return booking


async def get_booking(session: AsyncSession, booking_id: int) -> Booking:
    """The booking, or NotFound."""
    booking = await session.get(Booking, booking_id)
    if booking is None:
        raise NotFound(f"Booking {booking_id} does not exist.")
    return booking


async def booking_anchor_ids(session: AsyncSession, booking_id: int) -> list[int]:
    """The anchors of a booking, host first is not kept: in id order."""
    stmt = select(col(BookingAnchor.anchor_id)).where(col(BookingAnchor.booking_id) == booking_id).order_by(col(BookingAnchor.anchor_id))
    return list((await session.scalars(stmt)).all())


async def booking_county_ids(session: AsyncSession, booking_id: int) -> set[int]:
    """The counties a booking serves: those of its anchors."""
    stmt = (
        select(col(Anchor.county_id))
        .join(BookingAnchor, col(BookingAnchor.anchor_id) == col(Anchor.id))
        .where(col(BookingAnchor.booking_id) == booking_id)
    )
    return set((await session.scalars(stmt)).all())


async def booking_public(session: AsyncSession, booking: Booking) -> BookingPublic:
    """The booking with its anchors, products and studio."""
    assert booking.id is not None
    return (await bookings_public(session, [booking]))[0]


async def bookings_public(session: AsyncSession, bookings: Sequence[Booking]) -> list[BookingPublic]:
    """Several bookings with their anchors, products and studios, in three queries."""
    ids = [b.id for b in bookings]
    anchors: dict[int, list[int]] = {i: [] for i in ids if i is not None}
    products: dict[int, list[int]] = {i: [] for i in ids if i is not None}
    if not ids:
        return []
    for booking_id, anchor_id in (
        await session.execute(
            select(col(BookingAnchor.booking_id), col(BookingAnchor.anchor_id))
            .where(col(BookingAnchor.booking_id).in_(ids))
            .order_by(col(BookingAnchor.anchor_id))
        )
    ).all():
        anchors[booking_id].append(anchor_id)
    for booking_id, product_id in (
        await session.execute(
            select(col(BookingProduct.booking_id), col(BookingProduct.product_id))
            .where(col(BookingProduct.booking_id).in_(ids))
            .order_by(col(BookingProduct.product_id))
        )
    ).all():
        products[booking_id].append(product_id)
    studios = dict(
        (await session.execute(select(col(Slot.id), col(Slot.studio_id)).where(col(Slot.id).in_({b.slot_id for b in bookings})))).all()
    )
    out = []
    for b in bookings:
        assert b.id is not None
        out.append(
            BookingPublic(
                id=b.id,
                status=b.status,
                stream_id=b.stream_id,
                slot_id=b.slot_id,
                studio_id=studios[b.slot_id],
                starts_at=b.starts_at,
                ends_at=b.ends_at,
                auto_start=b.auto_start,
                anchor_ids=anchors[b.id],
                product_ids=products[b.id],
                created_by=b.created_by,
                created_at=b.created_at,
                confirmed_at=b.confirmed_at,
                cancelled_at=b.cancelled_at,
            )
        )
    return out


async def list_bookings(
    session: AsyncSession,
    page: PageParams,
    *,
    anchor_id: int | None,
    starts_from: datetime | None,
    starts_to: datetime | None,
    status: str | None,
) -> tuple[list[BookingPublic], str | None]:
    """A page of bookings, filtered by anchor, time and status."""
    stmt = select(Booking)
    if anchor_id is not None:
        stmt = stmt.where(col(Booking.id).in_(select(col(BookingAnchor.booking_id)).where(col(BookingAnchor.anchor_id) == anchor_id)))
    if starts_from is not None:
        stmt = stmt.where(col(Booking.ends_at) > starts_from)
    if starts_to is not None:
        stmt = stmt.where(col(Booking.starts_at) < starts_to)
    if status is not None:
        stmt = stmt.where(col(Booking.status) == status)
    rows, cursor = await paginate(session, stmt, Booking.id, page)  # type: ignore[arg-type]
    return await bookings_public(session, rows), cursor


async def transition(session: AsyncSession, booking_id: int, to: BookingStatus, *, now: datetime) -> bool:
    """Compare-and-set the booking's status; True if this call changed it."""
    values: dict[str, Any] = {"status": to}
    if to == BookingStatus.confirmed:
        values["confirmed_at"] = now
    elif to == BookingStatus.cancelled:
        values["cancelled_at"] = now
    result = await session.execute(
        update(Booking)
        .where(col(Booking.id) == booking_id, col(Booking.status).in_(ALLOWED_FROM[to]))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def _organizes(session: AsyncSession, principal: Principal, booking_id: int) -> bool:
    if principal.is_admin:
        return True
    return principal.role == Role.organizer and bool(principal.county_ids & await booking_county_ids(session, booking_id))


async def confirm_booking(session: AsyncSession, principal: Principal, booking_id: int, *, now: datetime) -> Booking:
    """Confirm a requested booking (organizers of its counties, admins); confirming twice changes nothing."""
    booking = await get_booking(session, booking_id)
    if not await _organizes(session, principal, booking_id):
        raise Forbidden("Only the organizers of this booking's counties can confirm it.")
    changed = await transition(session, booking_id, BookingStatus.confirmed, now=now)
    await session.refresh(booking)
    if changed:
        await audit.record(session, principal, "booking.confirmed", f"booking:{booking_id}", {}, now=now)
    if not changed and booking.status != BookingStatus.confirmed:
        raise InvalidState(f"Booking {booking_id} is {booking.status} and cannot be confirmed.")
    return booking


async def cancel_booking(session: AsyncSession, principal: Principal, booking_id: int, *, now: datetime) -> Booking:
    """Cancel a booking that has not gone live, and its stream; cancelling twice changes nothing."""
    booking = await get_booking(session, booking_id)
    own = principal.role == Role.cadre and principal.anchor_id in await booking_anchor_ids(session, booking_id)
    if not (own or booking.created_by == principal.id or await _organizes(session, principal, booking_id)):
        raise Forbidden("Only the booking's anchors, whoever booked it, and its organizers can cancel it.")
    changed = await transition(session, booking_id, BookingStatus.cancelled, now=now)
    await session.refresh(booking)
    if changed:
        await audit.record(session, principal, "booking.cancelled", f"booking:{booking_id}", {"stream_id": booking.stream_id}, now=now)
        if booking.stream_id is not None:
            await streams.cancel_stream(session, booking.stream_id)
    elif booking.status != BookingStatus.cancelled:
        raise InvalidState(f"Booking {booking_id} is {booking.status} and cannot be cancelled.")
    return booking


# --- anchor availability and limits ----------------------------------------------------------


async def get_anchor(session: AsyncSession, anchor_id: int) -> Anchor:
    """The anchor, or NotFound."""
    anchor = await session.get(Anchor, anchor_id)
    if anchor is None:
        raise NotFound(f"Anchor {anchor_id} does not exist.")
    return anchor


def may_manage_anchor(principal: Principal, anchor: Anchor) -> bool:
    """The anchor's own cadre, organizers of its county, admins."""
    if principal.role == Role.cadre:
        return principal.anchor_id == anchor.id
    return principal.is_staff and principal.covers_county(anchor.county_id)


async def get_availability(session: AsyncSession, anchor_id: int) -> Availability:
    """An anchor's weekly windows."""
    await get_anchor(session, anchor_id)
    rows = (
        await session.scalars(
            select(AnchorAvailability)
            .where(col(AnchorAvailability.anchor_id) == anchor_id)
            .order_by(col(AnchorAvailability.weekday), col(AnchorAvailability.start_minute))
        )
    ).all()
    return Availability(
        windows=[AvailabilityWindow(weekday=r.weekday, starts=hhmm_of(r.start_minute), ends=hhmm_of(r.end_minute)) for r in rows]
    )


async def set_availability(session: AsyncSession, principal: Principal, anchor_id: int, data: Availability) -> Availability:
    """Replace an anchor's weekly windows (an empty list: always available)."""
    anchor = await get_anchor(session, anchor_id)
    if not may_manage_anchor(principal, anchor):
        raise Forbidden("Only the anchor and the organizers of its county can set its availability.")
    await session.execute(delete(AnchorAvailability).where(col(AnchorAvailability.anchor_id) == anchor_id))
    for w in data.windows:
        session.add(
            AnchorAvailability(anchor_id=anchor_id, weekday=w.weekday, start_minute=minutes_of(w.starts), end_minute=minutes_of(w.ends))
        )
    await session.flush()
    return await get_availability(session, anchor_id)


async def get_limits(session: AsyncSession, anchor_id: int, *, settings: Settings) -> EffectiveLimits:
    """An anchor's limits: its overrides, else the platform defaults."""
    await get_anchor(session, anchor_id)
    override = await session.get(AnchorLimit, anchor_id)
    weekly, daily = await rules.limits_of(session, anchor_id, settings)
    return EffectiveLimits(
        anchor_id=anchor_id,
        max_broadcasts_per_week=weekly,
        max_air_minutes_per_day=daily,
        overrides=AnchorLimits(
            max_broadcasts_per_week=override.max_broadcasts_per_week if override else None,
            max_air_minutes_per_day=override.max_air_minutes_per_day if override else None,
        ),
    )


async def set_limits(
    session: AsyncSession, principal: Principal, anchor_id: int, data: AnchorLimits, *, settings: Settings
) -> EffectiveLimits:
    """Set an anchor's limit overrides (organizers of its county, admins)."""
    anchor = await get_anchor(session, anchor_id)
    if not (principal.is_staff and principal.covers_county(anchor.county_id)):
        raise Forbidden("Only the organizers of the anchor's county can set its limits.")
    row = await session.get(AnchorLimit, anchor_id) or AnchorLimit(anchor_id=anchor_id)
    row.max_broadcasts_per_week = data.max_broadcasts_per_week
    row.max_air_minutes_per_day = data.max_air_minutes_per_day
    session.add(row)
    await session.flush()
    return await get_limits(session, anchor_id, settings=settings)


async def require_schedule_reader(session: AsyncSession, principal: Principal, anchor_id: int) -> Anchor:
    """The anchor, if the caller may read its schedule (itself, its county's organizers, admins)."""
    anchor = await get_anchor(session, anchor_id)
    if not may_manage_anchor(principal, anchor):
        raise Forbidden("Only the anchor and the organizers of its county can read its schedule.")
    return anchor


# --- campaign membership (read by the post-stream review) --------------------------------------


async def get_campaign(session: AsyncSession, campaign_id: int) -> Campaign:
    """The campaign, or NotFound."""
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"Campaign {campaign_id} does not exist.")
    return campaign


async def campaign_of_stream(session: AsyncSession, stream_id: int) -> int | None:
    """The campaign whose slot a stream was booked into, if any."""
    stmt = (
        select(col(Slot.campaign_id))
        .join(Booking, col(Booking.slot_id) == col(Slot.id))
        .where(col(Booking.stream_id) == stream_id)
        .order_by(col(Booking.id).desc())
        .limit(1)
    )
    return (await session.scalars(stmt)).first()


async def streams_of_campaign(session: AsyncSession, campaign_id: int) -> list[int]:
    """The streams booked into the campaign's slots, by id."""
    stmt = (
        select(col(Booking.stream_id))
        .join(Slot, col(Slot.id) == col(Booking.slot_id))
        .where(col(Slot.campaign_id) == campaign_id, col(Booking.stream_id).is_not(None))
        .distinct()
    )
    return sorted(int(s) for s in (await session.scalars(stmt)).all() if s is not None)
