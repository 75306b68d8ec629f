"""Master-data routes: counties, stations, households, anchors, products."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import col, select

from livecommerce.accounts.auth import AdminUser, CurrentUser, StaffUser
from livecommerce.catalog import service
from livecommerce.catalog.models import Anchor, County, Household, Product, Station
from livecommerce.catalog.schemas import (
    AnchorCreate,
    AnchorPublic,
    CountyCreate,
    CountyPublic,
    HouseholdCreate,
    HouseholdPublic,
    ProductCreate,
    ProductPublic,
    ProductUpdate,
    StationCreate,
    StationPublic,
)
from livecommerce.deps import ClockDep, SessionDep
from livecommerce.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/api", tags=["master data"])
CountyFilter = Annotated[int | None, Query(gt=0, description="Only this county.")]


@router.post("/counties", response_model=CountyPublic, status_code=201, summary="Add a county (admin)")
async def create_county(session: SessionDep, _admin: AdminUser, body: CountyCreate) -> County:
    return await service.create_county(session, body)


@router.get("/counties", response_model=Page[CountyPublic], summary="List counties")
async def list_counties(session: SessionDep, page: PageDep) -> Page[CountyPublic]:
    rows, cursor = await paginate(session, select(County), County.id, page)  # type: ignore[arg-type]
    return Page(items=[CountyPublic.model_validate(r, from_attributes=True) for r in rows], next_cursor=cursor)


@router.get("/counties/{county_id}", response_model=CountyPublic, summary="One county")
async def get_county(session: SessionDep, county_id: int) -> County:
    return await service.get_county(session, county_id)


@router.post("/stations", response_model=StationPublic, status_code=201, summary="Add a village service station")
async def create_station(session: SessionDep, principal: StaffUser, body: StationCreate) -> Station:
    return await service.create_station(session, principal, body)


@router.get("/stations", response_model=Page[StationPublic], summary="List village service stations")
async def list_stations(session: SessionDep, page: PageDep, county_id: CountyFilter = None) -> Page[StationPublic]:
    stmt = select(Station)
    if county_id is not None:
        stmt = stmt.where(col(Station.county_id) == county_id)
    rows, cursor = await paginate(session, stmt, Station.id, page)  # type: ignore[arg-type]
    return Page(items=[StationPublic.model_validate(r, from_attributes=True) for r in rows], next_cursor=cursor)


@router.post("/households", response_model=HouseholdPublic, status_code=201, summary="Register a household")
async def create_household(session: SessionDep, principal: StaffUser, body: HouseholdCreate) -> HouseholdPublic:
    household = await service.create_household(session, principal, body)
    return service.household_public(household, principal)


@router.get("/households", response_model=Page[HouseholdPublic], summary="List households (personal data masked outside your scope)")
async def list_households(
    session: SessionDep, principal: CurrentUser, page: PageDep, county_id: CountyFilter = None
) -> Page[HouseholdPublic]:
    stmt = select(Household)
    if county_id is not None:
        stmt = stmt.where(col(Household.county_id) == county_id)
    rows, cursor = await paginate(session, stmt, Household.id, page)  # type: ignore[arg-type]
    return Page(items=[service.household_public(r, principal) for r in rows], next_cursor=cursor)


@router.post("/anchors", response_model=AnchorPublic, status_code=201, summary="Add an anchor (an official or cadre who hosts)")
async def create_anchor(session: SessionDep, principal: StaffUser, body: AnchorCreate) -> Anchor:
    return await service.create_anchor(session, principal, body)


@router.get("/anchors", response_model=Page[AnchorPublic], summary="List anchors")
async def list_anchors(session: SessionDep, page: PageDep, county_id: CountyFilter = None) -> Page[AnchorPublic]:
    stmt = select(Anchor)
    if county_id is not None:
        stmt = stmt.where(col(Anchor.county_id) == county_id)
    rows, cursor = await paginate(session, stmt, Anchor.id, page)  # type: ignore[arg-type]
    return Page(items=[AnchorPublic.model_validate(r, from_attributes=True) for r in rows], next_cursor=cursor)


@router.get("/anchors/{anchor_id}", response_model=AnchorPublic, summary="One anchor")
async def get_anchor(session: SessionDep, anchor_id: int) -> Anchor:
    return await service.get_anchor(session, anchor_id)


@router.post("/products", response_model=ProductPublic, status_code=201, summary="Add a product with its splits")
async def create_product(session: SessionDep, principal: StaffUser, clock: ClockDep, body: ProductCreate) -> ProductPublic:
    product = await service.create_product(session, principal, body, clock.now())
    return service.product_public(product, body.splits)


@router.get("/products", response_model=Page[ProductPublic], summary="List products")
async def list_products(session: SessionDep, page: PageDep, county_id: CountyFilter = None) -> Page[ProductPublic]:
    stmt = select(Product)
    if county_id is not None:
        stmt = stmt.where(col(Product.county_id) == county_id)
    rows, cursor = await paginate(session, stmt, Product.id, page)  # type: ignore[arg-type]
    splits = await service.splits_of(session, [r.id for r in rows])
    return Page(items=[service.product_public(r, splits[r.id]) for r in rows], next_cursor=cursor)


@router.get("/products/{product_id}", response_model=ProductPublic, summary="One product with stock, reserved and sold")
async def get_product(session: SessionDep, product_id: int) -> ProductPublic:
    product = await service.get_product(session, product_id)
    assert product.id is not None
    return service.product_public(product, (await service.splits_of(session, [product.id]))[product.id])


@router.patch("/products/{product_id}", response_model=ProductPublic, summary="Change price, free stock, splits or description")
async def update_product(session: SessionDep, principal: StaffUser, clock: ClockDep, product_id: int, body: ProductUpdate) -> ProductPublic:
    product = await service.update_product(session, principal, product_id, body, clock.now())
    return service.product_public(product, (await service.splits_of(session, [product_id]))[product_id])
