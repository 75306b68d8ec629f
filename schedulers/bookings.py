"""Bookings: anchors booked into a slot with the products they will present, under the booking rules.

Conflict checks run inside the booking's own transaction after the rows they depend on are
locked (the anchors, then the studio, each in id order), so of two simultaneous requests for the
same anchor or studio the second sees the first's booking and is refused. On SQLite every
transaction is BEGIN IMMEDIATE, which serializes them the same way.

A booking is confirmed once two kinds of agreement are complete:
- the counties: for every county whose anchors (and so products) the booking takes, an organizer
  of that county has confirmed (`booking_approvals`); an admin's confirmation covers them all;
- the co-hosts: every anchor after the first has been accepted by its cadre, or by an organizer
  of its county confirming for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, delete, select

from livecommerce.audit import service as audit
from livecommerce.broadcasts import service as streams
from livecommerce.catalog import certification
from livecommerce.catalog import service as catalog
from livecommerce.kit.errors import Forbidden, InvalidState, NotFound
from livecommerce.kit.i18n import _l, at_time, status_word
from livecommerce.kit.pagination import PageParams, paginate
from livecommerce.kit.principal import Principal, Role
from livecommerce.kit.settings import Settings
from livecommerce.kit.signals import StreamStart
from schedulers import rules
from schedulers.campaigns import get_campaign
from schedulers.models import Booking, BookingAnchor, BookingApproval, BookingProduct, BookingStatus, Slot
from schedulers.problems import bad_field, clash_conflict
from schedulers.schemas import BookingCreate, BookingPublic, BookingReschedule, Clash, CoHostPublic
from schedulers.slots import get_slot
from schedulers.studios import lock_studio, serves, studio_counties, studio_names

if TYPE_CHECKING:
    from livecommerce.catalog.models import Anchor

# Which states each state may be reached from; anything else is out of order (409).
ALLOWED_FROM: dict[BookingStatus, tuple[BookingStatus, ...]] = {
    BookingStatus.requested: (BookingStatus.requested, BookingStatus.confirmed),
    BookingStatus.confirmed: (BookingStatus.requested,),
    BookingStatus.live: (BookingStatus.confirmed,),
    BookingStatus.ended: (BookingStatus.live,),
    BookingStatus.cancelled: (BookingStatus.requested, BookingStatus.confirmed),
    BookingStatus.no_show: (BookingStatus.confirmed,),
}


# --- who may book ----------------------------------------------------------------------------


def authorize_booking(principal: Principal, anchors: Sequence[Anchor]) -> None:
    """Who may ask for a booking: admins; organizers of at least one of its counties; a cadre hosting it.

    Asking is not agreeing: anchors of any other county wait for an organizer of that county.
    """
    if principal.is_admin:
        return
    if principal.role == Role.organizer:
        if not any(principal.covers_county(a.county_id) for a in anchors):
            raise Forbidden(_l("You organize none of the counties of these anchors."))
        return
    if principal.role == Role.cadre and principal.anchor_id is not None and principal.anchor_id in {a.id for a in anchors}:
        return
    raise Forbidden(_l("Cadres can book only broadcasts they host themselves."))


async def _check_products(session: AsyncSession, product_ids: Sequence[int], county_ids: set[int]) -> None:
    """Products must exist, be sold, and come from a county of the booking's anchors.

    Stock is not checked: a booking days ahead must not depend on what unpaid orders hold today.
    """
    if not product_ids:
        return
    products = await catalog.products_by_ids(session, product_ids)
    missing = [pid for pid in product_ids if pid not in products]
    if missing:
        raise bad_field("product_ids", "unknown product", _l("Product {ids} does not exist.", ids=", ".join(map(str, missing))))
    foreign = [products[pid].name for pid in product_ids if products[pid].county_id not in county_ids]
    if foreign:
        raise bad_field(
            "product_ids",
            "product of a county this booking does not serve",
            _l("{names}: not from a county of the booking's anchors.", names=", ".join(foreign)),
        )
    inactive = [products[pid].name for pid in product_ids if not products[pid].is_active]
    if inactive:
        raise bad_field("product_ids", "product withdrawn", _l("{names}: no longer sold.", names=", ".join(inactive)))


async def certified_only(session: AsyncSession, slot: Slot) -> bool:
    """True when the slot belongs to a certified-only campaign."""
    return slot.campaign_id is not None and (await get_campaign(session, slot.campaign_id)).certified_only


async def foreign_studio_clashes(session: AsyncSession, slot: Slot, county_ids: Iterable[int]) -> list[Clash]:
    """A clash when the slot's studio belongs to a county none of the booking's anchors is of (see `studios.serves`)."""
    county_id = (await studio_counties(session, [slot.studio_id])).get(slot.studio_id)
    if serves(county_id, county_ids):
        return []
    name = (await studio_names(session, [slot.studio_id])).get(slot.studio_id, str(slot.studio_id))
    return [
        Clash(
            kind="studio_county",
            studio_id=slot.studio_id,
            slot_id=slot.id,
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            detail=f"Studio 「{name}」 airs another county's broadcasts; book a slot in a studio of the anchors' county or a shared one.",
        )
    ]


async def uncertified_clashes(session: AsyncSession, slot: Slot, product_ids: Sequence[int]) -> list[Clash]:
    """In a certified-only campaign's slot, a clash for each product not certified for the whole broadcast.

    A certificate counts through its `valid_until` day (Asia/Shanghai) and not the day after,
    so a broadcast on the day after expiry is refused.
    """
    if not product_ids or not await certified_only(session, slot):
        return []
    history = await certification.validities(session, product_ids)
    products = await catalog.products_by_ids(session, product_ids)
    last = slot.ends_at - timedelta(seconds=1)
    return [
        Clash(
            kind="uncertified",
            product_id=pid,
            slot_id=slot.id,
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            detail=f"「{products[pid].name}」 is not a certified poverty-alleviation product on the broadcast's day; "
            "this campaign takes certified products only.",
        )
        for pid in dict.fromkeys(product_ids)
        if pid in products
        and not (
            certification.certified_at(history.get(pid, []), slot.starts_at) and certification.certified_at(history.get(pid, []), last)
        )
    ]


async def _known_anchors(session: AsyncSession, anchor_ids: Sequence[int]) -> list[Anchor]:
    anchors = await catalog.anchors_by_ids(session, anchor_ids)
    missing = sorted(set(anchor_ids) - {a.id for a in anchors if a.id is not None})
    if missing:
        raise bad_field("anchor_ids", "unknown anchor", _l("Anchor {ids} does not exist.", ids=", ".join(map(str, missing))))
    return anchors


def _may_override_notice(principal: Principal, county_ids: set[int]) -> bool:
    return principal.is_admin or (
        principal.role == Role.organizer and bool(county_ids) and all(principal.covers_county(c) for c in county_ids)
    )


async def _clashes_or_raise(
    session: AsyncSession,
    principal: Principal,
    *,
    slot: Slot,
    anchor_ids: Sequence[int],
    county_ids: set[int],
    override_reason: str | None,
    settings: Settings,
    now: datetime,
    ignore_booking_id: int | None = None,
    also: Sequence[Clash] = (),
) -> bool:
    """Lock the anchors and the studio, then refuse with every clash; True if the notice rule was overridden."""
    if override_reason is not None and not _may_override_notice(principal, county_ids):
        raise Forbidden(_l("Only an organizer of every county of the booking can override the notice rule."))
    # Lock order everywhere: anchors by id, then the studio. Keeps concurrent bookings deadlock-free.
    await catalog.anchors_by_ids(session, anchor_ids, for_update=True)
    await lock_studio(session, slot.studio_id)
    clashes = await rules.find_clashes(
        session, slot=slot, anchor_ids=anchor_ids, settings=settings, now=now, ignore_booking_id=ignore_booking_id
    )
    overridden = override_reason is not None and any(c.kind == "notice" for c in clashes)
    if override_reason is not None:
        clashes = [c for c in clashes if c.kind != "notice"]
    clashes = [*clashes, *also]
    if clashes:
        raise clash_conflict(_l("The booking clashes with the schedule."), clashes)
    return overridden


async def create_booking(session: AsyncSession, principal: Principal, data: BookingCreate, *, settings: Settings, now: datetime) -> Booking:
    """Book anchors into a slot with the products they will present, and create its stream.

    409 with `conflicts` naming every clash: an anchor or the studio already booked at an
    overlapping time (buffers included), too little notice, outside availability, over a limit.
    """
    slot = await get_slot(session, data.slot_id)
    anchors = await _known_anchors(session, data.anchor_ids)
    authorize_booking(principal, anchors)
    county_ids = {a.county_id for a in anchors}
    await _check_products(session, data.product_ids, county_ids)
    overridden = await _clashes_or_raise(
        session,
        principal,
        slot=slot,
        anchor_ids=data.anchor_ids,
        county_ids=county_ids,
        override_reason=data.notice_override_reason,
        settings=settings,
        now=now,
        also=[*await foreign_studio_clashes(session, slot, county_ids), *await uncertified_clashes(session, slot, data.product_ids)],
    )

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
    for position, anchor_id in enumerate(data.anchor_ids):
        # The host asked for the booking (or was booked by staff); co-hosts are invited.
        session.add(
            BookingAnchor(booking_id=booking.id, anchor_id=anchor_id, position=position, accepted_at=now if position == 0 else None)
        )
    for product_id in data.product_ids:
        session.add(BookingProduct(booking_id=booking.id, product_id=product_id))
    details = {"slot_id": data.slot_id, "anchor_ids": list(data.anchor_ids), "product_ids": list(data.product_ids)}
    await audit.record(session, principal, "booking.created", f"booking:{booking.id}", details, now=now)
    if overridden:
        await _audit_override(session, principal, booking.id, data.notice_override_reason, slot, now)
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
        certified_only=await certified_only(session, slot),
    )
    booking.stream_id = stream.id
    session.add(booking)
    await session.flush()
    return booking


async def _audit_override(
    session: AsyncSession, principal: Principal, booking_id: int, reason: str | None, slot: Slot, now: datetime
) -> None:
    details = {"reason": reason, "slot_id": slot.id, "starts_at": slot.starts_at.isoformat()}
    await audit.record(session, principal, "booking.notice_overridden", f"booking:{booking_id}", details, now=now)


# --- reading ---------------------------------------------------------------------------------


async def get_booking(session: AsyncSession, booking_id: int, *, for_update: bool = False) -> Booking:
    """The booking, or NotFound; `for_update` locks its row."""
    stmt = select(Booking).where(col(Booking.id) == booking_id)
    if for_update:
        stmt = stmt.with_for_update()
    booking = await session.scalar(stmt)
    if booking is None:
        raise NotFound(_l("Booking {booking_id} does not exist.", booking_id=booking_id))
    return booking


async def _members(session: AsyncSession, booking_id: int) -> list[BookingAnchor]:
    stmt = (
        select(BookingAnchor)
        .where(col(BookingAnchor.booking_id) == booking_id)
        .order_by(col(BookingAnchor.position), col(BookingAnchor.anchor_id))
    )
    return list((await session.scalars(stmt)).all())


async def _product_ids(session: AsyncSession, booking_id: int) -> list[int]:
    stmt = (
        select(col(BookingProduct.product_id)).where(col(BookingProduct.booking_id) == booking_id).order_by(col(BookingProduct.product_id))
    )
    return list((await session.scalars(stmt)).all())


async def booking_anchor_ids(session: AsyncSession, booking_id: int) -> list[int]:
    """The anchors of a booking, the host first."""
    return [m.anchor_id for m in await _members(session, booking_id)]


async def booking_county_ids(session: AsyncSession, booking_id: int) -> set[int]:
    """The counties a booking serves: those of its anchors."""
    return {a.county_id for a in await catalog.anchors_by_ids(session, await booking_anchor_ids(session, booking_id))}


async def _approved_county_ids(session: AsyncSession, booking_id: int) -> set[int]:
    stmt = select(col(BookingApproval.county_id)).where(col(BookingApproval.booking_id) == booking_id)
    return set((await session.scalars(stmt)).all())


async def booking_public(session: AsyncSession, booking: Booking) -> BookingPublic:
    """The booking with its anchors, products, studio, co-hosts and pending agreements."""
    assert booking.id is not None
    return (await bookings_public(session, [booking]))[0]


async def bookings_public(session: AsyncSession, bookings: Sequence[Booking]) -> list[BookingPublic]:
    """Several bookings with their anchors, products, studios and agreements, in a few queries."""
    ids = [b.id for b in bookings if b.id is not None]
    if not ids:
        return []
    members: dict[int, list[BookingAnchor]] = {i: [] for i in ids}
    for m in (
        await session.scalars(
            select(BookingAnchor)
            .where(col(BookingAnchor.booking_id).in_(ids))
            .order_by(col(BookingAnchor.position), col(BookingAnchor.anchor_id))
        )
    ).all():
        members[m.booking_id].append(m)
    products: dict[int, list[int]] = {i: [] for i in ids}
    for booking_id, product_id in (
        await session.execute(
            select(col(BookingProduct.booking_id), col(BookingProduct.product_id))
            .where(col(BookingProduct.booking_id).in_(ids))
            .order_by(col(BookingProduct.product_id))
        )
    ).all():
        products[booking_id].append(product_id)
    approved: dict[int, set[int]] = {i: set() for i in ids}
    for booking_id, county_id in (
        await session.execute(
            select(col(BookingApproval.booking_id), col(BookingApproval.county_id)).where(col(BookingApproval.booking_id).in_(ids))
        )
    ).all():
        approved[booking_id].add(county_id)
    anchor_county = {a.id: a.county_id for a in await catalog.anchors_by_ids(session, {m.anchor_id for ms in members.values() for m in ms})}
    studios = dict(
        (await session.execute(select(col(Slot.id), col(Slot.studio_id)).where(col(Slot.id).in_({b.slot_id for b in bookings})))).all()
    )
    out = []
    for b in bookings:
        assert b.id is not None
        counties = {anchor_county[m.anchor_id] for m in members[b.id]}
        pending = sorted(counties - approved[b.id]) if b.status == BookingStatus.requested else []
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
                anchor_ids=[m.anchor_id for m in members[b.id]],
                product_ids=products[b.id],
                cohosts=[CoHostPublic(anchor_id=m.anchor_id, accepted=m.accepted_at is not None) for m in members[b.id][1:]],
                pending_county_ids=pending,
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
    county_ids: Iterable[int] | None = None,
) -> tuple[list[BookingPublic], str | None]:
    """A page of bookings, filtered by anchor, time, status and (None: any) the counties of its anchors."""
    stmt = select(Booking)
    if county_ids is not None:
        anchors = [a.id for a in await catalog.anchors_in_counties(session, county_ids)]
        stmt = stmt.where(col(Booking.id).in_(select(col(BookingAnchor.booking_id)).where(col(BookingAnchor.anchor_id).in_(anchors))))
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


# --- state changes ---------------------------------------------------------------------------


async def transition(session: AsyncSession, booking_id: int, to: BookingStatus, *, now: datetime) -> bool:
    """Compare-and-set the booking's status; True if this call changed it."""
    values: dict[str, Any] = {"status": to}
    if to == BookingStatus.confirmed:
        values["confirmed_at"] = now
    elif to == BookingStatus.cancelled:
        values["cancelled_at"] = now
    elif to == BookingStatus.requested:
        values["confirmed_at"] = None
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


