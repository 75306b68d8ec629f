"""Campaign plans: build the planner's instance from the calendar, keep its proposals, and book one all or none.

Planning reads the calendar, ends that transaction, solves (on SQLite a transaction holds the
write lock, and a solve takes seconds), then stores the proposal in a new transaction.
Applying books every assignment through the ordinary booking rules inside the request's
transaction: a clash anywhere (the calendar changed meanwhile) raises 409 listing every clash,
and the request rolls back, so nothing is booked.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.audit import service as audit
from livecommerce.broadcasts import service as streams
from livecommerce.catalog import certification
from livecommerce.catalog import service as catalog
from livecommerce.kit.errors import Conflict, Forbidden, InvalidInput, InvalidState, NotFound
from livecommerce.kit.i18n import _l
from livecommerce.kit.principal import Principal
from livecommerce.kit.settings import Settings
from livecommerce.ledger import review as ledger_review
from schedulers import bookings, rules
from schedulers.campaigns import get_campaign
from schedulers.models import ACTIVE_BOOKING_STATUSES, AnchorAvailability, Booking, BookingAnchor, CampaignPlan, Studio
from schedulers.planner import Instance, PlanAnchor, PlanSlot, Weights, hour_scores, solve
from schedulers.schemas import BookingCreate, PlanAssignment, PlanCreate, PlanPublic, PlanUnfilled
from schedulers.slots import campaign_slots
from schedulers.studios import serves, studio_counties


async def build_instance(
    session: AsyncSession, principal: Principal, campaign_id: int, data: PlanCreate, *, settings: Settings, now: datetime
) -> tuple[Instance, dict[tuple[int, int], list[int]]]:
    """The planner's instance for a campaign's open slots, and the products each county would present in each slot."""
    if not principal.is_staff:
        raise Forbidden(_l("Only organizers and admins plan campaigns."))
    campaign = await get_campaign(session, campaign_id)
    slots = await campaign_slots(session, campaign_id)
    booked = set(
        (
            await session.scalars(
                select(col(Booking.slot_id)).where(
                    col(Booking.slot_id).in_([s.id for s in slots]), col(Booking.status).in_(ACTIVE_BOOKING_STATUSES)
                )
            )
        ).all()
    )
    open_slots = [s for s in slots if s.id not in booked]
    # County rules: an organizer plans only with the anchors of the counties it acts for.
    anchors = await catalog.anchors_in_counties(session, None if principal.is_admin else principal.county_ids)
    anchor_ids = [a.id for a in anchors if a.id is not None]
    plan_slots = [
        PlanSlot(
            id=s.id or 0,
            studio_id=s.studio_id,
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            week=rules.local_week_bounds(s.starts_at, settings)[0],
            day=rules.local_day_bounds(s.starts_at, settings)[0],
            hour=s.starts_at.astimezone(settings.tz).hour,
        )
        for s in open_slots
    ]
    plan_anchors = []
    for a in anchors:
        assert a.id is not None
        weekly, daily = await rules.limits_of(session, a.id, settings)
        plan_anchors.append(PlanAnchor(id=a.id, county_id=a.county_id, weekly_max=weekly, daily_max_minutes=daily))
    instance = Instance(
        slots=plan_slots,
        anchors=plan_anchors,
        buffer_minutes=settings.booking_buffer_minutes,
        county_weights={w.county_id: w.weight for w in data.county_weights},
        previous=await _previous_assignment(session, campaign_id, {s.id for s in plan_slots}),
        weights=Weights(hours=data.best_hours_weight),
        county_hours=await _county_hours(session, settings) if data.best_hours_weight else {},
    )
    await _block(session, instance, anchor_ids, settings=settings, now=now)
    await _block_foreign_studios(session, instance)
    by_county = await catalog.active_product_ids_by_county(session, {a.county_id for a in anchors})
    products = {(s.id, c): ids for s in plan_slots for c, ids in by_county.items()}
    if campaign.certified_only:
        products = await _certified_products(session, instance, products)
    return instance, products


async def _block_foreign_studios(session: AsyncSession, instance: Instance) -> None:
    """A county's studio airs its own county's broadcasts (`studios.serves`): no anchor of another county is put in it."""
    counties = await studio_counties(session, {s.studio_id for s in instance.slots})
    for s in instance.slots:
        for a in instance.anchors:
            if not serves(counties.get(s.studio_id), [a.county_id]) and instance.allowed(s.id, a.id):
                instance.blocked[(s.id, a.id)] = "studio_county"


async def _certified_products(
    session: AsyncSession, instance: Instance, products: dict[tuple[int, int], list[int]]
) -> dict[tuple[int, int], list[int]]:
    """A certified-only campaign presents certified products only: a county with none for a slot cannot host it."""
    history = await certification.validities(session, {pid for ids in products.values() for pid in ids})

    def certified(pid: int, slot: PlanSlot) -> bool:
        return all(certification.certified_at(history.get(pid, []), at) for at in (slot.starts_at, slot.ends_at - timedelta(seconds=1)))

    slots = {s.id: s for s in instance.slots}
    kept = {(slot_id, c): [pid for pid in ids if certified(pid, slots[slot_id])] for (slot_id, c), ids in products.items()}
    for s in instance.slots:
        for a in instance.anchors:
            if not kept.get((s.id, a.county_id)) and instance.allowed(s.id, a.id):
                instance.blocked[(s.id, a.id)] = "uncertified"
    return kept


async def _county_hours(session: AsyncSession, settings: Settings) -> dict[tuple[int, int], int]:
    """How well each county's past streams sold at each local hour they went live (0..10, see `hour_scores`)."""
    starts = await streams.past_stream_starts(session)
    sales = await ledger_review.county_sales_of_streams(session, starts)
    return hour_scores((county_id, starts[stream_id].astimezone(settings.tz).hour, net) for (stream_id, county_id), net in sales.items())


