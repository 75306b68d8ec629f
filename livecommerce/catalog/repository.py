"""Every read of the catalog's tables that other modules need, so none of them queries the tables itself."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, bindparam, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.catalog.models import Anchor, County, Household, Product, Station
from livecommerce.kit.pagination import PageParams, paginate


def _ids(ids: Iterable[int]) -> list[int]:
    return sorted(set(ids))


async def counties_by_ids(session: AsyncSession, county_ids: Iterable[int] | None = None) -> list[County]:
    """The counties with these ids (every county for None), by id."""
    stmt = select(County).order_by(col(County.id))
    if county_ids is not None:
        stmt = stmt.where(col(County.id).in_(_ids(county_ids)))
    return list((await session.scalars(stmt)).all())


async def county_names(session: AsyncSession, county_ids: Iterable[int]) -> dict[int, str]:
    """The name of each of these counties that exists."""
    wanted = _ids(county_ids)
    if not wanted:
        return {}
    rows = await session.execute(select(col(County.id), col(County.name)).where(col(County.id).in_(wanted)))
    return {i: str(n) for i, n in rows.all() if i is not None}


async def product_names(session: AsyncSession, product_ids: Iterable[int]) -> dict[int, str]:
    """The name of each of these products that exists."""
    wanted = _ids(product_ids)
    if not wanted:
        return {}
    rows = await session.execute(select(col(Product.id), col(Product.name)).where(col(Product.id).in_(wanted)))
    return {i: str(n) for i, n in rows.all() if i is not None}


async def products_by_ids(session: AsyncSession, product_ids: Iterable[int], *, fresh: bool = False) -> list[Product]:
    """The products with these ids, by id; `fresh` re-reads rows the session already holds (live stock)."""
    wanted = _ids(product_ids)
    if not wanted:
        return []
    stmt = select(Product).where(col(Product.id).in_(wanted)).order_by(col(Product.id))
    if fresh:
        stmt = stmt.execution_options(populate_existing=True)
    return list((await session.scalars(stmt)).all())


async def active_products_of_counties(session: AsyncSession, county_ids: Iterable[int]) -> list[Product]:
    """The active products of these counties, by name."""
    wanted = _ids(county_ids)
    if not wanted:
        return []
    stmt = select(Product).where(col(Product.county_id).in_(wanted), col(Product.is_active)).order_by(col(Product.name))
    return list((await session.scalars(stmt)).all())


async def product_ids_of_counties(session: AsyncSession, county_ids: Iterable[int]) -> list[int]:
    """Every product of these counties (on sale or not), by id."""
    wanted = _ids(county_ids)
    if not wanted:
        return []
    stmt = select(col(Product.id)).where(col(Product.county_id).in_(wanted)).order_by(col(Product.id))
    return [int(i) for i in (await session.scalars(stmt)).all() if i is not None]


async def product_county_ids(session: AsyncSession, product_ids: Iterable[int]) -> set[int]:
    """The counties these products come from."""
    wanted = _ids(product_ids)
    if not wanted:
        return set()
    return set((await session.scalars(select(col(Product.county_id)).where(col(Product.id).in_(wanted)))).all())


async def anchors_by_ids(session: AsyncSession, anchor_ids: Iterable[int]) -> list[Anchor]:
    """The anchors with these ids, by id."""
    wanted = _ids(anchor_ids)
    if not wanted:
        return []
    return list((await session.scalars(select(Anchor).where(col(Anchor.id).in_(wanted)).order_by(col(Anchor.id)))).all())


async def anchors_of_counties(session: AsyncSession, county_ids: Iterable[int] | None) -> list[Anchor]:
    """The anchors of these counties (every anchor for None), by name."""
    stmt = select(Anchor).order_by(col(Anchor.name))
    if county_ids is not None:
        stmt = stmt.where(col(Anchor.county_id).in_(_ids(county_ids)))
    return list((await session.scalars(stmt)).all())


async def anchor_county_ids(session: AsyncSession, anchor_ids: Iterable[int]) -> set[int]:
    """The counties these anchors belong to."""
    wanted = _ids(anchor_ids)
    if not wanted:
        return set()
    return set((await session.scalars(select(col(Anchor.county_id)).where(col(Anchor.id).in_(wanted)))).all())


async def households_by_ids(session: AsyncSession, household_ids: Iterable[int]) -> dict[int, Household]:
    """The households with these ids that exist, by id."""
    wanted = _ids(household_ids)
    if not wanted:
        return {}
    rows = await session.scalars(select(Household).where(col(Household.id).in_(wanted)))
    return {h.id: h for h in rows.all() if h.id is not None}


async def stations_of_counties(session: AsyncSession, county_ids: Iterable[int]) -> list[tuple[int, str]]:
    """The id and name of every station of these counties, by id."""
    wanted = _ids(county_ids)
    if not wanted:
        return []
    stmt = select(col(Station.id), col(Station.name)).where(col(Station.county_id).in_(wanted)).order_by(col(Station.id))
    return [(i, str(n)) for i, n in (await session.execute(stmt)).all() if i is not None]


async def households_of_counties(session: AsyncSession, county_ids: Iterable[int]) -> list[tuple[int, str]]:
    """The id and name of every household of these counties, by id."""
    wanted = _ids(county_ids)
    if not wanted:
        return []
    stmt = select(col(Household.id), col(Household.name)).where(col(Household.county_id).in_(wanted)).order_by(col(Household.id))
    return [(i, str(n)) for i, n in (await session.execute(stmt)).all() if i is not None]


async def county_of(session: AsyncSession, kind: str, party_id: int) -> int | None:
    """The county of a county, station or household by id (None when there is no such row)."""
    if kind == "county":
        county = await session.get(County, party_id)
        return None if county is None else county.id
    if kind == "station":
        station = await session.get(Station, party_id)
        return None if station is None else station.county_id
    if kind == "household":
        household = await session.get(Household, party_id)
        return None if household is None else household.county_id
    return None


async def find_county(session: AsyncSession, code: str) -> County | None:
    """The county with this code, if any."""
    return (await session.scalars(select(County).where(col(County.code) == code).limit(1))).first()


async def find_station(session: AsyncSession, county_id: int, name: str) -> Station | None:
    """The county's station of this name, if any."""
    stmt = select(Station).where(col(Station.county_id) == county_id, col(Station.name) == name).limit(1)
    return (await session.scalars(stmt)).first()


