"""Back-office pages of master data: products with stock, price and splits; households; stations; anchors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from livecommerce.catalog import repository as catalog_rows
from livecommerce.catalog import service as catalog
from livecommerce.catalog.import_endpoints import HOUSEHOLDS_IMPORT, PRODUCTS_IMPORT
from livecommerce.catalog.schemas import (
    LINKAGE_TYPES,
    AnchorCreate,
    HouseholdChange,
    HouseholdCreate,
    ProductCreate,
    ProductUpdate,
    StationCreate,
    StationUpdate,
)
from livecommerce.kit.deps import ClockDep, SessionDep, SettingsDep
from livecommerce.kit.errors import Forbidden, LiveCommerceError, NotFound
from livecommerce.kit.principal import Principal
from schedulers import anchors as anchor_schedule
from schedulers.schemas import AnchorLimits, Availability
from web.manage.common import (
    FormErrors,
    ListQuery,
    bp_of,
    domain_errors,
    done,
    fen_of,
    int_or_none,
    page_for,
    percent,
    refuse,
    refuse_post,
    refused_page,
    render,
    scope_of,
    validation_errors,
)
from web.session import PageUser

router = APIRouter(prefix="/manage", include_in_schema=False)

PRODUCT_STATUSES = ("in_stock", "sold_out", "inactive")
HOUSEHOLD_STATUSES = ("monitored", "unmonitored")
SPARE_SPLIT_ROWS = 2
WEEKDAYS = range(7)


@dataclass(frozen=True)
class ImportKind:
    """What a spreadsheet import is of: its page, the API it posts to, its template, and its texts' keys."""

    name: str
    endpoint: str

    @property
    def page(self) -> str:
        return f"/manage/{self.name}/import"

    @property
    def back(self) -> str:
        return f"/manage/{self.name}"

    @property
    def template(self) -> str:
        return f"/api/{self.name}/import-template.xlsx"

    def key(self, text: str) -> str:
        """The message key of one of the import's texts (note, title, help, checked, done)."""
        return f"manage.import.{self.name}.{text}"


HOUSEHOLD_IMPORT = ImportKind("households", HOUSEHOLDS_IMPORT)
PRODUCT_IMPORT = ImportKind("products", PRODUCTS_IMPORT)


async def _counties(session: SessionDep, user: Principal) -> list[Any]:
    return await catalog_rows.counties_by_ids(session, scope_of(user))


async def _parties(session: SessionDep, county_ids: set[int]) -> list[tuple[str, str]]:
    """The parties a product of these counties may pay: its households, stations and county, and the platform."""
    names = await catalog_rows.county_names(session, county_ids)
    options = [(f"household:{i}", n) for i, n in await catalog_rows.households_of_counties(session, county_ids)]
    options += [(f"station:{i}", n) for i, n in await catalog_rows.stations_of_counties(session, county_ids)]
    options += [(f"county:{i}", n) for i, n in sorted(names.items())]
    return [*options, ("platform", "platform")]


def _split_rows(form: FormData | None, splits: list[Any]) -> list[dict[str, str]]:
    """The split editor's rows: as submitted, or the product's splits, with empty rows to add more."""
    if form is not None:
        rows = [{"party": str(p), "share": str(s)} for p, s in zip(form.getlist("party"), form.getlist("share"), strict=False)]
    else:
        rows = [{"party": s.party, "share": percent(s.bp)} for s in splits]
    rows = [r for r in rows if r["party"] or r["share"]]
    return rows + [{"party": "", "share": ""} for _ in range(SPARE_SPLIT_ROWS)]


def _splits_from(form: FormData, errors: FormErrors, t: Any) -> list[dict[str, Any]]:
    """The split rows as the domain takes them (basis points); a share that is no number is an error beside the editor."""
    splits: list[dict[str, Any]] = []
    for party, share in zip(form.getlist("party"), form.getlist("share"), strict=False):
        party, share = str(party).strip(), str(share).strip()
        if not party and not share:
            continue
        bp = bp_of(share)
        if bp is None or not party:
            errors.add("splits", t("manage.splits.bad_row"))
            continue
        splits.append({"party": party, "bp": bp})
    return splits


def _explain_splits(errors: FormErrors, splits: list[dict[str, Any]], t: Any) -> None:
    """Say in the reader's language why the domain refused the splits, when it was their sum."""
    total = sum(int(s["bp"]) for s in splits)
    if "splits" in errors.fields and total != 10000:
        errors.fields["splits"] = t("manage.splits.sum", total=percent(total))


