"""An anchor's side of the schedule: weekly availability windows, booking limits, who may read its calendar."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, delete, select

from livecommerce.catalog import service as catalog
from livecommerce.kit.errors import Forbidden
from livecommerce.kit.i18n import _l
from livecommerce.kit.principal import Principal, Role
from livecommerce.kit.settings import Settings
from schedulers import rules
from schedulers.models import AnchorAvailability, AnchorLimit
from schedulers.schemas import AnchorLimits, Availability, AvailabilityWindow, EffectiveLimits, hhmm_of, minutes_of

if TYPE_CHECKING:
    from livecommerce.catalog.models import Anchor


async def get_anchor(session: AsyncSession, anchor_id: int) -> Anchor:
    """The anchor, or NotFound."""
    return await catalog.get_anchor(session, anchor_id)


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
        raise Forbidden(_l("Only the anchor and the organizers of its county can set its availability."))
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
        raise Forbidden(_l("Only the organizers of the anchor's county can set its limits."))
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
        raise Forbidden(_l("Only the anchor and the organizers of its county can read its schedule."))
    return anchor
