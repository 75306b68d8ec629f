"""Master data: counties, stations, households, anchors and products with their splits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.audit import service as audit
from livecommerce.catalog import stock
from livecommerce.catalog.models import Anchor, County, Household, Product, ProductSplit, Station
from livecommerce.catalog.schemas import (
    AnchorCreate,
    CountyCreate,
    HouseholdChange,
    HouseholdCreate,
    HouseholdPublic,
    HouseholdUpdate,
    ProductCreate,
    ProductPublic,
    ProductUpdate,
    Split,
    StationCreate,
    StationUpdate,
    as_linkage,
)
from livecommerce.kit.clock import utcnow
from livecommerce.kit.errors import Conflict, InvalidInput, NotFound
from livecommerce.kit.i18n import _l
from livecommerce.kit.masking import mask_identifier, mask_name
from livecommerce.kit.principal import Principal


async def get_county(session: AsyncSession, county_id: int) -> County:
    """The county, or NotFound."""
    county = await session.get(County, county_id)
    if county is None:
        raise NotFound(_l("County {county_id} does not exist.", county_id=county_id))
    return county


async def _existing_county(session: AsyncSession, county_id: int) -> County:
    county = await session.get(County, county_id)
    if county is None:
        raise InvalidInput(
            _l("County {county_id} does not exist.", county_id=county_id),
            extra={"errors": [{"field": "county_id", "message": "unknown county"}]},
        )
    return county


async def create_county(session: AsyncSession, data: CountyCreate) -> County:
    """Add a county; its code is unique."""
    county = County(**data.model_dump())
    try:
        async with session.begin_nested():
            session.add(county)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(_l("A county with code “{code}” exists already.", code=data.code)) from exc
    return county


async def create_station(session: AsyncSession, principal: Principal, data: StationCreate) -> Station:
    """Add a village service station in a county the caller acts for."""
    await _existing_county(session, data.county_id)
    principal.require_county(data.county_id)
    station = Station(**data.model_dump())
    session.add(station)
    await session.flush()
    return station


async def create_household(session: AsyncSession, principal: Principal, data: HouseholdCreate) -> Household:
    """Register a household in a county the caller acts for."""
    await _existing_county(session, data.county_id)
    principal.require_county(data.county_id)
    household = Household(**data.model_dump())
    session.add(household)
    await session.flush()
    # Ids only: the audit log is read by admins, but it is no place for personal data.
    await audit.record(session, principal, "household.created", f"household:{household.id}", {"county_id": data.county_id}, now=utcnow())
    return household


async def get_household(session: AsyncSession, household_id: int) -> Household:
    """The household, or NotFound."""
    household = await session.get(Household, household_id)
    if household is None:
        raise NotFound(_l("Household {household_id} does not exist.", household_id=household_id))
    return household


async def get_station(session: AsyncSession, station_id: int) -> Station:
    """The station, or NotFound."""
    station = await session.get(Station, station_id)
    if station is None:
        raise NotFound(_l("Station {station_id} does not exist.", station_id=station_id))
    return station


async def update_station(session: AsyncSession, principal: Principal, station_id: int, data: StationUpdate, now: datetime) -> Station:
    """Rename a station or correct its village (staff of its county); audited with both values (no personal data)."""
    station = await get_station(session, station_id)
    principal.require_county(station.county_id)
    changes: dict[str, dict[str, object]] = {}
    for key, value in data.model_dump(exclude_unset=True).items():
        if getattr(station, key) != value:
            changes[key] = {"from": getattr(station, key), "to": value}
            setattr(station, key, value)
    if changes:
        session.add(station)
        await session.flush()
        await audit.record(session, principal, "station.updated", f"station:{station_id}", changes, now=now)
    return station


def household_public(household: Household, principal: Principal | None) -> HouseholdPublic:
    """The household as this caller may see it: unmasked only for admins and the county's organizers."""
    assert household.id is not None
    may_see = principal is not None and principal.is_staff and principal.covers_county(household.county_id)
    return HouseholdPublic(
        id=household.id,
        county_id=household.county_id,
        name=household.name if may_see else mask_name(household.name),
        village=household.village,
        registration_no=household.registration_no if may_see else mask_identifier(household.registration_no),
        masked=not may_see,
        monitored=household.monitored,
        linkage_type=as_linkage(household.linkage_type),
    )