def _money_field(form: FormData, name: str, errors: FormErrors, t: Any) -> int | None:
    fen = fen_of(str(form.get(name, "")))
    if fen is None:
        errors.add("price_fen", t("manage.error.yuan"))
    return fen


def _int_field(form: FormData, name: str, errors: FormErrors, t: Any) -> int | None:
    text = str(form.get(name, "")).strip()
    if not text.isdigit():
        errors.add(name, t("manage.error.whole_number"))
        return None
    return int(text)


def _linkage_field(form: FormData, name: str) -> str | None:
    """A linkage chosen in a form: the value, or None for "not recorded" (an unknown value is left for the schema to refuse)."""
    return str(form.get(name, "")).strip() or None


@router.get("")
async def index(request: Request, settings: SettingsDep, user: PageUser) -> Response:
    """The back office's front page: a card for every area."""
    if (denied := refuse(request, user)) is not None:
        return denied
    return render(page_for(request, user, settings), "manage/index.html")


# --- products -------------------------------------------------------------------------------


@router.get("/products")
async def products(request: Request, session: SessionDep, settings: SettingsDep, user: PageUser) -> Response:
    """Products of the user's counties, with stock, price and splits, filtered by county, status and name."""
    if (denied := refuse(request, user)) is not None:
        return denied
    assert user is not None
    query = ListQuery.of(request, PRODUCT_STATUSES)
    rows, cursor = await catalog_rows.search_products(
        session, query.page, county_ids=scope_of(user), county_id=query.county_id, text=query.q, status=query.status
    )
    splits = await catalog.splits_of(session, [r.id for r in rows if r.id is not None])
    counties = await _counties(session, user)
    return render(
        page_for(request, user, settings),
        "manage/products.html",
        rows=rows,
        splits=splits,
        counties=counties,
        county_names={c.id: c.name for c in counties},
        query=query,
        statuses=PRODUCT_STATUSES,
        next_url=query.next_url("/manage/products", cursor),
        kind=PRODUCT_IMPORT,
    )


@router.get("/products/import")
async def import_products(request: Request, settings: SettingsDep, user: PageUser) -> Response:
    """The product import form; the shared import script posts the file to `POST /api/products/import`."""
    if (denied := refuse(request, user)) is not None:
        return denied
    return render(page_for(request, user, settings), "manage/import.html", kind=PRODUCT_IMPORT)


async def _product_form(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: Principal,
    *,
    product: Any = None,
    form: FormData | None = None,
    errors: FormErrors | None = None,
) -> Response:
    counties = await _counties(session, user)
    county_ids = {product.county_id} if product is not None else {c.id for c in counties}
    splits = (await catalog.splits_of(session, [product.id]))[product.id] if product is not None else []
    values: dict[str, Any] = dict(form) if form is not None else {}
    if product is not None and form is None:
        values = {
            "name": product.name,
            "price": f"{product.price_fen / 100:.2f}",
            "stock": str(product.stock),
            "description": product.description,
            "linkage_mechanism": product.linkage_mechanism or "",
        }
    return render(
        page_for(request, user, settings),
        "manage/product_form.html",
        linkage_types=LINKAGE_TYPES,
        status_code=422 if errors else 200,
        product=product,
        counties=counties,
        parties=await _parties(session, county_ids),
        split_rows=_split_rows(form, splits),
        values=values,
        errors=errors or FormErrors(),
    )


@router.get("/products/new")
async def new_product(request: Request, session: SessionDep, settings: SettingsDep, user: PageUser) -> Response:
    """The form for a new product."""
    if (denied := refuse(request, user)) is not None:
        return denied
    assert user is not None
    return await _product_form(request, session, settings, user)


