"""The sales side of the back office (orders, refunds, fulfillment, units, subscriptions, station sales,
users, the audit log) and a buyer's own orders, as server-rendered forms.

Every handler parses the form, calls the service function the API endpoint calls, and answers
POST/redirect/GET with a flash message; who may do what is the services' rule (a Forbidden from
them renders as "not found", so another county's records are not even confirmed to exist).
CSRF as on the sign-in form: the sign-in cookie is SameSite=Lax and a state-changing form
must not come from another origin (`same_origin`). Destructive actions post twice: the first
post answers a confirmation page, the second (with `confirmed=yes`) does it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, unquote, urlencode

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from livecommerce.accounts import service as accounts
from livecommerce.accounts.schemas import UserCreate, UserUpdate
from livecommerce.assistance import service as assistance
from livecommerce.assistance.schemas import UnitCreate
from livecommerce.audit import service as audit
from livecommerce.catalog import repository as catalog
from livecommerce.catalog import service as catalog_service
from livecommerce.kit.deps import ClockDep, SessionDep, SettingsDep
from livecommerce.kit.errors import Forbidden, LiveCommerceError, NotFound
from livecommerce.kit.pagination import PageParams
from livecommerce.kit.principal import Principal, Role
from livecommerce.kit.types import MAX_ID
from livecommerce.ledger.service import REPORTING_ZONE
from livecommerce.orders import addresses, backoffice, fulfillment, refund_requests, service
from livecommerce.orders.endpoints import OrderDeskDep, ProvidersDep
from livecommerce.orders.schemas import (
    AddressCreate,
    RefundRejection,
    RefundRequestCreate,
    ShipmentCreate,
    StationSaleCreate,
    SubscriptionCreate,
)
from web.format import yuan
from web.manage.common import fen_of, page_for
from web.rendering import Page
from web.session import PageUser, login_redirect, same_origin

router = APIRouter(include_in_schema=False)

FLASH_COOKIE = "lc_flash"
PAGE_SIZE = 20
ITEM_ROWS = 3
ORDER_STATUSES = ("pending_payment", "paid", "cancelled", "expired", "refunded")
FULFILLMENTS = ("unshipped", "shipped", "delivered")
REQUEST_STATUSES = ("requested", "approved", "rejected")
UNIT_TYPES = ("party", "government", "enterprise", "school", "union")
UNIT_SORTS = ("name", "budget", "quota", "completed", "completion")
MAX_UNITS_LISTED = 1000

Id = Annotated[int, Path(gt=0, le=MAX_ID)]
Cursor = Annotated[int | None, Query(gt=0, le=MAX_ID)]
Text = Annotated[str, Form(max_length=500)]


async def _same_origin_only(request: Request) -> None:
    if not same_origin(request):
        raise Forbidden("Cross-site form refused.")


Posted = [Depends(_same_origin_only)]


# --- the frame: language, flash messages, errors, confirmations ----------------------------------


def _take_flash(request: Request, page: Page) -> str | None:
    """The message the previous POST left for this page, in the reader's language (known keys only)."""
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        key, values = json.loads(unquote(raw))
    except (ValueError, TypeError):
        return None
    if not isinstance(key, str) or not key.startswith("sales.done.") or not isinstance(values, dict):
        return None
    try:
        return page.t(key, **{str(k): str(v) for k, v in values.items()})
    except (KeyError, IndexError):
        return None


def _render(page: Page, name: str, status_code: int = 200, **context: Any) -> Response:
    flash = _take_flash(page.request, page)
    response = page.render(f"manage_sales/{name}", status_code=status_code, flash=flash, timeline=timeline, **context)
    if page.request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def _done(url: str, key: str, **values: object) -> Response:
    """Redirect (303) to `url`, leaving a flash message for it."""
    response = RedirectResponse(url, status_code=303)
    cookie = quote(json.dumps([f"sales.done.{key}", {k: str(v) for k, v in values.items()}], ensure_ascii=False))
    response.set_cookie(FLASH_COOKIE, cookie, max_age=120, httponly=True, samesite="lax", path="/")
    return response


def _not_found(page: Page) -> Response:
    return page.render("not_found.html", status_code=404)


def _staff_gate(request: Request, user: Principal | None) -> Response | None:
    if user is None or not user.is_staff:
        return login_redirect(request, need_role=user is not None)
    return None


def _admin_gate(request: Request, user: Principal | None) -> Response | None:
    if user is None or not user.is_admin:
        return login_redirect(request, need_role=user is not None)
    return None


_ERROR_KEYS = {
    "missing": "sales.err.required",
    "string_too_short": "sales.err.required",
    "string_too_long": "sales.err.too_long",
    "int_type": "sales.err.number",
    "int_parsing": "sales.err.number",
    "greater_than": "sales.err.range",
    "greater_than_equal": "sales.err.range",
    "less_than": "sales.err.range",
    "less_than_equal": "sales.err.range",
    "literal_error": "sales.err.choice",
    "enum": "sales.err.choice",
    "string_pattern_mismatch": "sales.err.pattern",
    "too_short": "sales.err.required",
}