async def _previous_assignment(session: AsyncSession, campaign_id: int, open_ids: set[int]) -> dict[int, int]:
    """The latest plan's hosts of the slots still open: re-planning keeps them where it can."""
    latest = await session.scalar(
        select(CampaignPlan).where(col(CampaignPlan.campaign_id) == campaign_id).order_by(col(CampaignPlan.id).desc()).limit(1)
    )
    if latest is None:
        return {}
    return {a["slot_id"]: a["anchor_ids"][0] for a in latest.assignments if a["slot_id"] in open_ids and a["anchor_ids"]}


async def _block(session: AsyncSession, instance: Instance, anchor_ids: list[int], *, settings: Settings, now: datetime) -> None:
    """Mark every (slot, anchor) pair a booking rule forbids, with the rule, and count what is already booked."""
    if not instance.slots or not anchor_ids:
        return
    lower = min(s.starts_at for s in instance.slots) - timedelta(days=8)
    upper = max(s.ends_at for s in instance.slots) + timedelta(days=8)
    rows = (
        await session.execute(
            select(Booking, col(BookingAnchor.anchor_id))
            .join(BookingAnchor, col(BookingAnchor.booking_id) == col(Booking.id))
            .where(
                col(BookingAnchor.anchor_id).in_(anchor_ids),
                col(Booking.status).in_(rules.COUNTED_STATUSES),
                col(Booking.starts_at) < upper,
                col(Booking.ends_at) > lower,
            )
        )
    ).all()
    busy: dict[int, list[Booking]] = defaultdict(list)
    for booking, anchor_id in rows:
        if booking.status in ACTIVE_BOOKING_STATUSES:
            busy[anchor_id].append(booking)
        week = rules.local_week_bounds(booking.starts_at, settings)[0]
        day = rules.local_day_bounds(booking.starts_at, settings)[0]
        instance.week_used[(anchor_id, week)] = instance.week_used.get((anchor_id, week), 0) + 1
        minutes = int((booking.ends_at - booking.starts_at).total_seconds() // 60)
        instance.day_used[(anchor_id, day)] = instance.day_used.get((anchor_id, day), 0) + minutes
    windows: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for w in (await session.scalars(select(AnchorAvailability).where(col(AnchorAvailability.anchor_id).in_(anchor_ids)))).all():
        windows[w.anchor_id].append((w.weekday, w.start_minute, w.end_minute))
    buffer = timedelta(minutes=settings.booking_buffer_minutes)
    notice = now + timedelta(minutes=settings.booking_min_notice_minutes)
    limits = {a.id: a for a in instance.anchors}
    for s in instance.slots:
        for anchor_id in anchor_ids:
            a = limits[anchor_id]
            reason = None
            if s.starts_at < notice:
                reason = "notice"
            elif not rules.fits_windows(windows[anchor_id], s.starts_at, s.ends_at, settings):
                reason = "availability"
            elif any(b.starts_at < s.ends_at + buffer and b.ends_at > s.starts_at - buffer for b in busy[anchor_id]):
                reason = "anchor"
            elif instance.week_used.get((anchor_id, s.week), 0) + 1 > a.weekly_max:
                reason = "weekly_limit"
            elif instance.day_used.get((anchor_id, s.day), 0) + s.minutes > a.daily_max_minutes:
                reason = "daily_limit"
            if reason is not None:
                instance.blocked[(s.id, anchor_id)] = reason


async def create_plan(
    session: AsyncSession,
    principal: Principal,
    campaign_id: int,
    draft: tuple[Instance, dict[tuple[int, int], list[int]]],
    data: PlanCreate,
    *,
    settings: Settings,
    now: datetime,
) -> PlanPublic:
    """Solve a drafted instance (outside the event loop) and keep the proposal."""
    instance, products = draft
    solution = await asyncio.to_thread(solve, instance, time_limit_seconds=data.time_limit_seconds, workers=settings.planner_workers)
    counties = {a.id: a.county_id for a in instance.anchors}
    plan = CampaignPlan(
        campaign_id=campaign_id,
        status=solution.status,
        objective=solution.objective,
        bound=solution.bound,
        assignments=[
            {"slot_id": slot_id, "anchor_ids": [anchor_id], "product_ids": products.get((slot_id, counties[anchor_id]), [])[:20]}
            for slot_id, anchor_id in sorted(solution.assignment.items())
        ],
        unfilled=[{"slot_id": slot_id, "reason": reason} for slot_id, reason in sorted(solution.unfilled.items())],
        created_by=principal.id or None,
        created_at=now,
    )
    session.add(plan)
    await session.flush()
    assert plan.id is not None
    details = {"campaign_id": campaign_id, "status": plan.status, "assignments": len(plan.assignments)}
    await audit.record(session, principal, "plan.created", f"plan:{plan.id}", details, now=now)
    return plan_public(plan)


def plan_public(plan: CampaignPlan) -> PlanPublic:
    """The plan as the API shows it."""
    assert plan.id is not None
    return PlanPublic(
        id=plan.id,
        campaign_id=plan.campaign_id,
        status=plan.status,
        objective=plan.objective,
        bound=plan.bound,
        assignments=[PlanAssignment(**a) for a in plan.assignments],
        unfilled=[PlanUnfilled(**u) for u in plan.unfilled],
        created_at=plan.created_at,
        applied_at=plan.applied_at,
    )


async def get_plan(session: AsyncSession, campaign_id: int, plan_id: int, *, for_update: bool = False) -> CampaignPlan:
    """The plan of the campaign, or NotFound."""
    stmt = select(CampaignPlan).where(col(CampaignPlan.id) == plan_id, col(CampaignPlan.campaign_id) == campaign_id)
    if for_update:
        stmt = stmt.with_for_update()
    plan = await session.scalar(stmt)
    if plan is None:
        raise NotFound(_l("Plan {plan_id} of campaign {campaign_id} does not exist.", plan_id=plan_id, campaign_id=campaign_id))
    return plan


async def apply_plan(
    session: AsyncSession, principal: Principal, campaign_id: int, plan_id: int, *, settings: Settings, now: datetime
) -> CampaignPlan:
    """Book and confirm every assignment through the booking rules, all or none (409 with every clash)."""
    if not principal.is_staff:
        raise Forbidden(_l("Only organizers and admins apply plans."))
    plan = await get_plan(session, campaign_id, plan_id, for_update=True)
    if plan.applied_at is not None:
        raise InvalidState(_l("Plan {plan_id} was applied at {applied_at}.", plan_id=plan_id, applied_at=plan.applied_at.isoformat()))
    conflicts: list[dict[str, object]] = []
    for item in plan.assignments:
        body = BookingCreate(slot_id=item["slot_id"], anchor_ids=item["anchor_ids"], product_ids=item["product_ids"])
        try:
            # A savepoint per assignment, so one clash does not hide the next: every clash is reported.
            async with session.begin_nested():
                booking = await bookings.create_booking(session, principal, body, settings=settings, now=now)
                assert booking.id is not None
                await bookings.confirm_booking(session, principal, booking.id, now=now)
        except Conflict as exc:
            for clash in exc.extra.get("conflicts", [{"kind": "conflict", "detail": exc.detail}]):
                conflicts.append({**clash, "planned_slot_id": item["slot_id"]})
        except (Forbidden, InvalidInput) as exc:
            conflicts.append({"kind": "refused", "planned_slot_id": item["slot_id"], "detail": exc.detail})
    if conflicts:
        raise Conflict(_l("The calendar changed since this plan was made; nothing was booked."), extra={"conflicts": conflicts})
    plan.applied_at = now
    session.add(plan)
    await session.flush()
    await audit.record(session, principal, "plan.applied", f"plan:{plan_id}", {"bookings": len(plan.assignments)}, now=now)
    return plan


@dataclass(frozen=True)
class PlanRow:
    """One slot of a plan's calendar: who is booked now and whom the plan proposes."""

    slot_id: int
    starts_at: datetime
    ends_at: datetime
    studio: str
    current: list[str]
    planned: list[str]
    reason: str | None  # why the plan leaves it empty

    @property
    def changes(self) -> bool:
        """True when applying the plan books this slot."""
        return bool(self.planned) and not self.current


@dataclass(frozen=True)
class PlanCalendar:
    """A plan beside the current calendar, slot by slot in time order."""

    plan: PlanPublic
    campaign_name: str
    rows: list[PlanRow]


async def plan_calendar(session: AsyncSession, plan_id: int) -> PlanCalendar:
    """The page's view of a plan: each slot of its campaign with its current booking and its proposal."""
    plan = await session.get(CampaignPlan, plan_id)
    if plan is None:
        raise NotFound(_l("Plan {plan_id} does not exist.", plan_id=plan_id))
    campaign = await get_campaign(session, plan.campaign_id)
    slots = await campaign_slots(session, plan.campaign_id)
    current: dict[int, list[int]] = defaultdict(list)
    found = await session.execute(
        select(col(Booking.slot_id), col(BookingAnchor.anchor_id))
        .join(BookingAnchor, col(BookingAnchor.booking_id) == col(Booking.id))
        .where(col(Booking.slot_id).in_([s.id for s in slots]), col(Booking.status).in_(ACTIVE_BOOKING_STATUSES))
        .order_by(col(BookingAnchor.position))
    )
    for slot_id, anchor_id in found.all():
        current[slot_id].append(anchor_id)
    planned = {a["slot_id"]: a["anchor_ids"] for a in plan.assignments}
    reasons = {u["slot_id"]: u["reason"] for u in plan.unfilled}
    wanted = {i for ids in [*current.values(), *planned.values()] for i in ids}
    names = {a.id: a.name for a in await catalog.anchors_by_ids(session, wanted)}
    studios = {s.id: s.name for s in (await session.scalars(select(Studio).where(col(Studio.id).in_({s.studio_id for s in slots})))).all()}
    rows = [
        PlanRow(
            slot_id=s.id or 0,
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            studio=studios.get(s.studio_id, str(s.studio_id)),
            current=[names.get(i, str(i)) for i in current.get(s.id or 0, [])],
            planned=[names.get(i, str(i)) for i in planned.get(s.id or 0, [])],
            reason=reasons.get(s.id or 0),
        )
        for s in slots
    ]
    return PlanCalendar(plan=plan_public(plan), campaign_name=campaign.name, rows=rows)