@router.post("/products/new")
async def create_product(request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep, user: PageUser) -> Response:
    """Add a product through the catalog service; on a refusal, the form again with the errors beside their fields."""
    if (denied := refuse_post(request, user)) is not None:
        return denied
    assert user is not None
    form = await request.form()
    t = page_for(request, user, settings).t
    errors = FormErrors()
    price = _money_field(form, "price", errors, t)
    stock = _int_field(form, "stock", errors, t)
    splits = _splits_from(form, errors, t)
    fields: dict[str, Any] = {k: str(form.get(k, "")).strip() for k in ("name", "unit", "description")}
    fields["linkage_mechanism"] = _linkage_field(form, "linkage_mechanism")
    if not errors:
        try:
            data = ProductCreate.model_validate(
                {**fields, "county_id": int_or_none(str(form.get("county_id"))) or 0, "price_fen": price, "stock": stock, "splits": splits}
            )
            product = await catalog.create_product(session, user, data, clock.now())
            return done(f"/manage/products/{product.id}", "product_created")
        except ValidationError as exc:
            errors = validation_errors(exc, page_for(request, user, settings).t)
            _explain_splits(errors, splits, t)
        except LiveCommerceError as exc:
            await session.rollback()
            errors = domain_errors(exc)
    return await _product_form(request, session, settings, user, form=form, errors=errors)


@router.get("/products/{product_id:int}")
async def edit_product(request: Request, product_id: int, session: SessionDep, settings: SettingsDep, user: PageUser) -> Response:
    """A product's page: stock, price, splits (with the yuan each share makes of a sample price)."""
    if (denied := refuse(request, user)) is not None:
        return denied
    assert user is not None
    try:
        product = await catalog.get_product(session, product_id)
        user.require_county(product.county_id)
    except (NotFound, Forbidden) as exc:
        return refused_page(page_for(request, user, settings), exc)
    return await _product_form(request, session, settings, user, product=product)


@router.post("/products/{product_id:int}")
async def update_product(
    request: Request, product_id: int, session: SessionDep, settings: SettingsDep, clock: ClockDep, user: PageUser
) -> Response:
    """Change a product through the catalog service; a refused change changes nothing."""
    if (denied := refuse_post(request, user)) is not None:
        return denied
    assert user is not None
    page = page_for(request, user, settings)
    try:
        product = await catalog.get_product(session, product_id)
        user.require_county(product.county_id)
    except (NotFound, Forbidden) as exc:
        return refused_page(page, exc)
    form = await request.form()
    errors = FormErrors()
    changes: dict[str, Any] = {
        "name": str(form.get("name", "")).strip(),
        "description": str(form.get("description", "")).strip(),
        "price_fen": _money_field(form, "price", errors, page.t),
        "splits": _splits_from(form, errors, page.t),
        "linkage_mechanism": _linkage_field(form, "linkage_mechanism"),
    }
    stock = _int_field(form, "stock", errors, page.t)
    # Sales move free stock while the form is open: only a stock the user changed is written.
    if stock is not None and str(stock) != str(form.get("stock_was", "")).strip():
        changes["stock"] = stock
    if not errors:
        try:
            await catalog.update_product(session, user, product_id, ProductUpdate.model_validate(changes), clock.now())
            return done(f"/manage/products/{product_id}", "product_saved")
        except ValidationError as exc:
            errors = validation_errors(exc, page_for(request, user, settings).t)
            _explain_splits(errors, changes["splits"], page.t)
        except LiveCommerceError as exc:
            errors = domain_errors(exc)
        await session.rollback()
        product = await catalog.get_product(session, product_id)
    return await _product_form(request, session, settings, user, product=product, form=form, errors=errors)


# --- households -----------------------------------------------------------------------------


@router.get("/households")
async def households(request: Request, session: SessionDep, settings: SettingsDep, user: PageUser) -> Response:
    """Households of the user's counties, filtered by county, monitoring and text."""
    if (denied := refuse(request, user)) is not None:
        return denied
    assert user is not None
    query = ListQuery.of(request, HOUSEHOLD_STATUSES)
    rows, cursor = await catalog_rows.search_households(
        session, query.page, county_ids=scope_of(user), county_id=query.county_id, text=query.q, status=query.status
    )
    counties = await _counties(session, user)
    return render(
        page_for(request, user, settings),
        "manage/households.html",
        rows=[catalog.household_public(r, user) for r in rows],
        counties=counties,
        county_names={c.id: c.name for c in counties},
        query=query,
        statuses=HOUSEHOLD_STATUSES,
        next_url=query.next_url("/manage/households", cursor),
        kind=HOUSEHOLD_IMPORT,
    )


@router.get("/households/import")
async def import_households(request: Request, settings: SettingsDep, user: PageUser) -> Response:
    """The household import form; its script posts the file to `POST /api/households/import` and shows each bad row."""
    if (denied := refuse(request, user)) is not None:
        return denied
    return render(page_for(request, user, settings), "manage/import.html", kind=HOUSEHOLD_IMPORT)