async def set_monitored(session: AsyncSession, principal: Principal, household_id: int, monitored: bool, now: datetime) -> Household:
    """Put a household under anti-relapse monitoring or take it off (staff of its county); audited."""
    household = await get_household(session, household_id)
    principal.require_county(household.county_id)
    if household.monitored != monitored:
        household.monitored = monitored
        session.add(household)
        await session.flush()
        await audit.record(session, principal, "household.monitoring", f"household:{household_id}", {"monitored": monitored}, now=now)
    return household


async def set_linkage_type(
    session: AsyncSession, principal: Principal, household_id: int, linkage_type: str | None, now: datetime
) -> Household:
    """Record how a household benefits (None: not recorded), by staff of its county; audited."""
    household = await get_household(session, household_id)
    principal.require_county(household.county_id)
    if household.linkage_type != linkage_type:
        before, household.linkage_type = household.linkage_type, linkage_type
        session.add(household)
        await session.flush()
        details = {"from": before, "to": linkage_type}
        await audit.record(session, principal, "household.linkage", f"household:{household_id}", details, now=now)
    return household


async def change_household(
    session: AsyncSession, principal: Principal, household_id: int, data: HouseholdUpdate, now: datetime
) -> Household:
    """Apply a partial change of a household's monitoring and linkage type (staff of its county)."""
    household = await get_household(session, household_id)
    principal.require_county(household.county_id)
    if data.monitored is not None:
        household = await set_monitored(session, principal, household_id, data.monitored, now)
    if "linkage_type" in data.model_fields_set:
        household = await set_linkage_type(session, principal, household_id, data.linkage_type, now)
    return household


async def update_household(
    session: AsyncSession, principal: Principal, household_id: int, data: HouseholdChange, now: datetime
) -> Household:
    """Correct a household's name or village, or its monitoring (staff of its county); audited by field name only."""
    household = await get_household(session, household_id)
    principal.require_county(household.county_id)
    changed = sorted(k for k, v in data.model_dump().items() if getattr(household, k) != v)
    for key in changed:
        setattr(household, key, getattr(data, key))
    if changed:
        session.add(household)
        await session.flush()
        # Field names, not values: the name is personal data.
        await audit.record(session, principal, "household.updated", f"household:{household_id}", {"fields": changed}, now=now)
    return household


async def create_anchor(session: AsyncSession, principal: Principal, data: AnchorCreate) -> Anchor:
    """Add an official or cadre who hosts broadcasts."""
    await _existing_county(session, data.county_id)
    principal.require_county(data.county_id)
    anchor = Anchor(**data.model_dump())
    session.add(anchor)
    await session.flush()
    return anchor


async def get_anchor(session: AsyncSession, anchor_id: int) -> Anchor:
    """The anchor, or NotFound."""
    anchor = await session.get(Anchor, anchor_id)
    if anchor is None:
        raise NotFound(_l("Anchor {anchor_id} does not exist.", anchor_id=anchor_id))
    return anchor


