"""Routes for ordering in a live stream, paying, cancelling, refunding and reading orders."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable
from datetime import date
from typing import Annotated

import structlog
from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.kit.auth import CurrentUser
from livecommerce.kit.deps import ClockDep, SessionDep, SettingsDep
from livecommerce.kit.errors import ServiceUnavailable
from livecommerce.kit.i18n import _l
from livecommerce.kit.pagination import Page, PageDep
from livecommerce.kit.principal import Principal
from livecommerce.kit.query import QueryInt, number
from livecommerce.kit.ratelimit_deps import order_placement_limit
from livecommerce.kit.types import MAX_ID
from livecommerce.orders import checkout, deals, reconciliation, service
from livecommerce.orders.cashier import Cashier, Settlement, cashier_of
from livecommerce.orders.desk import OrderDesk, desk_of
from livecommerce.orders.models import OrderStatus
from livecommerce.orders.schemas import (
    IDEMPOTENCY_KEY_PATTERN,
    FlashDealCreate,
    FlashDealList,
    FlashDealPublic,
    OrderCreate,
    OrderPublic,
    PaymentReceipt,
    PayParams,
    PayRequest,
    ProviderChoice,
    ReconciliationDifference,
    ReconciliationPublic,
)
from livecommerce.payments.base import Payer, PaymentStarted
from livecommerce.payments.registry import PaymentProviders, ProviderNotConfigured, providers_from
from livecommerce.payments.webhook import SIGNATURE_HEADER, PaymentWebhook, parse_signed_webhook

router = APIRouter(prefix="/api", tags=["orders"])
log = structlog.get_logger(__name__)


async def get_order_desk(request: Request) -> OrderDesk:
    """The app's order desk (made on first use, for the app's current database)."""
    return desk_of(request.app.state)


OrderDeskDep = Annotated[OrderDesk, Depends(get_order_desk)]


async def get_cashier(request: Request) -> Cashier:
    """The app's cashier, batching this instance's payments (made on first use, for the app's current database)."""
    return cashier_of(request.app.state)


CashierDep = Annotated[Cashier, Depends(get_cashier)]


async def get_payment_providers(request: Request) -> PaymentProviders:
    """The enabled payment providers (built on first use, and again when the settings that choose them change)."""
    state = request.app.state
    settings = state.settings
    key = (id(settings), settings.sandbox_payments_enabled, tuple(settings.payment_providers))
    cached: tuple[object, PaymentProviders] | None = getattr(state, "payment_providers", None)
    if cached is None or cached[0] != key:
        try:
            cached = state.payment_providers = (key, providers_from(settings))
        except (ProviderNotConfigured, OSError, ValueError) as exc:
            log.error("payment_providers_misconfigured", error=str(exc))
            raise ServiceUnavailable(_l("Payments are not configured correctly on this server.")) from exc
    return cached[1]


ProvidersDep = Annotated[PaymentProviders, Depends(get_payment_providers)]
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
        409: {
            "description": "The stream is not live, the price is not below the product's, fewer units are free, "
            "or the product is uncertified in a certified-only campaign's stream (`conflicts` names it)"
        },
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
    response_model=OrderPublic | PayParams,
    summary="Pay an order: the sandbox pays at once; wechatpay and alipay answer the client's pay parameters",
    responses={
        403: {"description": "That provider is turned off on this server"},
        409: {"description": "The order was cancelled, expired or refunded"},
        502: {"description": "The provider refused or could not be reached"},
    },
)
async def pay_order(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    principal: CurrentUser,
    providers: ProvidersDep,
    cashier: CashierDep,
    order_id: OrderId,
    body: Annotated[PayRequest | None, Body()] = None,
) -> OrderPublic | PayParams:
    choice = body or PayRequest()
    provider = providers.get(choice.provider)
    payer = Payer(channel=choice.channel, openid=choice.openid, client_ip=request.client.host if request.client else None)
    now = clock.now()
    started = await service.start_payment(session, principal, order_id, provider, payer, now=now)
    if isinstance(started, PaymentStarted):
        if started.notice is None:
            return PayParams(provider=started.provider, pay_params=started.pay_params)
        return await _settled(session, principal, order_id, cashier.settle(started.notice, now=now, paid_is_done=True))
    return await _public(session, principal, order_id)