async def _household_form(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: Principal,
    *,
    household: Any = None,
    values: Any = None,
    errors: Any = None,
) -> Response:
    if household is not None and values is None:
        values = {
            "name": household.name,
            "village": household.village,
            "monitored": household.monitored,
            "linkage_type": household.linkage_type or "",
        }
    return render(
        page_for(request, user, settings),
        "manage/household_form.html",
        linkage_types=LINKAGE_TYPES,
        status_code=422 if errors else 200,
        household=household,
        counties=await _counties(session, user),
        values=values or {},
        errors=errors or FormErrors(),
    )


@router.get("/households/new")
async def new_household(request: Request, session: SessionDep, settings: SettingsDep, user: PageUser) -> Response:
    """The form for a new household."""
    if (denied := refuse(request, user)) is not None:
        return denied
    assert user is not None
    return await _household_form(request, session, settings, user)


@router.post("/households/new")
async def create_household(request: Request, session: SessionDep, settings: SettingsDep, user: PageUser) -> Response:
    """Register a household through the catalog service."""
    if (denied := refuse_post(request, user)) is not None:
        return denied
    assert user is not None
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in ("name", "village", "registration_no")}
    try:
        data = HouseholdCreate.model_validate(
            {
                **values,
                "county_id": int_or_none(str(form.get("county_id"))) or 0,
                "monitored": form.get("monitored") == "on",
                "linkage_type": _linkage_field(form, "linkage_type"),
            }
        )
        await catalog.create_household(session, user, data)
        return done("/manage/households", "household_created")
    except ValidationError as exc:
        errors = validation_errors(exc, page_for(request, user, settings).t)
    except LiveCommerceError as exc:
        await session.rollback()
        errors = domain_errors(exc)
    shown = {**values, "county_id": form.get("county_id"), "linkage_type": form.get("linkage_type"), "monitored": form.get("monitored")}
    return await _household_form(request, session, settings, user, values=shown, errors=errors)


@router.get("/households/{household_id:int}")
async def edit_household(request: Request, household_id: int, session: SessionDep, settings: SettingsDep, user: PageUser) -> Response:
    """A household's form: name, village, monitoring."""
    if (denied := refuse(request, user)) is not None:
        return denied
    assert user is not None
    try:
        household = await catalog.get_household(session, household_id)
        user.require_county(household.county_id)
    except (NotFound, Forbidden) as exc:
        return refused_page(page_for(request, user, settings), exc)
    return await _household_form(request, session, settings, user, household=household)


@router.post("/households/{household_id:int}")
async def update_household(
    request: Request, household_id: int, session: SessionDep, settings: SettingsDep, clock: ClockDep, user: PageUser
) -> Response:
    """Correct a household through the catalog service."""
    if (denied := refuse_post(request, user)) is not None:
        return denied
    assert user is not None
    form = await request.form()
    values = {
        "name": str(form.get("name", "")).strip(),
        "village": str(form.get("village", "")).strip(),
        "monitored": form.get("monitored") == "on",
        "linkage_type": _linkage_field(form, "linkage_type"),
    }
    try:
        household = await catalog.get_household(session, household_id)
        await catalog.update_household(session, user, household_id, HouseholdChange.model_validate(values), clock.now())
        return done("/manage/households", "household_saved")
    except (NotFound, Forbidden) as exc:
        return refused_page(page_for(request, user, settings), exc)
    except ValidationError as exc:
        errors = validation_errors(exc, page_for(request, user, settings).t)
    except LiveCommerceError as exc:
        await session.rollback()
        errors = domain_errors(exc)
    return await _household_form(request, session, settings, user, household=household, values=values, errors=errors)


# --- stations -------------------------------------------------------------------------------


async def _stations_page(
    request: Request, session: SessionDep, settings: SettingsDep, user: Principal, *, values: Any = None, errors: Any = None
) -> Response:
    query = ListQuery.of(request)
    rows, cursor = await catalog_rows.search_stations(
        session, query.page, county_ids=scope_of(user), county_id=query.county_id, text=query.q
    )
    counties = await _counties(session, user)
    return render(
        page_for(request, user, settings),
        "manage/stations.html",
        status_code=422 if errors else 200,
        rows=rows,
        counties=counties,
        county_names={c.id: c.name for c in counties},
        query=query,
        next_url=query.next_url("/manage/stations", cursor),
        values=values or {},
        errors=errors or FormErrors(),
    )


