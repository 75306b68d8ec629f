"""Purchasing units and their quotas: the reserved share of a unit's canteen budget, and how much of it is done."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.assistance import repository
from livecommerce.assistance.models import PurchasingUnit, UnitType
from livecommerce.assistance.schemas import Quota, UnitCreate
from livecommerce.audit import service as audit
from livecommerce.catalog import certification
from livecommerce.catalog.service import get_county
from livecommerce.kit.errors import Forbidden, InvalidInput, NotFound
from livecommerce.kit.i18n import LazyMessage, _l
from livecommerce.kit.pagination import PageParams
from livecommerce.kit.principal import Principal
from livecommerce.ledger.service import REPORTING_ZONE
from livecommerce.orders import repository as orders

TOTAL_BP = 10000
MIN_YEAR, MAX_YEAR = 2000, 2100


def _bad(field: str, message: str, detail: LazyMessage | str) -> InvalidInput:
    return InvalidInput(detail, extra={"errors": [{"field": field, "message": message}]})


async def create_unit(session: AsyncSession, principal: Principal, data: UnitCreate, now: datetime) -> PurchasingUnit:
    """Add a purchasing unit; a union names its parent, and a unit without a county is the province's (admins only)."""
    parent = None
    if data.parent_unit_id is not None:
        parent = await repository.get_unit(session, data.parent_unit_id)
        if parent is None:
            raise _bad(
                "parent_unit_id", "unknown unit", _l("Purchasing unit {parent_unit_id} does not exist.", parent_unit_id=data.parent_unit_id)
            )
    elif data.unit_type == UnitType.union:
        raise _bad("parent_unit_id", "a union belongs to a parent unit", _l("A trade union must name the unit it belongs to."))
    county_id = data.county_id if data.county_id is not None else (parent.county_id if parent is not None else None)
    if county_id is None:
        if not principal.is_admin:
            raise Forbidden(_l("Only admins add units followed by the province; name a county you act for."))
    else:
        await get_county(session, county_id)
        principal.require_county(county_id)
    unit = PurchasingUnit(**data.model_dump(exclude={"county_id"}), county_id=county_id, created_at=now)
    session.add(unit)
    await session.flush()
    details = {"unit_type": data.unit_type, "parent_unit_id": data.parent_unit_id, "county_id": county_id}
    await audit.record(session, principal, "unit.created", f"unit:{unit.id}", details, now=now)
    return unit


def _require_sees(principal: Principal, unit: PurchasingUnit) -> None:
    if unit.county_id is None:
        if not principal.is_admin:
            raise Forbidden(_l("Only admins follow units of the province."))
    else:
        principal.require_county(unit.county_id)


async def get_unit(session: AsyncSession, principal: Principal, unit_id: int) -> PurchasingUnit:
    """The unit, if the caller follows it (admins all; organizers their counties' units)."""
    unit = await repository.get_unit(session, unit_id)
    if unit is None:
        raise NotFound(_l("Purchasing unit {unit_id} does not exist.", unit_id=unit_id))
    _require_sees(principal, unit)
    return unit


async def list_units(session: AsyncSession, principal: Principal, params: PageParams) -> tuple[list[PurchasingUnit], str | None]:
    """One page of the units the caller follows."""
    return await repository.page_of_units(session, None if principal.is_admin else principal.county_ids, params)


async def family_ids(session: AsyncSession, unit_id: int) -> list[int]:
    """The unit and every unit below it (unions and other children, at any depth)."""
    seen = [unit_id]
    frontier = [unit_id]
    while frontier:
        children = [c.id for c in await repository.children_of(session, frontier) if c.id is not None and c.id not in seen]
        seen += children
        frontier = children
    return seen


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """The UTC instants where the year begins and the next begins, on the reporting calendar (Asia/Shanghai)."""
    return datetime(year, 1, 1, tzinfo=REPORTING_ZONE), datetime(year + 1, 1, 1, tzinfo=REPORTING_ZONE)


def quota_fen(unit: PurchasingUnit) -> int:
    """The reserved share of the unit's yearly food budget, rounded down to the fen."""
    return unit.annual_food_budget_fen * unit.reserved_share_bp // TOTAL_BP


async def completed_fen(session: AsyncSession, unit_ids: list[int], year: int) -> int:
    """What the units bought of certified products in the year, paid less refunded.

    A line counts when its product was certified at the moment it was paid; a refund
    subtracts it in the year the refund happened, as the ledger reverses it then.
    """
    begin, finish = year_bounds(year)
    lines = await orders.unit_purchase_lines(session, unit_ids, begin, finish)
    history = await certification.validities(session, (product_id for product_id, *_ in lines))
    total = 0
    for product_id, amount, paid_at, refunded_at in lines:
        if not certification.certified_at(history.get(product_id, []), paid_at):
            continue
        if begin <= paid_at < finish:
            total += amount
        if refunded_at is not None and begin <= refunded_at < finish:
            total -= amount
    return total


async def quota(session: AsyncSession, principal: Principal, unit_id: int, year: int) -> Quota:
    """The unit's quota for a year, what it and its children completed, and the completion in basis points."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise _bad(
            "year",
            f"between {MIN_YEAR} and {MAX_YEAR}",
            _l("The year must lie between {MIN_YEAR} and {MAX_YEAR}.", MIN_YEAR=MIN_YEAR, MAX_YEAR=MAX_YEAR),
        )
    unit = await get_unit(session, principal, unit_id)
    target = quota_fen(unit)
    done = await completed_fen(session, await family_ids(session, unit_id), year)
    rate = done * TOTAL_BP // target if target > 0 else 0
    return Quota(unit_id=unit_id, year=year, quota_fen=target, completed_fen=done, completion_bp=rate)


class Units:
    """The order desk's directory of purchasing units (see `livecommerce.orders.desk.UnitDirectory`)."""

    async def describe(self, session: AsyncSession, unit_id: int) -> tuple[str, str] | None:
        """The unit's name and type, or None."""
        unit = await repository.get_unit(session, unit_id)
        return None if unit is None else (unit.name, unit.unit_type)
