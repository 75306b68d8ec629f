"""Routes for purchasing units and their quotas (staff: admins all, organizers their counties' units)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from livecommerce.assistance import service, stats
from livecommerce.assistance.schemas import Quota, UnitCreate, UnitPublic
from livecommerce.kit.auth import StaffUser
from livecommerce.kit.deps import ClockDep, SessionDep
from livecommerce.kit.pagination import Page, PageDep
from livecommerce.kit.query import QueryBool, QueryInt, flag, number
from livecommerce.kit.types import MAX_ID
from livecommerce.ledger import reports
from livecommerce.ledger.schemas import ConsumptionStats
from livecommerce.ledger.service import REPORTING_ZONE

router = APIRouter(prefix="/api", tags=["consumption assistance"])
UnitId = Annotated[int, Path(gt=0, le=MAX_ID, description="The purchasing unit.")]


@router.post("/units", response_model=UnitPublic, status_code=201, summary="Add a purchasing unit (staff)")
async def create_unit(session: SessionDep, principal: StaffUser, clock: ClockDep, body: UnitCreate) -> UnitPublic:
    """Add a party, government, enterprise, school or union unit with its canteen budget and reserved share."""
    unit = await service.create_unit(session, principal, body, clock.now())
    return UnitPublic.model_validate(unit, from_attributes=True)


@router.get("/units", response_model=Page[UnitPublic], summary="List the purchasing units you follow (staff)")
async def list_units(session: SessionDep, principal: StaffUser, page: PageDep) -> Page[UnitPublic]:
    """Units by id: every unit for admins, their counties' units for organizers."""
    rows, cursor = await service.list_units(session, principal, page)
    return Page(items=[UnitPublic.model_validate(r, from_attributes=True) for r in rows], next_cursor=cursor)


@router.get("/units/{unit_id}", response_model=UnitPublic, summary="One purchasing unit (staff)")
async def get_unit(session: SessionDep, principal: StaffUser, unit_id: UnitId) -> UnitPublic:
    """A unit you follow."""
    return UnitPublic.model_validate(await service.get_unit(session, principal, unit_id), from_attributes=True)


@router.get("/units/{unit_id}/quota", response_model=Quota, summary="A unit's reserved share for a year and its completion (staff)")
async def get_quota(
    session: SessionDep,
    principal: StaffUser,
    clock: ClockDep,
    unit_id: UnitId,
    year: Annotated[QueryInt | None, Query(ge=2000, le=2100, description=number("Default: this year (Asia/Shanghai)."))] = None,
) -> Quota:
    """Paid purchases of certified products by the unit and its children in the year, refunds subtracted."""
    chosen = year if year is not None else clock.now().astimezone(REPORTING_ZONE).year
    return await service.quota(session, principal, unit_id, chosen)


@router.get(
    "/stats/consumption",
    response_model=ConsumptionStats,
    tags=["reports"],
    summary="Sales credited to poverty alleviation, by county, channel, unit type or linkage; certified only, monitored or not (staff)",
    responses={422: {"description": "A bad period or grouping"}},
)
async def consumption(
    session: SessionDep,
    staff: StaffUser,
    clock: ClockDep,
    start: Annotated[date | None, Query(alias="from", description="First day (Asia/Shanghai), default 29 days before `to`.")] = None,
    end: Annotated[date | None, Query(alias="to", description="Last day, inclusive (Asia/Shanghai), default today.")] = None,
    group_by: Annotated[
        Literal["county", "channel", "unit_type", "linkage", "mechanism"],
        Query(
            description="`county`, `channel`, `unit_type` (of the purchasing unit), `linkage` (the benefit linkage of the credited "
            "household: `production`, `employment`, `dividend`, `other`, `not_recorded`; a line crediting households of two types "
            "counts in both, household credits add up to the total) or `mechanism` (the benefit-linkage mechanism recorded "
            "on the product, `not_recorded` when none is)."
        ),
    ] = "county",
    certified_only: Annotated[QueryBool, Query(description=flag("Count only products certified when the sale was paid."))] = False,
    monitored: Annotated[
        QueryBool | None,
        Query(
            description=flag(
                "`true`: count only what reached households under anti-relapse monitoring (their credits and the lines that "
                "credited them); `false`: only what reached households not under monitoring; left out: everything."
            )
        ),
    ] = None,
) -> ConsumptionStats:
    """An admin sees every county; an organizer only its own counties' sales."""
    first, last = reports.period(start, end, clock.now().astimezone(REPORTING_ZONE).date())
    return await stats.consumption_stats(
        session,
        first,
        last,
        group_by,
        None if staff.is_admin else staff.county_ids,
        certified_only=certified_only,
        monitored=monitored,
    )