async def require_organizer(session: AsyncSession, principal: Principal, booking_id: int) -> Booking:
    """The booking, if the caller organizes one of its counties (or is an admin); else Forbidden."""
    booking = await get_booking(session, booking_id)
    if not await _organizes(session, principal, booking_id):
        raise Forbidden(_l("Only the organizers of this booking's counties can manage it."))
    return booking


async def _confirm_if_agreed(session: AsyncSession, principal: Principal, booking: Booking, now: datetime) -> bool:
    """Confirm the booking when every county has agreed and every co-host accepted; True if this call did."""
    assert booking.id is not None
    members = await _members(session, booking.id)
    if any(m.accepted_at is None for m in members):
        return False
    if await booking_county_ids(session, booking.id) - await _approved_county_ids(session, booking.id):
        return False
    if not await transition(session, booking.id, BookingStatus.confirmed, now=now):
        return False
    await audit.record(session, principal, "booking.confirmed", f"booking:{booking.id}", {}, now=now)
    return True


async def confirm_booking(session: AsyncSession, principal: Principal, booking_id: int, *, now: datetime) -> Booking:
    """An organizer agrees for the booking's counties it organizes, and for their co-hosts; an admin for all.

    The booking is confirmed once every county and co-host has agreed; confirming twice changes nothing.
    """
    booking = await get_booking(session, booking_id, for_update=True)
    if not await _organizes(session, principal, booking_id):
        raise Forbidden(_l("Only the organizers of this booking's counties can confirm it."))
    if booking.status == BookingStatus.confirmed:
        return booking
    if booking.status != BookingStatus.requested:
        raise InvalidState(
            _l(
                "The booking at {time} is {status} and cannot be confirmed.",
                time=at_time(booking.starts_at),
                status=status_word(booking.status),
            )
        )
    counties = await booking_county_ids(session, booking_id)
    mine = {c for c in counties if principal.covers_county(c)} - await _approved_county_ids(session, booking_id)
    for county_id in sorted(mine):
        session.add(BookingApproval(booking_id=booking_id, county_id=county_id, approved_by=principal.id or None, approved_at=now))
    anchor_county = {a.id: a.county_id for a in await catalog.anchors_by_ids(session, await booking_anchor_ids(session, booking_id))}
    for member in await _members(session, booking_id):
        if member.accepted_at is None and principal.covers_county(anchor_county[member.anchor_id]):
            member.accepted_at = now
            session.add(member)
    await session.flush()
    if mine:
        await audit.record(session, principal, "booking.approved", f"booking:{booking_id}", {"county_ids": sorted(mine)}, now=now)
    await _confirm_if_agreed(session, principal, booking, now)
    await session.refresh(booking)
    return booking