async def _settled(session: AsyncSession, principal: Principal, order_id: int, settling: Awaitable[Settlement]) -> OrderPublic:
    """The order after the cashier applied its payment: as the batch wrote it when it paid just now."""
    # The session only read: let its connection go before waiting for a batch (on SQLite the
    # batch needs the one writer connection).
    await session.close()
    settlement = await settling
    if settlement.paid is not None:
        return service.placed_public(settlement.paid)
    return await _public(session, principal, order_id)


@router.post(
    "/orders/{order_id}/pay/confirm",
    response_model=OrderPublic,
    summary="Ask the provider whether an unpaid order was paid (its notification is late), and apply the payment if so",
    responses={
        403: {"description": "Not the buyer or staff, or the provider is turned off"},
        502: {"description": "The provider could not be asked"},
    },
)
async def confirm_payment(
    session: SessionDep,
    clock: ClockDep,
    principal: CurrentUser,
    providers: ProvidersDep,
    cashier: CashierDep,
    order_id: OrderId,
    body: ProviderChoice,
) -> OrderPublic:
    notice = await checkout.late_notice(session, principal, order_id, providers.get(body.provider))
    if notice is not None:
        return await _settled(session, principal, order_id, checkout.confirm_payment(cashier, notice, now=clock.now()))
    return await _public(session, principal, order_id)


WEBHOOK_BODY_SCHEMA = PaymentWebhook.model_json_schema()
# Each provider's own notification protocol, read raw and verified before anything in it is trusted.
NOTIFY_BODY = {
    "required": True,
    "description": "WeChat Pay (APIv3): a JSON notification whose `resource` is AES-GCM encrypted, signed in the "
    "Wechatpay-* headers. Alipay: a form of the trade's fields, RSA2-signed in `sign`.",
    "content": {
        "application/json": {
            "schema": {
                "title": "WeChatPayNotification",
                "type": "object",
                "required": ["id", "event_type", "resource"],
                "properties": {
                    "id": {"type": "string"},
                    "create_time": {"type": "string"},
                    "event_type": {"type": "string", "examples": ["TRANSACTION.SUCCESS"]},
                    "resource_type": {"type": "string"},
                    "resource": {
                        "type": "object",
                        "required": ["algorithm", "ciphertext", "nonce"],
                        "properties": {
                            "algorithm": {"type": "string", "examples": ["AEAD_AES_256_GCM"]},
                            "ciphertext": {"type": "string"},
                            "associated_data": {"type": "string"},
                            "nonce": {"type": "string"},
                        },
                    },
                },
            }
        },
        "application/x-www-form-urlencoded": {
            "schema": {
                "title": "AlipayNotification",
                "type": "object",
                "required": ["out_trade_no", "trade_no", "total_amount", "sign", "sign_type"],
                "properties": {
                    "app_id": {"type": "string"},
                    "seller_id": {"type": "string"},
                    "out_trade_no": {"type": "string"},
                    "trade_no": {"type": "string"},
                    "trade_status": {"type": "string", "examples": ["TRADE_SUCCESS"]},
                    "total_amount": {"type": "string", "examples": ["19.90"]},
                    "sign_type": {"type": "string", "examples": ["RSA2"]},
                    "sign": {"type": "string"},
                },
            }
        },
    },
}