def _validation_errors(exc: ValidationError, page: Page) -> dict[str, str]:
    """One message per form field, in the page's language."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if not isinstance(p, int)]
        name = loc[0] if loc else "form"
        key = _ERROR_KEYS.get(err["type"])
        errors.setdefault(name, page.t(key) if key else str(err["msg"]).removeprefix("Value error, "))
    return errors


def _service_errors(exc: LiveCommerceError) -> dict[str, str]:
    """A service's refusal: its field errors beside the fields, the rest as the form's error."""
    errors: dict[str, str] = {}
    for item in exc.extra.get("errors", []) if isinstance(exc.extra.get("errors"), list) else []:
        if isinstance(item, dict) and item.get("field"):
            errors.setdefault(str(item["field"]).split(".")[-1], exc.detail)
    errors.setdefault("form", exc.detail)
    return errors


def _attempt(page: Page, build: type[BaseModel], data: Mapping[str, object]) -> tuple[Any, dict[str, str]]:
    """The request body `build` makes of the form, or the errors beside each field."""
    try:
        return build.model_validate(dict(data)), {}
    except ValidationError as exc:
        return None, _validation_errors(exc, page)


async def _refused(session: AsyncSession, exc: LiveCommerceError) -> dict[str, str]:
    """Undo whatever the failed service call wrote (the request would commit it otherwise), and its errors."""
    await session.rollback()
    return _service_errors(exc)


def _confirm(page: Page, action: str, question: str, back: str, fields: list[tuple[str, str]] | None = None) -> Response:
    """The confirmation step of a destructive action: the same form again, with `confirmed=yes`."""
    return _render(page, "confirm.html", action=action, question=question, back=back, fields=fields or [])


def _number(text: str | None) -> int | str | None:
    """A whole number from a form field; what was typed when it is not one (so validation names it)."""
    value = (text or "").strip()
    if not value:
        return None
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else value


def _fen(text: str | None) -> int | str | None:
    """Yuan typed in a form (`1234.5`, `1,234.50`) as integer fen (`fen_of`); the text if malformed, so validation names it."""
    value = (text or "").strip()
    if not value:
        return None
    plain = value.isascii() and value.replace(",", "").replace(".", "", 1).isdigit()  # no sign, exponent or ¥
    fen = fen_of(value) if plain else None
    return value if fen is None else fen


def _items(product_ids: list[str], quantities: list[str]) -> list[dict[str, object]]:
    """The filled rows of a form's product lines."""
    rows: list[dict[str, object]] = []
    for product, quantity in zip(product_ids, quantities, strict=False):
        if product.strip() or quantity.strip():
            rows.append({"product_id": _number(product), "quantity": _number(quantity)})
    return rows


def _query(**values: object) -> str:
    kept = {k: v for k, v in values.items() if v not in (None, "")}
    return ("?" + urlencode(kept)) if kept else ""


async def _names(session: AsyncSession, user: Principal) -> dict[str, dict[int, str]]:
    """Names of the counties and stations the user acts for, for filters and lists."""
    counties = await catalog.counties_by_ids(session, None if user.is_admin else user.county_ids)
    county_ids = [c.id for c in counties if c.id is not None]
    return {
        "counties": {c.id: c.name for c in counties if c.id is not None},
        "stations": dict(await catalog.stations_of_counties(session, county_ids)),
    }


async def _product_names(session: AsyncSession, sheets: list[Any]) -> dict[int, str]:
    ids = {line.product_id for s in sheets for line in s.items}
    return await catalog.product_names(session, ids)


@dataclass(frozen=True)
class Step:
    """One moment in an order's life, as its timeline shows it."""

    kind: str
    at: datetime | None
    detail: str = ""


def timeline(sheet: backoffice.OrderSheet) -> list[Step]:
    """An order's moments in time order: placed, paid, each parcel, received, each refund request and its decision."""
    order = sheet.order
    steps = [Step("placed", order.created_at)]
    if order.paid_at is not None:
        steps.append(Step("paid", order.paid_at))
    steps += [Step("shipped", s.created_at, f"{s.carrier} {s.tracking_no}") for s in order.shipments]
    if order.delivered_at is not None:
        steps.append(Step("delivered", order.delivered_at))
    for request in sheet.refund_requests:
        steps.append(Step("refund_requested", request.created_at, request.reason))
        if request.decided_at is not None:
            steps.append(Step(f"refund_{request.status}", request.decided_at, request.note or ""))
    if order.refunded_at is not None:
        steps.append(Step("refunded", order.refunded_at))
    if order.cancelled_at is not None:
        steps.append(Step(order.status if order.status in ("cancelled", "expired") else "cancelled", order.cancelled_at))
    return sorted(steps, key=lambda s: s.at or order.created_at)


# --- a buyer's orders -----------------------------------------------------------------------------


@router.get("/me/orders")
async def my_orders(request: Request, session: SessionDep, settings: SettingsDep, user: PageUser, cursor: Cursor = None) -> Response:
    """The signed-in buyer's orders, newest first, each with its timeline, and the buyer's addresses."""
    if user is None:
        return login_redirect(request)
    page = page_for(request, user, settings)
    sheets, next_cursor = await backoffice.buyer_orders(session, user, before=cursor, limit=PAGE_SIZE)
    places = [addresses.address_public(a, in_full=True) for a in await addresses.list_addresses(session, user)]
    products = await _product_names(session, [s.order for s in sheets])
    return _render(page, "my_orders.html", sheets=sheets, places=places, products=products, next_cursor=next_cursor, errors={}, values={})