async def accept_booking(session: AsyncSession, principal: Principal, booking_id: int, *, now: datetime) -> Booking:
    """A co-host's cadre accepts the invitation; the booking is confirmed if that was the last agreement missing."""
    booking = await get_booking(session, booking_id, for_update=True)
    member = next((m for m in await _members(session, booking_id) if m.anchor_id == principal.anchor_id), None)
    if principal.role != Role.cadre or member is None or member.position == 0:
        raise Forbidden(_l("Only a co-host's own cadre can accept its invitation."))
    if booking.status not in (BookingStatus.requested, BookingStatus.confirmed):
        raise InvalidState(
            _l(
                "The booking at {time} is {status}; its invitations are closed.",
                time=at_time(booking.starts_at),
                status=status_word(booking.status),
            )
        )
    if member.accepted_at is None:
        member.accepted_at = now
        session.add(member)
        await session.flush()
        await audit.record(session, principal, "booking.accepted", f"booking:{booking_id}", {"anchor_id": member.anchor_id}, now=now)
    await _confirm_if_agreed(session, principal, booking, now)
    await session.refresh(booking)
    return booking


async def _may_change(session: AsyncSession, principal: Principal, booking: Booking) -> bool:
    assert booking.id is not None
    own = principal.role == Role.cadre and principal.anchor_id in await booking_anchor_ids(session, booking.id)
    return own or booking.created_by == principal.id or await _organizes(session, principal, booking.id)