@router.post(
    "/payments/{provider}/notify",
    summary="A payment provider's notification, in that provider's own protocol and answered in its format",
    responses={
        200: {"description": "Taken (WeChat Pay: empty; Alipay: the text success)"},
        401: {"description": "Unsigned or badly signed; nothing changed"},
        400: {"description": "Genuine but not matching the order; nothing changed, the provider retries"},
    },
    openapi_extra={"requestBody": NOTIFY_BODY},
)
async def provider_notify(
    request: Request,
    clock: ClockDep,
    providers: ProvidersDep,
    cashier: CashierDep,
    provider: Annotated[str, Path(pattern=r"^[a-z]{1,32}$", description="wechatpay or alipay.")],
) -> Response:
    reply = await checkout.receive_notification(cashier, providers.get(provider), request.headers, await request.body(), now=clock.now())
    return Response(content=reply.body, status_code=reply.status_code, media_type=reply.media_type)


@router.post(
    "/payments/webhook",
    response_model=PaymentReceipt,
    summary="A payment provider's signed notice (HMAC-SHA256 of the raw body, hex, in X-Signature)",
    responses={401: {"description": "Unsigned or badly signed; nothing changed"}, 409: {"description": "Amount or order state wrong"}},
    # The body is read raw (its signature covers the exact bytes), so FastAPI cannot describe it itself.
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": WEBHOOK_BODY_SCHEMA}}}},
)
async def payment_webhook(
    request: Request,
    settings: SettingsDep,
    clock: ClockDep,
    cashier: CashierDep,
    signature: Annotated[str | None, Header(alias=SIGNATURE_HEADER, max_length=256)] = None,
) -> PaymentReceipt:
    notice = parse_signed_webhook(settings.payment_webhook_secret, await request.body(), signature)
    settlement = await cashier.settle(notice, now=clock.now())
    return PaymentReceipt(order_id=settlement.order_id, status=settlement.status, replayed=settlement.replayed)


@router.get(
    "/payments/{provider}/reconciliation",
    response_model=ReconciliationPublic,
    summary="Compare a provider's bill of a day with the payments here (admin); the differences also go to /metrics",
    responses={502: {"description": "The provider's bill could not be read"}},
)
async def reconcile_payments(
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentUser,
    providers: ProvidersDep,
    provider: Annotated[str, Path(pattern=r"^[a-z]{1,32}$", description="wechatpay or alipay.")],
    day: Annotated[date, Query(alias="date", description="The bill's day, in the platform's time zone.")],
) -> ReconciliationPublic:
    result = await reconciliation.reconcile(session, principal, providers.get(provider), day, tz=settings.tz)
    differences = [ReconciliationDifference(**dataclasses.asdict(d)) for d in result.differences]
    return ReconciliationPublic(provider=result.provider, date=result.day, bill_lines=result.bill_lines, differences=differences)


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
async def refund_order(
    session: SessionDep, clock: ClockDep, principal: CurrentUser, providers: ProvidersDep, order_id: OrderId
) -> OrderPublic:
    order = await service.refund_order(session, principal, order_id, now=clock.now(), providers=providers)
    return await _public(session, principal, order.id)


@router.get("/orders/{order_id}", response_model=OrderPublic, summary="One order (its buyer, or staff of its counties)")
async def get_order(session: SessionDep, principal: CurrentUser, order_id: OrderId) -> OrderPublic:
    return await _public(session, principal, order_id)


@router.get("/me/orders", response_model=Page[OrderPublic], summary="The signed-in buyer's orders, oldest first")
async def my_orders(
    session: SessionDep,
    principal: CurrentUser,
    page: PageDep,
    stream_id: Annotated[QueryInt | None, Query(gt=0, le=MAX_ID, description=number("Only orders in this stream."))] = None,
    status: Annotated[OrderStatus | None, Query(description="Only orders in this state.")] = None,
) -> Page[OrderPublic]:
    items, cursor = await service.list_buyer_orders(
        session, principal.id, page, stream_id=stream_id, status=status.value if status is not None else None
    )
    return Page(items=items, next_cursor=cursor)


async def _public(session: SessionDep, principal: CurrentUser, order_id: int | None) -> OrderPublic:
    assert order_id is not None
    return await service.order_view(session, principal, order_id)