async def find_household(session: AsyncSession, county_id: int, registration_no: str) -> Household | None:
    """The county's household with this registration number, if any."""
    stmt = select(Household).where(col(Household.county_id) == county_id, col(Household.registration_no) == registration_no).limit(1)
    return (await session.scalars(stmt)).first()


async def find_anchor(session: AsyncSession, county_id: int, name: str) -> Anchor | None:
    """The county's anchor of this name, if any."""
    stmt = select(Anchor).where(col(Anchor.county_id) == county_id, col(Anchor.name) == name).limit(1)
    return (await session.scalars(stmt)).first()


async def find_product(session: AsyncSession, county_id: int, name: str) -> Product | None:
    """The county's product of this name, if any."""
    stmt = select(Product).where(col(Product.county_id) == county_id, col(Product.name) == name).limit(1)
    return (await session.scalars(stmt)).first()


_PRICES = select(col(Product.id), col(Product.price_fen)).where(col(Product.id).in_(bindparam("product_ids", expanding=True)))


async def prices_of(session: AsyncSession, product_ids: Iterable[int]) -> dict[int, int]:
    """The price in fen of each of these products that exists."""
    wanted = _ids(product_ids)
    if not wanted:
        return {}
    rows = await session.execute(_PRICES, {"product_ids": wanted})
    return {i: int(p) for i, p in rows.all() if i is not None}


# --- back-office lists: a caller's counties, filtered, a page at a time ----------------------


def _scoped(stmt: Select[Any], county_column: Any, county_ids: Iterable[int] | None, county_id: int | None) -> Select[Any]:
    """Restrict to `county_ids` (None: every county) and, when given, to the one county asked for."""
    if county_ids is not None:
        stmt = stmt.where(county_column.in_(_ids(county_ids)))
    if county_id is not None:
        stmt = stmt.where(county_column == county_id)
    return stmt


def _matching(stmt: Select[Any], text: str | None, *columns: Any) -> Select[Any]:
    """Rows where any of `columns` contains `text` (case-insensitive); no text: every row."""
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        stmt = stmt.where(or_(*(c.ilike(pattern, escape="\\") for c in columns)))
    return stmt