async def validate_parties(session: AsyncSession, splits: Sequence[Split], county_id: int) -> None:
    """Every household and station named in the splits must exist in the product's county; a county party must be that county.

    Money follows the product home: an organizer cannot route a share to another county's households.
    """
    tables: dict[str, type[Household] | type[Station]] = {"household": Household, "station": Station}
    wanted: dict[str, set[int]] = {}
    for split in splits:
        if split.party_id is not None:
            wanted.setdefault(split.kind, set()).add(split.party_id)
    unknown: list[str] = []
    elsewhere: list[str] = []
    for kind, ids in sorted(wanted.items()):
        found: set[int]
        home: set[int]
        if kind == "county":
            found = {int(i) for i in (await session.scalars(select(col(County.id)).where(col(County.id).in_(ids)))).all() if i is not None}
            home = {county_id} & found
        else:
            model = tables[kind]
            rows = (await session.execute(select(model.id, model.county_id).where(col(model.id).in_(ids)))).all()
            found = {int(row[0]) for row in rows}
            home = {int(row[0]) for row in rows if row[1] == county_id}
        unknown += [f"{kind}:{i}" for i in sorted(ids - found)]
        elsewhere += [f"{kind}:{i}" for i in sorted(found - home)]
    if unknown:
        parties = ", ".join(unknown)
        raise InvalidInput(
            _l("Unknown split parties: {parties}.", parties=parties),
            extra={"errors": [{"field": "splits", "message": f"unknown party {parties}"}]},
        )
    if elsewhere:
        parties = ", ".join(elsewhere)
        raise InvalidInput(
            _l("Split parties outside the product's county: {parties}.", parties=parties),
            extra={"errors": [{"field": "splits", "message": f"party outside the product's county: {parties}"}]},
        )


async def splits_of(session: AsyncSession, product_ids: Iterable[int]) -> dict[int, list[Split]]:
    """The splits of each product, in a stable order."""
    ids = list(product_ids)
    result: dict[int, list[Split]] = {pid: [] for pid in ids}
    if not ids:
        return result
    rows = await session.scalars(
        select(ProductSplit).where(col(ProductSplit.product_id).in_(ids)).order_by(col(ProductSplit.product_id), col(ProductSplit.id))
    )
    for row in rows:
        result[row.product_id].append(Split(party=row.party, bp=row.bp))
    return result


def is_urgent(product: Product, now: datetime) -> bool:
    """True while the product's urgent sale lasts."""
    return product.urgent_until is not None and now < product.urgent_until


def product_public(product: Product, splits: list[Split], *, certified: bool = False, now: datetime | None = None) -> ProductPublic:
    """The API view of a product (`certified`: whether a certificate is in force now; `urgent` judged at `now`)."""
    assert product.id is not None
    return ProductPublic(
        id=product.id,
        name=product.name,
        county_id=product.county_id,
        unit=product.unit,
        price_fen=product.price_fen,
        stock=product.stock,
        reserved=product.reserved,
        sold=product.sold,
        splits=splits,
        description=product.description,
        image_url=product.image_url,
        updated_at=product.updated_at,
        certified=certified,
        urgent_until=product.urgent_until,
        urgent=now is not None and is_urgent(product, now),
        linkage_mechanism=as_linkage(product.linkage_mechanism),
    )


async def create_product(session: AsyncSession, principal: Principal, data: ProductCreate, now: datetime) -> Product:
    """Add a product with its splits (validated to sum to 10000 and name real parties)."""
    await _existing_county(session, data.county_id)
    principal.require_county(data.county_id)
    await validate_parties(session, data.splits, data.county_id)
    fields = data.model_dump(exclude={"splits"})
    product = Product(**fields, created_at=now, updated_at=now)
    session.add(product)
    await session.flush()
    assert product.id is not None
    for split in data.splits:
        session.add(ProductSplit(product_id=product.id, party=split.party, bp=split.bp))
    await session.flush()
    details = {"county_id": data.county_id, "price_fen": data.price_fen, "stock": data.stock, "splits": _split_list(data.splits)}
    await audit.record(session, principal, "product.created", f"product:{product.id}", details, now=now)
    return product


def _split_list(splits: Iterable[Split]) -> list[list[object]]:
    return [[s.party, s.bp] for s in splits]


async def get_product(session: AsyncSession, product_id: int, *, for_update: bool = False) -> Product:
    """The product, or NotFound; `for_update` locks its row."""
    stmt = select(Product).where(col(Product.id) == product_id)
    if for_update:
        stmt = stmt.with_for_update()
    product = await session.scalar(stmt)
    if product is None:
        raise NotFound(_l("Product {product_id} does not exist.", product_id=product_id))
    return product