@router.get("/stations")
async def stations(request: Request, session: SessionDep, settings: SettingsDep, user: PageUser) -> Response:
    """Village service stations of the user's counties, and the form to add one."""
    if (denied := refuse(request, user)) is not None:
        return denied
    assert user is not None
    return await _stations_page(request, session, settings, user)


@router.post("/stations")
async def create_station(request: Request, session: SessionDep, settings: SettingsDep, user: PageUser) -> Response:
    """Add a station through the catalog service."""
    if (denied := refuse_post(request, user)) is not None:
        return denied
    assert user is not None
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in ("name", "village", "county_id")}
    try:
        await catalog.create_station(
            session, user, StationCreate.model_validate({**values, "county_id": int_or_none(values["county_id"]) or 0})
        )
        return done("/manage/stations", "station_created")
    except ValidationError as exc:
        errors = validation_errors(exc, page_for(request, user, settings).t)
    except LiveCommerceError as exc:
        await session.rollback()
        errors = domain_errors(exc)
    return await _stations_page(request, session, settings, user, values=values, errors=errors)


def _station_form(
    request: Request, settings: SettingsDep, user: Principal, station: Any, *, values: Any = None, errors: Any = None
) -> Response:
    return render(
        page_for(request, user, settings),
        "manage/station_form.html",
        status_code=422 if errors else 200,
        station=station,
        values=values if values is not None else {"name": station.name, "village": station.village},
        errors=errors or FormErrors(),
    )


@router.get("/stations/{station_id:int}")
async def edit_station(request: Request, station_id: int, session: SessionDep, settings: SettingsDep, user: PageUser) -> Response:
    """A station's form: name and village (staff of its county)."""
    if (denied := refuse(request, user)) is not None:
        return denied
    assert user is not None
    try:
        station = await catalog.get_station(session, station_id)
        user.require_county(station.county_id)
    except (NotFound, Forbidden) as exc:
        return refused_page(page_for(request, user, settings), exc)
    return _station_form(request, settings, user, station)


@router.post("/stations/{station_id:int}")
async def update_station(
    request: Request, station_id: int, session: SessionDep, settings: SettingsDep, clock: ClockDep, user: PageUser
) -> Response:
    """Rename a station or correct its village through the catalog service."""
    if (denied := refuse_post(request, user)) is not None:
        return denied
    assert user is not None
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in ("name", "village")}
    try:
        station = await catalog.get_station(session, station_id)
        await catalog.update_station(session, user, station_id, StationUpdate.model_validate(values), clock.now())
        return done("/manage/stations", "station_saved")
    except (NotFound, Forbidden) as exc:
        return refused_page(page_for(request, user, settings), exc)
    except ValidationError as exc:
        errors = validation_errors(exc, page_for(request, user, settings).t)
    except LiveCommerceError as exc:
        await session.rollback()
        errors = domain_errors(exc)
    return _station_form(request, settings, user, station, values=values, errors=errors)


# --- anchors --------------------------------------------------------------------------------


async def _anchors_page(
    request: Request, session: SessionDep, settings: SettingsDep, user: Principal, *, values: Any = None, errors: Any = None
) -> Response:
    query = ListQuery.of(request)
    rows, cursor = await catalog_rows.search_anchors(
        session, query.page, county_ids=scope_of(user), county_id=query.county_id, text=query.q
    )
    counties = await _counties(session, user)
    return render(
        page_for(request, user, settings),
        "manage/anchors.html",
        status_code=422 if errors else 200,
        rows=rows,
        counties=counties,
        county_names={c.id: c.name for c in counties},
        query=query,
        next_url=query.next_url("/manage/anchors", cursor),
        values=values or {},
        errors=errors or FormErrors(),
    )


@router.get("/anchors")
async def anchors(request: Request, session: SessionDep, settings: SettingsDep, user: PageUser) -> Response:
    """Anchors of the user's counties, and the form to add one."""
    if (denied := refuse(request, user)) is not None:
        return denied
    assert user is not None
    return await _anchors_page(request, session, settings, user)