async def search_products(
    session: AsyncSession,
    page: PageParams,
    *,
    county_ids: Iterable[int] | None,
    county_id: int | None = None,
    text: str | None = None,
    status: str | None = None,
) -> tuple[list[Product], str | None]:
    """A page of products of these counties; `status`: `in_stock`, `sold_out` or `inactive`."""
    stmt = _matching(_scoped(select(Product), col(Product.county_id), county_ids, county_id), text, col(Product.name))
    if status == "in_stock":
        stmt = stmt.where(col(Product.stock) > 0, col(Product.is_active))
    elif status == "sold_out":
        stmt = stmt.where(col(Product.stock) == 0, col(Product.is_active))
    elif status == "inactive":
        stmt = stmt.where(col(Product.is_active).is_(False))
    return await paginate(session, stmt, Product.id, page)  # type: ignore[arg-type]  # SQLModel types `Model.id` as int | None


async def search_households(
    session: AsyncSession,
    page: PageParams,
    *,
    county_ids: Iterable[int] | None,
    county_id: int | None = None,
    text: str | None = None,
    status: str | None = None,
) -> tuple[list[Household], str | None]:
    """A page of households of these counties; `status`: `monitored` or `unmonitored`; text matches name, village, number."""
    stmt = _scoped(select(Household), col(Household.county_id), county_ids, county_id)
    stmt = _matching(stmt, text, col(Household.name), col(Household.village), col(Household.registration_no))
    if status in ("monitored", "unmonitored"):
        stmt = stmt.where(col(Household.monitored).is_(status == "monitored"))
    return await paginate(session, stmt, Household.id, page)  # type: ignore[arg-type]  # SQLModel types `Model.id` as int | None


async def search_stations(
    session: AsyncSession, page: PageParams, *, county_ids: Iterable[int] | None, county_id: int | None = None, text: str | None = None
) -> tuple[list[Station], str | None]:
    """A page of village service stations of these counties; text matches name and village."""
    stmt = _scoped(select(Station), col(Station.county_id), county_ids, county_id)
    stmt = _matching(stmt, text, col(Station.name), col(Station.village))
    return await paginate(session, stmt, Station.id, page)  # type: ignore[arg-type]  # SQLModel types `Model.id` as int | None


async def search_anchors(
    session: AsyncSession, page: PageParams, *, county_ids: Iterable[int] | None, county_id: int | None = None, text: str | None = None
) -> tuple[list[Anchor], str | None]:
    """A page of anchors of these counties; text matches name and title."""
    stmt = _scoped(select(Anchor), col(Anchor.county_id), county_ids, county_id)
    stmt = _matching(stmt, text, col(Anchor.name), col(Anchor.title))
    return await paginate(session, stmt, Anchor.id, page)  # type: ignore[arg-type]  # SQLModel types `Model.id` as int | None


async def stations_by_ids(session: AsyncSession, station_ids: Iterable[int]) -> dict[int, Station]:
    """The stations with these ids that exist, by id."""
    wanted = _ids(station_ids)
    if not wanted:
        return {}
    rows = (await session.scalars(select(Station).where(col(Station.id).in_(wanted)))).all()
    return {s.id: s for s in rows if s.id is not None}


async def households_by_registration_nos(session: AsyncSession, registration_nos: Iterable[str]) -> dict[str, Household]:
    """The households with these registration numbers, by number (the first registered where one repeats)."""
    wanted = sorted(set(registration_nos))
    found: dict[str, Household] = {}
    for start in range(0, len(wanted), 500):
        stmt = select(Household).where(col(Household.registration_no).in_(wanted[start : start + 500])).order_by(col(Household.id))
        for household in (await session.scalars(stmt)).all():
            found.setdefault(household.registration_no, household)
    return found


async def products_by_county_and_name(
    session: AsyncSession, county_ids: Iterable[int], names: Iterable[str]
) -> dict[tuple[int, str], Product]:
    """The products of these counties with these names, by (county, name) (the first added where one repeats)."""
    wanted = sorted(set(names))
    found: dict[tuple[int, str], Product] = {}
    for start in range(0, len(wanted), 500):
        stmt = (
            select(Product)
            .where(col(Product.county_id).in_(_ids(county_ids)), col(Product.name).in_(wanted[start : start + 500]))
            .order_by(col(Product.id))
        )
        for product in (await session.scalars(stmt)).all():
            found.setdefault((product.county_id, product.name), product)
    return found


async def stations_in(session: AsyncSession, county_ids: Iterable[int] | None) -> list[Station]:
    """Every station of these counties (of all counties when None), by id."""
    stmt = select(Station).order_by(col(Station.id))
    if county_ids is not None:
        stmt = stmt.where(col(Station.county_id).in_(_ids(county_ids)))
    return list((await session.scalars(stmt)).all())