async def cancel_booking(session: AsyncSession, principal: Principal, booking_id: int, *, now: datetime) -> Booking:
    """Cancel a booking that has not gone live, and its stream; cancelling twice changes nothing."""
    booking = await get_booking(session, booking_id)
    if not await _may_change(session, principal, booking):
        raise Forbidden(_l("Only the booking's anchors, whoever booked it, and its organizers can cancel it."))
    changed = await transition(session, booking_id, BookingStatus.cancelled, now=now)
    await session.refresh(booking)
    if changed:
        await audit.record(session, principal, "booking.cancelled", f"booking:{booking_id}", {"stream_id": booking.stream_id}, now=now)
        if booking.stream_id is not None:
            await streams.cancel_stream(session, booking.stream_id)
    elif booking.status != BookingStatus.cancelled:
        raise InvalidState(
            _l(
                "The booking at {time} is {status} and cannot be cancelled.",
                time=at_time(booking.starts_at),
                status=status_word(booking.status),
            )
        )
    return booking


async def reschedule_booking(
    session: AsyncSession, principal: Principal, booking_id: int, data: BookingReschedule, *, settings: Settings, now: datetime
) -> Booking:
    """Move a booking that has not gone live to another slot, through the same rules as a new booking.

    Its people agreed to the old time only, so a moved booking asks again: it returns to `requested`
    with the host's acceptance kept and the counties' and co-hosts' agreements cleared.
    """
    booking = await get_booking(session, booking_id, for_update=True)
    if not await _may_change(session, principal, booking):
        raise Forbidden(_l("Only the booking's anchors, whoever booked it, and its organizers can move it."))
    if booking.status not in (BookingStatus.requested, BookingStatus.confirmed):
        raise InvalidState(
            _l(
                "The booking at {time} is {status} and cannot be moved.",
                time=at_time(booking.starts_at),
                status=status_word(booking.status),
            )
        )
    if data.slot_id == booking.slot_id:
        return booking
    slot = await get_slot(session, data.slot_id)
    anchor_ids = await booking_anchor_ids(session, booking_id)
    county_ids = await booking_county_ids(session, booking_id)
    overridden = await _clashes_or_raise(
        session,
        principal,
        slot=slot,
        anchor_ids=anchor_ids,
        county_ids=county_ids,
        override_reason=data.notice_override_reason,
        settings=settings,
        now=now,
        ignore_booking_id=booking_id,
        also=[
            *await foreign_studio_clashes(session, slot, county_ids),
            *await uncertified_clashes(session, slot, await _product_ids(session, booking_id)),
        ],
    )
    before = {"slot_id": booking.slot_id, "starts_at": booking.starts_at.isoformat()}
    await transition(session, booking_id, BookingStatus.requested, now=now)
    await session.execute(delete(BookingApproval).where(col(BookingApproval.booking_id) == booking_id))
    await session.execute(
        update(BookingAnchor)
        .where(col(BookingAnchor.booking_id) == booking_id, col(BookingAnchor.position) > 0)
        .values(accepted_at=None)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(booking)
    booking.slot_id, booking.starts_at, booking.ends_at = data.slot_id, slot.starts_at, slot.ends_at
    session.add(booking)
    await session.flush()
    if booking.stream_id is not None:
        await streams.reschedule_stream(
            session,
            booking.stream_id,
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            studio_id=slot.studio_id,
            certified_only=await certified_only(session, slot),
        )
    after = {"slot_id": data.slot_id, "starts_at": slot.starts_at.isoformat()}
    await audit.record(session, principal, "booking.rescheduled", f"booking:{booking_id}", {"from": before, "to": after}, now=now)
    if overridden:
        await _audit_override(session, principal, booking_id, data.notice_override_reason, slot, now)
    return booking


# --- the go-live guard -----------------------------------------------------------------------


async def guard_stream_start(session: AsyncSession, start: StreamStart) -> None:
    """Before a stream goes live by hand: lock its studio, and object unless its booking is confirmed.

    Connected to `stream_starting` by the composition root. The studio lock makes two hand starts
    in one studio take turns, so the second sees the first live.
    """
    if start.booking_id is None:
        return
    booking = await session.get(Booking, start.booking_id)
    if booking is None:
        return
    slot = await session.get(Slot, booking.slot_id)
    if slot is not None:
        await lock_studio(session, slot.studio_id)
    if booking.status != BookingStatus.confirmed:
        start.conflicts.append(
            {
                "kind": "booking_not_confirmed",
                "booking_id": booking.id,
                "stream_id": start.stream_id,
                "detail": f"the booking is {booking.status}, not confirmed",
            }
        )