def _recorded(value: object) -> object:
    """A value as the audit log's JSON keeps it."""
    return value.isoformat() if isinstance(value, datetime) else value


async def update_product(session: AsyncSession, principal: Principal, product_id: int, data: ProductUpdate, now: datetime) -> Product:
    """Change a product's price, free stock, splits or description (staff of its county)."""
    product = await get_product(session, product_id, for_update=True)
    principal.require_county(product.county_id)
    changes: dict[str, dict[str, object]] = {}
    for key, value in data.model_dump(exclude_unset=True, exclude={"splits"}).items():
        if getattr(product, key) != value:
            changes[key] = {"from": _recorded(getattr(product, key)), "to": _recorded(value)}
        setattr(product, key, value)
    if data.splits is not None:
        await validate_parties(session, data.splits, product.county_id)
        before = _split_list((await splits_of(session, [product_id]))[product_id])
        if before != _split_list(data.splits):
            changes["splits"] = {"from": before, "to": _split_list(data.splits)}
        await session.execute(delete(ProductSplit).where(col(ProductSplit.product_id) == product_id))
        for split in data.splits:
            session.add(ProductSplit(product_id=product_id, party=split.party, bp=split.bp))
    product.updated_at = now
    session.add(product)
    await session.flush()
    if "stock" in changes or "price_fen" in changes or "is_active" in changes:
        await stock.note_level(session, product_id)  # viewers of every live stream featuring it hear of it
    if changes:
        await audit.record(session, principal, "product.updated", f"product:{product_id}", changes, now=now)
    return product


async def count_rows(session: AsyncSession, model: type) -> int:
    """How many rows a table has (for the demo loader and health pages)."""
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def anchors_by_ids(session: AsyncSession, anchor_ids: Iterable[int], *, for_update: bool = False) -> list[Anchor]:
    """The anchors among `anchor_ids` that exist, in id order; `for_update` locks their rows in that order."""
    stmt = select(Anchor).where(col(Anchor.id).in_(list(anchor_ids))).order_by(col(Anchor.id))
    if for_update:
        stmt = stmt.with_for_update()
    return list((await session.scalars(stmt)).all())


async def products_by_ids(session: AsyncSession, product_ids: Iterable[int]) -> dict[int, Product]:
    """The products among `product_ids` that exist, by id."""
    rows = (await session.scalars(select(Product).where(col(Product.id).in_(list(product_ids))))).all()
    return {p.id: p for p in rows if p.id is not None}


async def county_names(session: AsyncSession, county_ids: Iterable[int]) -> dict[int, str]:
    """The names of the counties among `county_ids` that exist, by id."""
    rows = await session.execute(select(col(County.id), col(County.name)).where(col(County.id).in_(list(county_ids))))
    return {county_id: name for county_id, name in rows.all() if county_id is not None}


async def anchors_in_counties(session: AsyncSession, county_ids: Iterable[int] | None) -> list[Anchor]:
    """The anchors of the counties (None: of every county), in id order."""
    stmt = select(Anchor).order_by(col(Anchor.id))
    if county_ids is not None:
        stmt = stmt.where(col(Anchor.county_id).in_(list(county_ids)))
    return list((await session.scalars(stmt)).all())


async def active_product_ids_by_county(session: AsyncSession, county_ids: Iterable[int]) -> dict[int, list[int]]:
    """The ids of the products still sold in each county, in id order."""
    stmt = (
        select(col(Product.county_id), col(Product.id))
        .where(col(Product.county_id).in_(list(county_ids)), col(Product.is_active).is_(True))
        .order_by(col(Product.id))
    )
    found: dict[int, list[int]] = {}
    for county_id, product_id in (await session.execute(stmt)).all():
        if product_id is not None:
            found.setdefault(county_id, []).append(product_id)
    return found
