"""Master-data routes: counties, stations, households, anchors, products."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from sqlmodel import col, select

from livecommerce.catalog import certification, service
from livecommerce.catalog.models import Anchor, County, Household, Product, Station
from livecommerce.catalog.schemas import (
    AnchorCreate,
    AnchorPublic,
    CertificationCreate,
    CertificationPublic,
    CountyCreate,
    CountyPublic,
    HouseholdCreate,
    HouseholdPublic,
    HouseholdUpdate,
    ProductCreate,
    ProductPublic,
    ProductUpdate,
    StationCreate,
    StationPublic,
    StationUpdate,
)
from livecommerce.kit.auth import AdminUser, CurrentUser, StaffUser
from livecommerce.kit.deps import ClockDep, SessionDep
from livecommerce.kit.pagination import Page, PageDep, paginate
from livecommerce.kit.query import QueryInt, number
from livecommerce.kit.types import MAX_ID

router = APIRouter(prefix="/api", tags=["master data"])
CountyFilter = Annotated[QueryInt | None, Query(gt=0, le=MAX_ID, description=number("Only this county."))]
CountyId = Annotated[int, Path(gt=0, le=MAX_ID)]
StationId = Annotated[int, Path(gt=0, le=MAX_ID)]
HouseholdId = Annotated[int, Path(gt=0, le=MAX_ID)]
AnchorId = Annotated[int, Path(gt=0, le=MAX_ID)]
ProductId = Annotated[int, Path(gt=0, le=MAX_ID)]


@router.post("/counties", response_model=CountyPublic, status_code=201, summary="Add a county (admin)")
async def create_county(session: SessionDep, _admin: AdminUser, body: CountyCreate) -> County:
    """Add a county or county-level city."""
    return await service.create_county(session, body)


@router.get("/counties", response_model=Page[CountyPublic], summary="List counties")
async def list_counties(session: SessionDep, page: PageDep) -> Page[CountyPublic]:
    """Every county, by id."""
    rows, cursor = await paginate(session, select(County), County.id, page)  # type: ignore[arg-type]  # SQLModel types `Model.id` as int | None
    return Page(items=[CountyPublic.model_validate(r, from_attributes=True) for r in rows], next_cursor=cursor)


@router.get("/counties/{county_id}", response_model=CountyPublic, summary="One county")
async def get_county(session: SessionDep, county_id: CountyId) -> County:
    """A county by id."""
    return await service.get_county(session, county_id)


@router.post("/stations", response_model=StationPublic, status_code=201, summary="Add a village service station")
async def create_station(session: SessionDep, principal: StaffUser, body: StationCreate) -> Station:
    """Add a village service station in a county you act for."""
    return await service.create_station(session, principal, body)


@router.get("/stations", response_model=Page[StationPublic], summary="List village service stations")
async def list_stations(session: SessionDep, page: PageDep, county_id: CountyFilter = None) -> Page[StationPublic]:
    """Village service stations, optionally of one county."""
    stmt = select(Station)
    if county_id is not None:
        stmt = stmt.where(col(Station.county_id) == county_id)
    rows, cursor = await paginate(session, stmt, Station.id, page)  # type: ignore[arg-type]  # SQLModel types `Model.id` as int | None
    return Page(items=[StationPublic.model_validate(r, from_attributes=True) for r in rows], next_cursor=cursor)


@router.get("/stations/{station_id}", response_model=StationPublic, summary="One village service station")
async def get_station(session: SessionDep, station_id: StationId) -> Station:
    """A village service station by id."""
    return await service.get_station(session, station_id)


@router.patch(
    "/stations/{station_id}",
    response_model=StationPublic,
    summary="Rename a station or correct its village (staff of its county)",
)
async def update_station(session: SessionDep, principal: StaffUser, clock: ClockDep, station_id: StationId, body: StationUpdate) -> Station:
    """Change a station of a county you act for."""
    return await service.update_station(session, principal, station_id, body, clock.now())


@router.post("/households", response_model=HouseholdPublic, status_code=201, summary="Register a household")
async def create_household(session: SessionDep, principal: StaffUser, body: HouseholdCreate) -> HouseholdPublic:
    """Register a household in a county you act for."""
    household = await service.create_household(session, principal, body)
    return service.household_public(household, principal)


@router.get("/households", response_model=Page[HouseholdPublic], summary="List households (personal data masked outside your scope)")
async def list_households(
    session: SessionDep, principal: CurrentUser, page: PageDep, county_id: CountyFilter = None
) -> Page[HouseholdPublic]:
    """Households, optionally of one county; personal data masked outside your scope."""
    stmt = select(Household)
    if county_id is not None:
        stmt = stmt.where(col(Household.county_id) == county_id)
    rows, cursor = await paginate(session, stmt, Household.id, page)  # type: ignore[arg-type]  # SQLModel types `Model.id` as int | None
    return Page(items=[service.household_public(r, principal) for r in rows], next_cursor=cursor)


@router.get("/households/{household_id}", response_model=HouseholdPublic, summary="One household (masked outside your scope)")
async def get_household(session: SessionDep, principal: CurrentUser, household_id: HouseholdId) -> HouseholdPublic:
    """A household by id; its name and registration number unmasked only for admins and the county's organizers."""
    return service.household_public(await service.get_household(session, household_id), principal)