@router.post("/anchors")
async def create_anchor(request: Request, session: SessionDep, settings: SettingsDep, user: PageUser) -> Response:
    """Add an anchor through the catalog service."""
    if (denied := refuse_post(request, user)) is not None:
        return denied
    assert user is not None
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in ("name", "title", "county_id")}
    try:
        anchor = await catalog.create_anchor(
            session, user, AnchorCreate.model_validate({**values, "county_id": int_or_none(values["county_id"]) or 0})
        )
        return done(f"/manage/anchors/{anchor.id}", "anchor_created")
    except ValidationError as exc:
        errors = validation_errors(exc, page_for(request, user, settings).t)
    except LiveCommerceError as exc:
        await session.rollback()
        errors = domain_errors(exc)
    return await _anchors_page(request, session, settings, user, values=values, errors=errors)


async def _anchor_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: Principal,
    anchor_id: int,
    *,
    windows: Any = None,
    errors: Any = None,
) -> Response:
    page = page_for(request, user, settings)
    try:
        anchor = await catalog.get_anchor(session, anchor_id)
        user.require_county(anchor.county_id)
    except (NotFound, Forbidden) as exc:
        return refused_page(page, exc)
    if windows is None:
        windows = [w.model_dump() for w in (await anchor_schedule.get_availability(session, anchor_id)).windows]
    limits = await anchor_schedule.get_limits(session, anchor_id, settings=settings)
    return render(
        page,
        "manage/anchor.html",
        status_code=422 if errors else 200,
        anchor=anchor,
        windows=[*windows, {"weekday": "", "starts": "", "ends": ""}, {"weekday": "", "starts": "", "ends": ""}],
        limits=limits,
        weekdays=WEEKDAYS,
        errors=errors or FormErrors(),
    )


@router.get("/anchors/{anchor_id:int}")
async def anchor(request: Request, anchor_id: int, session: SessionDep, settings: SettingsDep, user: PageUser) -> Response:
    """An anchor's weekly availability and booking limits."""
    if (denied := refuse(request, user)) is not None:
        return denied
    assert user is not None
    return await _anchor_page(request, session, settings, user, anchor_id)


@router.post("/anchors/{anchor_id:int}/availability")
async def set_availability(request: Request, anchor_id: int, session: SessionDep, settings: SettingsDep, user: PageUser) -> Response:
    """Replace the anchor's weekly windows through the scheduling service."""
    if (denied := refuse_post(request, user)) is not None:
        return denied
    assert user is not None
    form = await request.form()
    rows = zip(form.getlist("weekday"), form.getlist("starts"), form.getlist("ends"), strict=False)
    windows = [
        {"weekday": int(str(d)) if str(d).isdigit() else d, "starts": str(s), "ends": str(e)} for d, s, e in rows if str(s) or str(e)
    ]
    try:
        await anchor_schedule.set_availability(session, user, anchor_id, Availability.model_validate({"windows": windows}))
        return done(f"/manage/anchors/{anchor_id}", "availability_saved")
    except (NotFound, Forbidden) as exc:
        return refused_page(page_for(request, user, settings), exc)
    except ValidationError as exc:
        errors = validation_errors(exc, page_for(request, user, settings).t)
        errors.fields = {"windows": "; ".join(errors.fields.values())}
    except LiveCommerceError as exc:
        await session.rollback()
        errors = domain_errors(exc)
    return await _anchor_page(request, session, settings, user, anchor_id, windows=windows, errors=errors)


@router.post("/anchors/{anchor_id:int}/limits")
async def set_limits(request: Request, anchor_id: int, session: SessionDep, settings: SettingsDep, user: PageUser) -> Response:
    """Set the anchor's booking limits through the scheduling service (empty: the platform default)."""
    if (denied := refuse_post(request, user)) is not None:
        return denied
    assert user is not None
    form = await request.form()
    values: dict[str, Any] = {}
    for name in ("max_broadcasts_per_week", "max_air_minutes_per_day"):
        text = str(form.get(name, "")).strip()
        values[name] = int(text) if text.isdigit() else (text or None)
    try:
        await anchor_schedule.set_limits(session, user, anchor_id, AnchorLimits.model_validate(values), settings=settings)
        return done(f"/manage/anchors/{anchor_id}", "limits_saved")
    except (NotFound, Forbidden) as exc:
        return refused_page(page_for(request, user, settings), exc)
    except ValidationError as exc:
        errors = validation_errors(exc, page_for(request, user, settings).t)
    except LiveCommerceError as exc:
        await session.rollback()
        errors = domain_errors(exc)
    return await _anchor_page(request, session, settings, user, anchor_id, errors=errors)
