"""Every query of the purchasing-unit table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.assistance.models import PurchasingUnit
from livecommerce.kit.pagination import PageParams, paginate


async def get_unit(session: AsyncSession, unit_id: int) -> PurchasingUnit | None:
    """The unit, or None."""
    return await session.get(PurchasingUnit, unit_id)


async def children_of(session: AsyncSession, unit_ids: Sequence[int]) -> list[PurchasingUnit]:
    """The units whose parent is one of `unit_ids`."""
    if not unit_ids:
        return []
    return list(await session.scalars(select(PurchasingUnit).where(col(PurchasingUnit.parent_unit_id).in_(list(unit_ids)))))


async def page_of_units(
    session: AsyncSession, county_ids: frozenset[int] | None, params: PageParams
) -> tuple[list[PurchasingUnit], str | None]:
    """One page of units by id, of the given counties only unless `county_ids` is None."""
    stmt = select(PurchasingUnit)
    if county_ids is not None:
        stmt = stmt.where(col(PurchasingUnit.county_id).in_(sorted(county_ids)))
    return await paginate(session, stmt, PurchasingUnit.id, params)  # type: ignore[arg-type]


async def units_by_ids(session: AsyncSession, unit_ids: Iterable[int]) -> list[PurchasingUnit]:
    """The units with these ids that exist."""
    ids = sorted(set(unit_ids))
    if not ids:
        return []
    return list(await session.scalars(select(PurchasingUnit).where(col(PurchasingUnit.id).in_(ids))))