@router.patch(
    "/households/{household_id}",
    response_model=HouseholdPublic,
    summary="Set a household's anti-relapse monitoring or benefit linkage (staff of its county)",
)
async def update_household(
    session: SessionDep, principal: StaffUser, clock: ClockDep, household_id: HouseholdId, body: HouseholdUpdate
) -> HouseholdPublic:
    """Put a household under anti-relapse monitoring or take it off, and record how it benefits (`linkage_type`)."""
    household = await service.change_household(session, principal, household_id, body, clock.now())
    return service.household_public(household, principal)


@router.post("/anchors", response_model=AnchorPublic, status_code=201, summary="Add an anchor (an official or cadre who hosts)")
async def create_anchor(session: SessionDep, principal: StaffUser, body: AnchorCreate) -> Anchor:
    """Add an official or cadre who hosts broadcasts, in a county you act for."""
    return await service.create_anchor(session, principal, body)


@router.get("/anchors", response_model=Page[AnchorPublic], summary="List anchors")
async def list_anchors(session: SessionDep, page: PageDep, county_id: CountyFilter = None) -> Page[AnchorPublic]:
    """Anchors, optionally of one county."""
    stmt = select(Anchor)
    if county_id is not None:
        stmt = stmt.where(col(Anchor.county_id) == county_id)
    rows, cursor = await paginate(session, stmt, Anchor.id, page)  # type: ignore[arg-type]  # SQLModel types `Model.id` as int | None
    return Page(items=[AnchorPublic.model_validate(r, from_attributes=True) for r in rows], next_cursor=cursor)


@router.get("/anchors/{anchor_id}", response_model=AnchorPublic, summary="One anchor")
async def get_anchor(session: SessionDep, anchor_id: AnchorId) -> Anchor:
    """An anchor by id."""
    return await service.get_anchor(session, anchor_id)


@router.post("/products", response_model=ProductPublic, status_code=201, summary="Add a product with its splits")
async def create_product(session: SessionDep, principal: StaffUser, clock: ClockDep, body: ProductCreate) -> ProductPublic:
    """Add a product with splits summing to 10000 basis points, in a county you act for."""
    product = await service.create_product(session, principal, body, clock.now())
    return service.product_public(product, body.splits, now=clock.now())  # a new product has no certificate yet


@router.get("/products", response_model=Page[ProductPublic], summary="List products")
async def list_products(session: SessionDep, clock: ClockDep, page: PageDep, county_id: CountyFilter = None) -> Page[ProductPublic]:
    """Products with their stock and splits, optionally of one county."""
    stmt = select(Product)
    if county_id is not None:
        stmt = stmt.where(col(Product.county_id) == county_id)
    rows, cursor = await paginate(session, stmt, Product.id, page)  # type: ignore[arg-type]  # SQLModel types `Model.id` as int | None
    splits = await service.splits_of(session, [r.id for r in rows])
    certified = await certification.certified_ids(session, [r.id for r in rows if r.id is not None], clock.now())
    return Page(
        items=[service.product_public(r, splits[r.id], certified=r.id in certified, now=clock.now()) for r in rows], next_cursor=cursor
    )


@router.get("/products/{product_id}", response_model=ProductPublic, summary="One product with stock, reserved and sold")
async def get_product(session: SessionDep, clock: ClockDep, product_id: ProductId) -> ProductPublic:
    """A product by id."""
    product = await service.get_product(session, product_id)
    assert product.id is not None
    certified = bool(await certification.certified_ids(session, [product_id], clock.now()))
    return service.product_public(
        product, (await service.splits_of(session, [product.id]))[product.id], certified=certified, now=clock.now()
    )


@router.patch("/products/{product_id}", response_model=ProductPublic, summary="Change price, free stock, splits or description")
async def update_product(
    session: SessionDep, principal: StaffUser, clock: ClockDep, product_id: ProductId, body: ProductUpdate
) -> ProductPublic:
    """Change a product of a county you act for."""
    product = await service.update_product(session, principal, product_id, body, clock.now())
    certified = bool(await certification.certified_ids(session, [product_id], clock.now()))
    return service.product_public(
        product, (await service.splits_of(session, [product_id]))[product_id], certified=certified, now=clock.now()
    )


@router.post(
    "/products/{product_id}/certification",
    response_model=CertificationPublic,
    status_code=201,
    summary="Certify a poverty-alleviation product (admin: the provincial office)",
)
async def certify_product(
    session: SessionDep, principal: AdminUser, clock: ClockDep, product_id: ProductId, body: CertificationCreate
) -> CertificationPublic:
    """Grant a certificate; the product shows `certified` while one is in force."""
    row = await certification.grant(session, principal, product_id, body, clock.now())
    return CertificationPublic.model_validate(row, from_attributes=True)


@router.delete("/products/{product_id}/certification", status_code=204, summary="Revoke a product's certification (admin)")
async def revoke_certification(session: SessionDep, principal: AdminUser, clock: ClockDep, product_id: ProductId) -> Response:
    """Revoke the certificates in force; the history is kept."""
    await certification.revoke(session, principal, product_id, clock.now())
    return Response(status_code=204)