@router.post("/me/orders/{order_id}/received", dependencies=Posted)
async def my_order_received(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: PageUser,
    order_id: Id,
    confirmed: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """The buyer confirms a parcel arrived (after a confirmation step)."""
    if user is None:
        return login_redirect(request)
    page = page_for(request, user, settings)
    if confirmed != "yes":
        return _confirm(page, f"/me/orders/{order_id}/received", page.t("sales.confirm.received", id=order_id), "/me/orders")
    try:
        await fulfillment.confirm_receipt(session, user, order_id, now=clock.now())
    except (NotFound, Forbidden):
        await session.rollback()
        return _not_found(page)
    except LiveCommerceError as exc:
        return await _my_orders_again(request, session, page, user, order_id, await _refused(session, exc), {})
    return _done("/me/orders", "received", id=order_id)


@router.post("/me/orders/{order_id}/refund-requests", dependencies=Posted)
async def my_refund_request(
    request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep, user: PageUser, order_id: Id, reason: Text = ""
) -> Response:
    """The buyer asks for a refund of a paid order, with a reason."""
    if user is None:
        return login_redirect(request)
    page = page_for(request, user, settings)
    body, errors = _attempt(page, RefundRequestCreate, {"reason": reason.strip()})
    if body is not None:
        try:
            await refund_requests.ask_refund(session, user, order_id, body.reason, now=clock.now())
        except (NotFound, Forbidden):
            await session.rollback()
            return _not_found(page)
        except LiveCommerceError as exc:
            errors = await _refused(session, exc)
        else:
            return _done("/me/orders", "refund_asked", id=order_id)
    return await _my_orders_again(request, session, page, user, order_id, errors, {"reason": reason})


async def _my_orders_again(
    request: Request, session: AsyncSession, page: Page, user: Principal, order_id: int, errors: dict[str, str], values: dict[str, str]
) -> Response:
    sheets, next_cursor = await backoffice.buyer_orders(session, user, before=None, limit=PAGE_SIZE)
    places = [addresses.address_public(a, in_full=True) for a in await addresses.list_addresses(session, user)]
    products = await _product_names(session, [s.order for s in sheets])
    return _render(
        page,
        "my_orders.html",
        status_code=422,
        sheets=sheets,
        places=places,
        products=products,
        next_cursor=next_cursor,
        errors={order_id: errors},
        values={order_id: values},
    )


@router.post("/me/addresses", dependencies=Posted)
async def my_address_add(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: PageUser,
    recipient: Annotated[str, Form(max_length=64)] = "",
    phone: Annotated[str, Form(max_length=32)] = "",
    province: Annotated[str, Form(max_length=32)] = "",
    city: Annotated[str, Form(max_length=32)] = "",
    district: Annotated[str, Form(max_length=32)] = "",
    detail: Annotated[str, Form(max_length=200)] = "",
    is_default: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Add a delivery address."""
    if user is None:
        return login_redirect(request)
    page = page_for(request, user, settings)
    values = {"recipient": recipient, "phone": phone, "province": province, "city": city, "district": district, "detail": detail}
    data = {k: v.strip() for k, v in values.items()}
    body, errors = _attempt(page, AddressCreate, {**data, "is_default": is_default == "on"})
    if body is not None:
        try:
            await addresses.add_address(session, user, body, now=clock.now())
        except LiveCommerceError as exc:
            errors = await _refused(session, exc)
        else:
            return _done("/me/orders#addresses", "address_added")
    sheets, next_cursor = await backoffice.buyer_orders(session, user, before=None, limit=PAGE_SIZE)
    places = [addresses.address_public(a, in_full=True) for a in await addresses.list_addresses(session, user)]
    products = await _product_names(session, [s.order for s in sheets])
    return _render(
        page,
        "my_orders.html",
        status_code=422,
        sheets=sheets,
        places=places,
        products=products,
        next_cursor=next_cursor,
        errors={"address": errors},
        values={"address": values},
    )


# --- orders and refunds ---------------------------------------------------------------------------


def _choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


@router.get("/manage/orders")
async def orders_list(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    county_id: Annotated[int | None, Query(gt=0, le=MAX_ID)] = None,
    stream_id: Annotated[int | None, Query(gt=0, le=MAX_ID)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    fulfillment_state: Annotated[str | None, Query(alias="fulfillment", max_length=16)] = None,
    cursor: Cursor = None,
) -> Response:
    """Orders of the user's counties, newest first, filtered by county, stream, status and fulfillment."""
    if gate := _staff_gate(request, user):
        return gate
    assert user is not None
    page = page_for(request, user, settings)
    wanted = backoffice.OrderFilter(
        county_id=county_id,
        stream_id=stream_id,
        status=_choice(status, ORDER_STATUSES),
        fulfillment=_choice(fulfillment_state, FULFILLMENTS),
    )
    try:
        sheets, next_cursor = await backoffice.staff_orders(session, user, wanted, before=cursor, limit=PAGE_SIZE)
    except Forbidden:
        return _not_found(page)
    filters = {"county_id": county_id, "stream_id": stream_id, "status": wanted.status, "fulfillment": wanted.fulfillment}
    return _render(
        page,
        "orders.html",
        sheets=sheets,
        products=await _product_names(session, [s.order for s in sheets]),
        names=await _names(session, user),
        filters=filters,
        next_url=f"/manage/orders{_query(**filters, cursor=next_cursor)}" if next_cursor else None,
        statuses=ORDER_STATUSES,
        fulfillments=FULFILLMENTS,
    )


@router.get("/manage/orders/{order_id}")
async def order_detail(request: Request, session: SessionDep, settings: SettingsDep, user: PageUser, order_id: Id) -> Response:
    """One order with its lines, parcels, address and refund requests."""
    if gate := _staff_gate(request, user):
        return gate
    assert user is not None
    page = page_for(request, user, settings)
    try:
        sheet = await backoffice.order_sheet(session, user, order_id)
    except (NotFound, Forbidden):
        return _not_found(page)
    products = await _product_names(session, [sheet.order])
    return _render(page, "order.html", sheet=sheet, products=products, names=await _names(session, user), carriers=settings.carriers)


@router.post("/manage/orders/{order_id}/refund", dependencies=Posted)
async def order_refund(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: PageUser,
    providers: ProvidersDep,
    order_id: Id,
    confirmed: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Refund a paid order (after a confirmation step): units back on sale, the ledger posting reversed."""
    if gate := _staff_gate(request, user):
        return gate
    assert user is not None
    page = page_for(request, user, settings)
    try:
        sheet = await backoffice.order_sheet(session, user, order_id)
    except (NotFound, Forbidden):
        return _not_found(page)
    back = f"/manage/orders/{order_id}"
    if confirmed != "yes":
        question = page.t("sales.confirm.refund", id=order_id, amount=_yuan(sheet.order.total_fen))
        return _confirm(page, f"{back}/refund", question, back)
    try:
        await service.refund_order(session, user, order_id, now=clock.now(), providers=providers)
    except LiveCommerceError as exc:
        errors = await _refused(session, exc)
        products = await _product_names(session, [sheet.order])
        return _render(
            page, "order.html", status_code=409, sheet=sheet, products=products, names=await _names(session, user), errors=errors
        )
    return _done(back, "refunded", id=order_id)


def _yuan(fen: int) -> str:
    return "¥" + yuan(fen)


@router.get("/manage/refund-requests")
async def refund_requests_list(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    status: Annotated[str | None, Query(max_length=16)] = "requested",
    cursor: Cursor = None,
) -> Response:
    """Refund requests of the user's counties (the open ones first by default), to approve or reject."""
    if gate := _staff_gate(request, user):
        return gate
    assert user is not None
    return await _refund_requests_page(request, session, settings, user, status, cursor, {}, {})


async def _refund_requests_page(
    request: Request,
    session: AsyncSession,
    settings: Any,
    user: Principal,
    status: str | None,
    cursor: int | None,
    errors: dict[int, dict[str, str]],
    values: dict[int, dict[str, str]],
    status_code: int = 200,
) -> Response:
    page = page_for(request, user, settings)
    chosen = _choice(status, REQUEST_STATUSES)
    rows, next_cursor = await refund_requests.list_requests(
        session,
        user,
        PageParams(limit=PAGE_SIZE, after_id=cursor),
        status=None if chosen is None else backoffice.RefundRequestStatus(chosen),
    )
    sheets = {r.order_id: await backoffice.order_sheet(session, user, r.order_id) for r in rows}
    return _render(
        page,
        "refund_requests.html",
        status_code=status_code,
        rows=[refund_requests.request_public(r) for r in rows],
        sheets=sheets,
        products=await _product_names(session, [s.order for s in sheets.values()]),
        status=chosen,
        statuses=REQUEST_STATUSES,
        next_url=f"/manage/refund-requests{_query(status=chosen or 'all', cursor=next_cursor)}" if next_cursor else None,
        errors=errors,
        values=values,
    )


@router.post("/manage/refund-requests/{request_id}/approve", dependencies=Posted)
async def refund_request_approve(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: PageUser,
    providers: ProvidersDep,
    request_id: Id,
    confirmed: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Approve a refund request and refund its order (after a confirmation step)."""
    if gate := _staff_gate(request, user):
        return gate
    assert user is not None
    page = page_for(request, user, settings)
    if confirmed != "yes":
        back = "/manage/refund-requests"
        return _confirm(page, f"{back}/{request_id}/approve", page.t("sales.confirm.approve", id=request_id), back)
    try:
        approved = await refund_requests.approve(session, user, request_id, now=clock.now(), providers=providers)
    except (NotFound, Forbidden):
        await session.rollback()
        return _not_found(page)
    except LiveCommerceError as exc:
        errors = await _refused(session, exc)
        return await _refund_requests_page(request, session, settings, user, "requested", None, {request_id: errors}, {}, 409)
    return _done("/manage/refund-requests", "approved", id=approved.order_id)


@router.post("/manage/refund-requests/{request_id}/reject", dependencies=Posted)
async def refund_request_reject(
    request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep, user: PageUser, request_id: Id, note: Text = ""
) -> Response:
    """Reject a refund request with a note for the buyer."""
    if gate := _staff_gate(request, user):
        return gate
    assert user is not None
    page = page_for(request, user, settings)
    body, errors = _attempt(page, RefundRejection, {"note": note.strip()})
    if body is not None:
        try:
            rejected = await refund_requests.reject(session, user, request_id, body.note, now=clock.now())
        except (NotFound, Forbidden):
            await session.rollback()
            return _not_found(page)
        except LiveCommerceError as exc:
            errors = await _refused(session, exc)
        else:
            return _done("/manage/refund-requests", "rejected", id=rejected.order_id)
    return await _refund_requests_page(
        request, session, settings, user, "requested", None, {request_id: errors}, {request_id: {"note": note}}, 422
    )


# --- fulfillment --------------------------------------------------------------------------------


@router.get("/manage/fulfillment")
async def fulfillment_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    county_id: Annotated[int | None, Query(gt=0, le=MAX_ID)] = None,
    station_id: Annotated[int | None, Query(gt=0, le=MAX_ID)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    cursor: Cursor = None,
) -> Response:
    """The pick list of the user's counties (or one county or station), printable, with a shipment form per order."""
    if gate := _staff_gate(request, user):
        return gate
    assert user is not None
    return await _fulfillment_page(request, session, settings, user, county_id, station_id, status, cursor, {}, {})


async def _fulfillment_page(
    request: Request,
    session: AsyncSession,
    settings: Any,
    user: Principal,
    county_id: int | None,
    station_id: int | None,
    status: str | None,
    cursor: int | None,
    errors: dict[int, dict[str, str]],
    values: dict[int, dict[str, str]],
    status_code: int = 200,
) -> Response:
    page = page_for(request, user, settings)
    state = backoffice.Fulfillment(_choice(status, FULFILLMENTS) or "unshipped")
    wanted = fulfillment.PickFilter(county_id=county_id, station_id=station_id, fulfillment=state)
    try:
        items, next_cursor = await fulfillment.pick_list(session, user, wanted, PageParams(limit=PAGE_SIZE, after_id=cursor))
    except Forbidden:
        return _not_found(page)
    filters = {"county_id": county_id, "station_id": station_id, "status": state.value}
    names = await _names(session, user)
    return _render(
        page,
        "fulfillment.html",
        status_code=status_code,
        items=items,
        products=await _product_names(session, items),
        names=names,
        filters=filters,
        fulfillments=FULFILLMENTS,
        carriers=settings.carriers,
        xlsx_url=f"/api/fulfillment.xlsx{_query(**filters)}",
        next_url=f"/manage/fulfillment{_query(**filters, cursor=next_cursor)}" if next_cursor else None,
        here=f"/manage/fulfillment{_query(**filters)}",
        errors=errors,
        values=values,
    )


@router.post("/manage/orders/{order_id}/shipments", dependencies=Posted)
async def shipment_record(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: PageUser,
    order_id: Id,
    carrier: Annotated[str, Form(max_length=32)] = "",
    tracking_no: Annotated[str, Form(max_length=40)] = "",
    back: Annotated[str, Form(max_length=300)] = "/manage/fulfillment",
) -> Response:
    """Record a parcel of an order: a carrier of the configured list and a tracking number of its shape."""
    if gate := _staff_gate(request, user):
        return gate
    assert user is not None
    page = page_for(request, user, settings)
    target = back if back.startswith("/manage/") and not back.startswith("//") else "/manage/fulfillment"
    body, errors = _attempt(page, ShipmentCreate, {"carrier": carrier, "tracking_no": tracking_no.strip()})
    if body is not None:
        try:
            shipment = await fulfillment.record_shipment(session, user, order_id, body, carriers=settings.carriers, now=clock.now())
        except (NotFound, Forbidden):
            await session.rollback()
            return _not_found(page)
        except LiveCommerceError as exc:
            errors = await _refused(session, exc)
            if "tracking_no" in errors or "carrier" in errors:
                errors.pop("form", None)
                errors = {k: _shipment_message(page, k, carrier) for k in errors}
        else:
            return _done(target, "shipped", id=order_id, carrier=shipment.carrier, tracking_no=shipment.tracking_no)
    values = {"carrier": carrier, "tracking_no": tracking_no}
    return await _fulfillment_page(request, session, settings, user, None, None, None, None, {order_id: errors}, {order_id: values}, 422)


def _shipment_message(page: Page, field: str, carrier: str) -> str:
    if field == "carrier":
        return page.t("sales.err.carrier")
    return page.t("sales.err.tracking", carrier=carrier)


# --- purchasing units and subscriptions -----------------------------------------------------------


@dataclass(frozen=True)
class UnitRow:
    """A unit with this year's quota and completion."""

    id: int
    name: str
    unit_type: str
    county_id: int | None
    parent_unit_id: int | None
    budget_fen: int
    quota_fen: int
    completed_fen: int
    completion_bp: int

    @property
    def bar_percent(self) -> int:
        """The progress bar's width (0–100)."""
        return max(0, min(100, self.completion_bp // 100))


async def _unit_rows(session: AsyncSession, user: Principal, year: int) -> list[UnitRow]:
    rows: list[UnitRow] = []
    after: int | None = None
    while len(rows) < MAX_UNITS_LISTED:
        units, cursor = await assistance.list_units(session, user, PageParams(limit=200, after_id=after))
        for unit in units:
            assert unit.id is not None
            quota = await assistance.quota(session, user, unit.id, year)
            rows.append(
                UnitRow(
                    id=unit.id,
                    name=unit.name,
                    unit_type=unit.unit_type,
                    county_id=unit.county_id,
                    parent_unit_id=unit.parent_unit_id,
                    budget_fen=unit.annual_food_budget_fen,
                    quota_fen=quota.quota_fen,
                    completed_fen=quota.completed_fen,
                    completion_bp=quota.completion_bp,
                )
            )
        if cursor is None:
            break
        after = int(cursor)
    return rows


_UNIT_KEYS = {
    "name": lambda r: (r.name, r.id),
    "budget": lambda r: (r.budget_fen, r.id),
    "quota": lambda r: (r.quota_fen, r.id),
    "completed": lambda r: (r.completed_fen, r.id),
    "completion": lambda r: (r.completion_bp, r.id),
}


@router.get("/manage/units")
async def units_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: PageUser,
    sort: Annotated[str | None, Query(max_length=16)] = None,
    order: Annotated[str | None, Query(alias="dir", max_length=4)] = None,
    page_no: Annotated[int, Query(alias="page", ge=1, le=10000)] = 1,
) -> Response:
    """Purchasing units with this year's quota completion as a bar, sortable, and the form that adds one."""
    if gate := _staff_gate(request, user):
        return gate
    assert user is not None
    return await _units_page(request, session, settings, clock.now().astimezone(REPORTING_ZONE).year, user, sort, order, page_no, {}, {})


async def _units_page(
    request: Request,
    session: AsyncSession,
    settings: Any,
    year: int,
    user: Principal,
    sort: str | None,
    order: str | None,
    page_no: int,
    errors: dict[str, str],
    values: dict[str, str],
    status_code: int = 200,
) -> Response:
    page = page_for(request, user, settings)
    key = sort if sort in UNIT_SORTS else "name"
    descending = order == "desc"
    rows = sorted(await _unit_rows(session, user, year), key=_UNIT_KEYS[key], reverse=descending)
    start = (page_no - 1) * PAGE_SIZE
    shown = rows[start : start + PAGE_SIZE]
    more = len(rows) > start + PAGE_SIZE
    return _render(
        page,
        "units.html",
        status_code=status_code,
        rows=shown,
        parents=rows,
        year=year,
        sort=key,
        descending=descending,
        page_no=page_no,
        prev_url=f"/manage/units{_query(sort=key, dir=order, page=page_no - 1)}" if page_no > 1 else None,
        next_url=f"/manage/units{_query(sort=key, dir=order, page=page_no + 1)}" if more else None,
        sorts=UNIT_SORTS,
        unit_types=UNIT_TYPES,
        names=await _names(session, user),
        errors=errors,
        values=values,
    )


@router.post("/manage/units", dependencies=Posted)
async def unit_create(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: PageUser,
    name: Annotated[str, Form(max_length=128)] = "",
    unit_type: Annotated[str, Form(max_length=16)] = "",
    budget_yuan: Annotated[str, Form(max_length=24)] = "",
    reserved_share_percent: Annotated[str, Form(max_length=8)] = "",
    county_id: Annotated[str, Form(max_length=12)] = "",
    parent_unit_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """Add a purchasing unit: its canteen budget in yuan and the share reserved for poverty-alleviation produce."""
    if gate := _staff_gate(request, user):
        return gate
    assert user is not None
    page = page_for(request, user, settings)
    values = {
        "name": name,
        "unit_type": unit_type,
        "budget_yuan": budget_yuan,
        "reserved_share_percent": reserved_share_percent,
        "county_id": county_id,
        "parent_unit_id": parent_unit_id,
    }
    share = _fen(reserved_share_percent)  # a percentage with two decimals is basis points, as yuan are fen
    data: dict[str, object] = {"name": name.strip(), "unit_type": unit_type, "annual_food_budget_fen": _fen(budget_yuan)}
    if share is not None:
        data["reserved_share_bp"] = share
    for field_name, raw in (("county_id", county_id), ("parent_unit_id", parent_unit_id)):
        if (value := _number(raw)) is not None:
            data[field_name] = value
    body, errors = _attempt(page, UnitCreate, data)
    errors = {_UNIT_FIELDS.get(k, k): v for k, v in errors.items()}
    if body is not None:
        try:
            unit = await assistance.create_unit(session, user, body, clock.now())
        except LiveCommerceError as exc:
            errors = {_UNIT_FIELDS.get(k, k): v for k, v in (await _refused(session, exc)).items()}
        else:
            return _done("/manage/units", "unit_created", name=unit.name)
    year = clock.now().astimezone(REPORTING_ZONE).year
    return await _units_page(request, session, settings, year, user, None, None, 1, errors, values, 422)


_UNIT_FIELDS = {"annual_food_budget_fen": "budget_yuan", "reserved_share_bp": "reserved_share_percent"}


async def _sale_choices(session: AsyncSession, user: Principal, now: datetime | None = None) -> dict[str, Any]:
    """The units' names and the products a bulk sale may take; with `now`, products on urgent sale first (and marked)."""
    names = await _names(session, user)
    products = await catalog.active_products_of_counties(session, list(names["counties"]))
    urgent = {p.id for p in products if now is not None and catalog_service.is_urgent(p, now)}
    products.sort(key=lambda p: p.id not in urgent)  # stable: each group keeps its order by name
    return {"names": names, "products": products, "urgent_ids": urgent}


@router.get("/manage/subscriptions")
async def subscriptions_page(
    request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep, user: PageUser, cursor: Cursor = None
) -> Response:
    """Unit subscriptions of the user's counties, newest first, and the form that records one for a unit."""
    if gate := _staff_gate(request, user):
        return gate
    assert user is not None
    year = clock.now().astimezone(REPORTING_ZONE).year
    return await _subscriptions_page(request, session, settings, year, user, {}, {}, cursor=cursor, now=clock.now())


async def _subscriptions_page(
    request: Request,
    session: AsyncSession,
    settings: Any,
    year: int,
    user: Principal,
    errors: dict[str, str],
    values: dict[str, Any],
    status_code: int = 200,
    cursor: int | None = None,
    now: datetime | None = None,
) -> Response:
    page = page_for(request, user, settings)
    wanted = backoffice.OrderFilter(channel="unit_subscription")
    sheets, next_cursor = await backoffice.staff_orders(session, user, wanted, before=cursor, limit=PAGE_SIZE)
    units = await _unit_rows(session, user, year)
    return _render(
        page,
        "subscriptions.html",
        status_code=status_code,
        sheets=sheets,
        next_url=f"/manage/subscriptions?cursor={next_cursor}" if next_cursor else None,
        units=units,
        item_rows=ITEM_ROWS,
        key=uuid.uuid4().hex,
        order_products=await _product_names(session, [s.order for s in sheets]),
        errors=errors,
        values=values,
        **await _sale_choices(session, user, now),
    )


@router.post("/manage/subscriptions", dependencies=Posted)
async def subscription_create(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: PageUser,
    desk: OrderDeskDep,
    unit_id: Annotated[str, Form(max_length=12)] = "",
    product_id: Annotated[list[str] | None, Form(max_length=12)] = None,
    quantity: Annotated[list[str] | None, Form(max_length=8)] = None,
    key: Annotated[str, Form(max_length=64, pattern=r"^[0-9a-f]{0,64}$")] = "",
) -> Response:
    """Record a unit's bulk purchase, paid and credited at once (one submission, one order: the form carries its key)."""
    if gate := _staff_gate(request, user):
        return gate
    assert user is not None
    page = page_for(request, user, settings)
    items = _items(product_id or [], quantity or [])
    body, errors = _attempt(page, SubscriptionCreate, {"unit_id": _number(unit_id), "items": items})
    if body is not None:
        await session.close()  # the desk writes in its own transaction (on SQLite the one writer connection)
        try:
            placed = await desk.subscribe(user, body, key=f"page-{key}" if key else None, now=clock.now())
        except LiveCommerceError as exc:
            errors = _service_errors(exc)
        else:
            return _done("/manage/subscriptions", "subscribed", id=placed.id, amount=_yuan(placed.total_fen))
    values = {"unit_id": unit_id, "product_id": product_id or [], "quantity": quantity or []}
    year = clock.now().astimezone(REPORTING_ZONE).year
    return await _subscriptions_page(request, session, settings, year, user, errors, values, 422, now=clock.now())


@router.get("/manage/station-sales")
async def station_sales_page(
    request: Request, session: SessionDep, settings: SettingsDep, user: PageUser, cursor: Cursor = None
) -> Response:
    """Sales through the user's stations, newest first, and the form that records one."""
    if gate := _staff_gate(request, user):
        return gate
    assert user is not None
    return await _station_sales_page(request, session, settings, user, {}, {}, cursor=cursor)


async def _station_sales_page(
    request: Request,
    session: AsyncSession,
    settings: Any,
    user: Principal,
    errors: dict[str, str],
    values: dict[str, Any],
    status_code: int = 200,
    cursor: int | None = None,
) -> Response:
    page = page_for(request, user, settings)
    wanted = backoffice.OrderFilter(channel="physical")
    sheets, next_cursor = await backoffice.staff_orders(session, user, wanted, before=cursor, limit=PAGE_SIZE)
    return _render(
        page,
        "station_sales.html",
        status_code=status_code,
        sheets=sheets,
        next_url=f"/manage/station-sales?cursor={next_cursor}" if next_cursor else None,
        item_rows=ITEM_ROWS,
        key=uuid.uuid4().hex,
        order_products=await _product_names(session, [s.order for s in sheets]),
        errors=errors,
        values=values,
        **await _sale_choices(session, user),
    )


@router.post("/manage/station-sales", dependencies=Posted)
async def station_sale_create(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: PageUser,
    desk: OrderDeskDep,
    station_id: Annotated[str, Form(max_length=12)] = "",
    product_id: Annotated[list[str] | None, Form(max_length=12)] = None,
    quantity: Annotated[list[str] | None, Form(max_length=8)] = None,
    key: Annotated[str, Form(max_length=64, pattern=r"^[0-9a-f]{0,64}$")] = "",
) -> Response:
    """Record an over-the-counter sale at a station, paid and credited at once."""
    if gate := _staff_gate(request, user):
        return gate
    assert user is not None
    page = page_for(request, user, settings)
    items = _items(product_id or [], quantity or [])
    body, errors = _attempt(page, StationSaleCreate, {"items": items})
    station = _number(station_id)
    if not isinstance(station, int) or not 0 < station <= MAX_ID:
        errors["station_id"] = page.t("sales.err.choice")
        body = None
    if body is not None:
        assert isinstance(station, int)
        await session.close()
        try:
            placed = await desk.sell_at_station(user, station, body, key=f"page-{key}" if key else None, now=clock.now())
        except LiveCommerceError as exc:
            errors = _service_errors(exc)
        else:
            return _done("/manage/station-sales", "sold", id=placed.id, amount=_yuan(placed.total_fen))
    values = {"station_id": station_id, "product_id": product_id or [], "quantity": quantity or []}
    return await _station_sales_page(request, session, settings, user, errors, values, 422)


# --- users and the audit log (admins) ---------------------------------------------------------------


ROLES = tuple(r.value for r in Role)


@router.get("/manage/users")
async def users_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    role: Annotated[str | None, Query(max_length=16)] = None,
    q: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Cursor = None,
) -> Response:
    """Users and their roles, filterable by role or name (admins)."""
    if gate := _admin_gate(request, user):
        return gate
    assert user is not None
    return await _users_page(request, session, settings, user, role, q, cursor, {}, {})


async def _users_page(
    request: Request,
    session: AsyncSession,
    settings: Any,
    user: Principal,
    role: str | None,
    q: str | None,
    cursor: int | None,
    errors: dict[Any, dict[str, str]],
    values: dict[str, Any],
    status_code: int = 200,
) -> Response:
    page = page_for(request, user, settings)
    chosen = _choice(role, ROLES)
    users, next_cursor = await accounts.list_users(
        session, user, PageParams(limit=PAGE_SIZE, after_id=cursor), role=Role(chosen) if chosen else None, query=(q or "").strip() or None
    )
    counties = await catalog.counties_by_ids(session, None)
    return _render(
        page,
        "users.html",
        status_code=status_code,
        users=users,
        roles=ROLES,
        role=chosen,
        q=q or "",
        counties={c.id: c.name for c in counties if c.id is not None},
        next_url=f"/manage/users{_query(role=chosen, q=q, cursor=next_cursor)}" if next_cursor else None,
        errors=errors,
        values=values,
    )


@router.post("/manage/users", dependencies=Posted)
async def user_create(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: PageUser,
    username: Annotated[str, Form(max_length=64)] = "",
    display_name: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=128)] = "",
    role: Annotated[str, Form(max_length=16)] = "",
    county_ids: Annotated[list[str] | None, Form(max_length=12)] = None,
) -> Response:
    """Create a user of any role with the counties they act for (admins)."""
    if gate := _admin_gate(request, user):
        return gate
    assert user is not None
    page = page_for(request, user, settings)
    counties = [_number(c) for c in county_ids or [] if c]
    data = {"username": username.strip(), "display_name": display_name.strip(), "password": password, "role": role, "county_ids": counties}
    body, errors = _attempt(page, UserCreate, data)
    if body is not None:
        try:
            created = await accounts.create_user(session, body, actor=user, now=clock.now())
        except LiveCommerceError as exc:
            errors = await _refused(session, exc)
            if "taken" in errors.get("form", ""):
                errors["username"] = page.t("sales.err.username_taken")
        else:
            return _done("/manage/users", "user_created", name=created.username)
    values = {"username": username, "display_name": display_name, "role": role, "county_ids": county_ids or []}
    return await _users_page(request, session, settings, user, None, None, None, {"new": errors}, values, 422)


@router.post("/manage/users/{user_id}/role", dependencies=Posted)
async def user_change_role(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: PageUser,
    user_id: Id,
    role: Annotated[str, Form(max_length=16)] = "",
    county_ids: Annotated[list[str] | None, Form(max_length=12)] = None,
    confirmed: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Change a user's role and counties (admins; signs them out everywhere, so it asks first)."""
    if gate := _admin_gate(request, user):
        return gate
    assert user is not None
    page = page_for(request, user, settings)
    counties = [_number(c) for c in county_ids or [] if c]
    body, errors = _attempt(page, UserUpdate, {"role": role, "county_ids": counties})
    if body is not None and confirmed != "yes":
        fields = [("role", role), *(("county_ids", c) for c in county_ids or [] if c)]
        question = page.t("sales.confirm.role", id=user_id, role=page.t(f"role.{role}"))
        return _confirm(page, f"/manage/users/{user_id}/role", question, "/manage/users", fields)
    if body is not None:
        try:
            changed = await accounts.update_user(session, user, user_id, body, clock.now())
        except LiveCommerceError as exc:
            errors = await _refused(session, exc)
        else:
            return _done("/manage/users", "role_changed", name=changed.username, role=page.t(f"role.{changed.role}"))
    return await _users_page(request, session, settings, user, None, None, None, {user_id: errors}, {}, 422)


@router.get("/manage/audit")
async def audit_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    action: Annotated[str | None, Query(max_length=64)] = None,
    target: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Cursor = None,
) -> Response:
    """The audit log, oldest first, filterable by action and target, with the chain's verification (admins)."""
    if gate := _admin_gate(request, user):
        return gate
    assert user is not None
    page = page_for(request, user, settings)
    action, target = (action or "").strip() or None, (target or "").strip() or None
    records, next_cursor = await audit.list_records(session, PageParams(limit=PAGE_SIZE, after_id=cursor), action=action, target=target)
    verification = await audit.verify(session)
    return _render(
        page,
        "audit.html",
        records=records,
        verification=verification,
        action=action or "",
        target=target or "",
        next_url=f"/manage/audit{_query(action=action, target=target, cursor=next_cursor)}" if next_cursor else None,
    )
