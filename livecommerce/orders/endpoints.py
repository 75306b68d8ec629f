"""Routes for ordering in a live stream, paying, cancelling, refunding and reading orders."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from livecommerce.kit.auth import CurrentUser
from livecommerce.kit.deps import ClockDep, SessionDep, SettingsDep
from livecommerce.kit.errors import Forbidden
from livecommerce.kit.pagination import Page, PageDep
from livecommerce.kit.ratelimit_deps import order_placement_limit
from livecommerce.kit.types import MAX_ID
from livecommerce.orders import deals, service
from livecommerce.orders.availability import Availability
from livecommerce.orders.desk import OrderDesk
from livecommerce.orders.models import OrderStatus
from livecommerce.orders.payments import SIGNATURE_HEADER, SandboxProvider, parse_signed_webhook
from livecommerce.orders.schemas import (
    IDEMPOTENCY_KEY_PATTERN,
    FlashDealCreate,
    FlashDealList,
    FlashDealPublic,
    OrderCreate,
    OrderPublic,
    PaymentReceipt,
)

router = APIRouter(prefix="/api", tags=["orders"])


async def get_order_desk(request: Request) -> OrderDesk:
    """The app's order desk (made on first use, for the app's current database)."""
    state = request.app.state
    desk: OrderDesk | None = getattr(state, "order_desk", None)
    if desk is None or desk.db is not state.db:
        availability: Availability = state.availability
        desk = state.order_desk = OrderDesk(state.db, state.settings, availability, getattr(state, "units", None))
    return desk


OrderDeskDep = Annotated[OrderDesk, Depends(get_order_desk)]


OrderId = Annotated[int, Path(gt=0, le=MAX_ID, description="The order.")]
StreamId = Annotated[int, Path(gt=0, le=MAX_ID, description="The stream.")]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="A key the client makes up per purchase (a UUID); resending it returns the same order.",
    ),
]


@router.post(
    "/streams/{stream_id}/orders",
    response_model=OrderPublic,
    status_code=201,
    summary="Order featured products during a live stream (idempotent by Idempotency-Key)",
    responses={
        409: {"description": "Out of stock, stream not live, deal not open, buyer limit reached, or the key was used for another order"},
        429: {"description": "Too many orders from this buyer or for this stream; see Retry-After"},
    },
    dependencies=[Depends(order_placement_limit)],
)
async def place_order(
    session: SessionDep,
    clock: ClockDep,
    buyer: CurrentUser,
    stream_id: StreamId,
    body: OrderCreate,
    idempotency_key: IdempotencyKey,
    response: Response,
    desk: OrderDeskDep,
) -> OrderPublic:
    # The request's session was used only to read the caller (if at all): let its connection go
    # before waiting for a batch (on SQLite the batch needs the one writer connection).
    await session.close()
    placed = await desk.order_in_stream(buyer, stream_id, body, key=idempotency_key, now=clock.now())
    if not placed.created:
        response.headers["Idempotent-Replayed"] = "true"
    return service.placed_public(placed)


@router.post(
    "/streams/{stream_id}/flash-deals",
    response_model=FlashDealPublic,
    status_code=201,
    summary="Announce a flash deal in a live stream (its host cadre or an organizer): units leave free stock at once",
    responses={
        403: {"description": "Not a host or organizer of this stream"},
        404: {"description": "No such stream"},
        409: {"description": "The stream is not live, the price is not below the product's, or fewer units are free"},
    },
)
async def announce_flash_deal(
    session: SessionDep, clock: ClockDep, principal: CurrentUser, stream_id: StreamId, body: FlashDealCreate
) -> FlashDealPublic:
    now = clock.now()
    return deals.deal_public(await deals.announce_deal(session, principal, stream_id, body, now=now), now)


@router.get(
    "/streams/{stream_id}/flash-deals",
    response_model=FlashDealList,
    summary="A stream's flash deals, newest first, with the server's time to count down by",
    responses={404: {"description": "No such stream"}},
)
async def list_flash_deals(session: SessionDep, clock: ClockDep, stream_id: StreamId) -> FlashDealList:
    now = clock.now()
    return FlashDealList(items=[deals.deal_public(d, now) for d in await deals.stream_deals(session, stream_id)], server_time=now)


DealId = Annotated[int, Path(gt=0, le=MAX_ID, description="The flash deal.")]


@router.get(
    "/flash-deals/{deal_id}", response_model=FlashDealPublic, summary="One flash deal", responses={404: {"description": "No such deal"}}
)
async def get_flash_deal(session: SessionDep, clock: ClockDep, deal_id: DealId) -> FlashDealPublic:
    return deals.deal_public(await deals.get_deal(session, deal_id), clock.now())


@router.post(
    "/flash-deals/{deal_id}/end",
    response_model=FlashDealPublic,
    summary="End a flash deal now (its stream's host or organizer); unsold units return to free stock",
    responses={403: {"description": "Not a host or organizer of its stream"}, 404: {"description": "No such deal"}},
)
async def end_flash_deal(session: SessionDep, clock: ClockDep, principal: CurrentUser, deal_id: DealId) -> FlashDealPublic:
    now = clock.now()
    return deals.deal_public(await deals.end_deal(session, principal, deal_id, now=now), now)


@router.post(
    "/orders/{order_id}/pay",
    response_model=OrderPublic,
    summary="Pay an order with the built-in sandbox provider",
    responses={409: {"description": "The order was cancelled, expired or refunded"}},
)
async def pay_order(session: SessionDep, settings: SettingsDep, clock: ClockDep, principal: CurrentUser, order_id: OrderId) -> OrderPublic:
    if not settings.sandbox_payments_enabled:
        raise Forbidden("Sandbox payments are turned off on this server.")
    provider = SandboxProvider(settings.payment_webhook_secret)
    order = await service.pay_with_provider(session, principal, order_id, provider, now=clock.now())
    return await _public(session, principal, order.id)


@router.post(
    "/payments/webhook",
    response_model=PaymentReceipt,
    summary="A payment provider's signed notice (HMAC-SHA256 of the raw body, hex, in X-Signature)",
    responses={401: {"description": "Unsigned or badly signed; nothing changed"}, 409: {"description": "Amount or order state wrong"}},
)
async def payment_webhook(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    signature: Annotated[str | None, Header(alias=SIGNATURE_HEADER, max_length=256)] = None,
) -> PaymentReceipt:
    notice = parse_signed_webhook(settings.payment_webhook_secret, await request.body(), signature)
    settlement = await service.settle_payment(session, notice, now=clock.now())
    assert settlement.order.id is not None
    return PaymentReceipt(order_id=settlement.order.id, status=settlement.order.status, replayed=settlement.replayed)


@router.post(
    "/orders/{order_id}/cancel",
    response_model=OrderPublic,
    summary="Cancel an unpaid order (its buyer); the units go back on sale",
    responses={409: {"description": "The order was paid, expired or refunded"}},
)
async def cancel_order(session: SessionDep, clock: ClockDep, principal: CurrentUser, order_id: OrderId) -> OrderPublic:
    order = await service.cancel_order(session, principal, order_id, now=clock.now())
    return await _public(session, principal, order.id)


@router.post(
    "/orders/{order_id}/refund",
    response_model=OrderPublic,
    summary="Refund a paid order (an organizer of the stream's counties); reverses its ledger posting",
    responses={409: {"description": "The order is not paid"}},
)
async def refund_order(session: SessionDep, clock: ClockDep, principal: CurrentUser, order_id: OrderId) -> OrderPublic:
    order = await service.refund_order(session, principal, order_id, now=clock.now())
    return await _public(session, principal, order.id)


@router.get("/orders/{order_id}", response_model=OrderPublic, summary="One order (its buyer, or staff of its counties)")
async def get_order(session: SessionDep, principal: CurrentUser, order_id: OrderId) -> OrderPublic:
    return await _public(session, principal, order_id)


@router.get("/me/orders", response_model=Page[OrderPublic], summary="The signed-in buyer's orders, oldest first")
async def my_orders(
    session: SessionDep,
    principal: CurrentUser,
    page: PageDep,
    stream_id: Annotated[int | None, Query(gt=0, le=MAX_ID, description="Only orders in this stream.")] = None,
    status: Annotated[OrderStatus | None, Query(description="Only orders in this state.")] = None,
) -> Page[OrderPublic]:
    items, cursor = await service.list_buyer_orders(
        session, principal.id, page, stream_id=stream_id, status=status.value if status is not None else None
    )
    return Page(items=items, next_cursor=cursor)


async def _public(session: SessionDep, principal: CurrentUser, order_id: int | None) -> OrderPublic:
    assert order_id is not None
    order, lines = await service.get_order(session, principal, order_id)
    return service.order_public(order, lines)
