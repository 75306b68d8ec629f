"""Routes for delivery addresses, parcels, receipt, the pick list and refund requests."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from livecommerce.kit.auth import CurrentUser, StaffUser
from livecommerce.kit.deps import ClockDep, SessionDep, SettingsDep
from livecommerce.kit.pagination import Page, PageDep
from livecommerce.kit.query import QueryInt, number
from livecommerce.kit.spreadsheets import XLSX_MEDIA_TYPE
from livecommerce.kit.types import MAX_ID
from livecommerce.orders import addresses, fulfillment, pick_sheet, refund_requests, service
from livecommerce.orders.endpoints import ProvidersDep
from livecommerce.orders.models import Fulfillment, RefundRequestStatus
from livecommerce.orders.schemas import (
    AddressCreate,
    AddressPublic,
    OrderPublic,
    PickListItem,
    RefundRejection,
    RefundRequestCreate,
    RefundRequestPublic,
    ShipmentCreate,
    ShipmentPublic,
)

router = APIRouter(prefix="/api", tags=["fulfillment"])

OrderId = Annotated[int, Path(gt=0, le=MAX_ID, description="The order.")]
RequestId = Annotated[int, Path(gt=0, le=MAX_ID, description="The refund request.")]


@router.post("/me/addresses", response_model=AddressPublic, status_code=201, summary="Add a delivery address (the first is the default)")
async def add_address(session: SessionDep, clock: ClockDep, buyer: CurrentUser, body: AddressCreate) -> AddressPublic:
    return addresses.address_public(await addresses.add_address(session, buyer, body, now=clock.now()), in_full=True)


@router.get("/me/addresses", response_model=list[AddressPublic], summary="The signed-in buyer's addresses, the default first")
async def my_addresses(session: SessionDep, buyer: CurrentUser) -> list[AddressPublic]:
    return [addresses.address_public(a, in_full=True) for a in await addresses.list_addresses(session, buyer)]


@router.post(
    "/orders/{order_id}/shipments",
    response_model=ShipmentPublic,
    status_code=201,
    summary="Record a parcel of a paid order (staff of the order's counties); several are allowed",
    responses={
        409: {"description": "The order is not paid, or was delivered"},
        422: {"description": "Unknown carrier or tracking number shape"},
    },
)
async def record_shipment(
    session: SessionDep, settings: SettingsDep, clock: ClockDep, principal: CurrentUser, order_id: OrderId, body: ShipmentCreate
) -> ShipmentPublic:
    shipment = await fulfillment.record_shipment(session, principal, order_id, body, carriers=settings.carriers, now=clock.now())
    return service.shipment_public(shipment)


@router.post(
    "/orders/{order_id}/received",
    response_model=OrderPublic,
    summary="The buyer confirms a shipped order arrived",
    responses={409: {"description": "The order has not been shipped"}},
)
async def confirm_receipt(session: SessionDep, clock: ClockDep, principal: CurrentUser, order_id: OrderId) -> OrderPublic:
    await fulfillment.confirm_receipt(session, principal, order_id, now=clock.now())
    return await service.order_view(session, principal, order_id)


PickCounty = Annotated[QueryInt | None, Query(gt=0, le=MAX_ID, description=number("Only orders of this county."))]
PickStation = Annotated[QueryInt | None, Query(gt=0, le=MAX_ID, description=number("Only orders of this station."))]
PickStatus = Annotated[Fulfillment, Query(description="unshipped (the default), shipped or delivered.")]


@router.get("/fulfillment", response_model=Page[PickListItem], summary="The pick list: paid orders to pack in the caller's counties")
async def pick_list(
    session: SessionDep,
    principal: StaffUser,
    page: PageDep,
    county_id: PickCounty = None,
    station_id: PickStation = None,
    status: PickStatus = Fulfillment.unshipped,
) -> Page[PickListItem]:
    wanted = fulfillment.PickFilter(county_id=county_id, station_id=station_id, fulfillment=status)
    items, cursor = await fulfillment.pick_list(session, principal, wanted, page)
    return Page(items=items, next_cursor=cursor)


@router.get(
    "/fulfillment.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "The pick list workbook, a row per order line"}},
    summary="The pick list as a workbook: every order of the filter, a row per line, masked as the JSON pick list",
)
async def pick_list_xlsx(
    session: SessionDep,
    principal: StaffUser,
    county_id: PickCounty = None,
    station_id: PickStation = None,
    status: PickStatus = Fulfillment.unshipped,
) -> Response:
    wanted = fulfillment.PickFilter(county_id=county_id, station_id=station_id, fulfillment=status)
    content = await pick_sheet.pick_list_workbook(session, principal, wanted)
    headers = {"Content-Disposition": f'attachment; filename="pick-list-{status.value}.xlsx"'}
    return Response(content, media_type=XLSX_MEDIA_TYPE, headers=headers)


@router.post(
    "/orders/{order_id}/refund-requests",
    response_model=RefundRequestPublic,
    status_code=201,
    summary="The buyer asks for a refund of a paid order",
    responses={409: {"description": "The order is not paid, or a request is open already"}},
)
async def ask_refund(
    session: SessionDep, clock: ClockDep, principal: CurrentUser, order_id: OrderId, body: RefundRequestCreate
) -> RefundRequestPublic:
    return refund_requests.request_public(await refund_requests.ask_refund(session, principal, order_id, body.reason, now=clock.now()))


@router.post(
    "/refund-requests/{request_id}/approve",
    response_model=RefundRequestPublic,
    summary="Approve a refund request and refund the order (an organizer of its counties)",
    responses={409: {"description": "The request was rejected, or the order can no longer be refunded"}},
)
async def approve_refund(
    session: SessionDep, clock: ClockDep, principal: CurrentUser, providers: ProvidersDep, request_id: RequestId
) -> RefundRequestPublic:
    approved = await refund_requests.approve(session, principal, request_id, now=clock.now(), providers=providers)
    return refund_requests.request_public(approved)


@router.post(
    "/refund-requests/{request_id}/reject",
    response_model=RefundRequestPublic,
    summary="Reject a refund request with a note (an organizer of its counties)",
    responses={409: {"description": "The request was approved"}},
)
async def reject_refund(
    session: SessionDep, clock: ClockDep, principal: CurrentUser, request_id: RequestId, body: RefundRejection
) -> RefundRequestPublic:
    return refund_requests.request_public(await refund_requests.reject(session, principal, request_id, body.note, now=clock.now()))


@router.get("/refund-requests", response_model=Page[RefundRequestPublic], summary="Refund requests: a buyer's own, or staff's counties'")
async def list_refund_requests(
    session: SessionDep,
    principal: CurrentUser,
    page: PageDep,
    status: Annotated[RefundRequestStatus | None, Query(description="Only requests in this state.")] = None,
) -> Page[RefundRequestPublic]:
    items, cursor = await refund_requests.list_requests(session, principal, page, status=status)
    return Page(items=[refund_requests.request_public(r) for r in items], next_cursor=cursor)
