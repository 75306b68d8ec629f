"""Routes for unit subscriptions and physical-channel sales."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Response

from livecommerce.kit.auth import StaffUser
from livecommerce.kit.deps import ClockDep, SessionDep
from livecommerce.kit.types import MAX_ID
from livecommerce.orders.endpoints import OrderDeskDep
from livecommerce.orders.placement import Placed
from livecommerce.orders.schemas import IDEMPOTENCY_KEY_PATTERN, BulkOrderPublic, OrderLinePublic, StationSaleCreate, SubscriptionCreate

router = APIRouter(prefix="/api", tags=["orders"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Optional; the same key again returns the first order (200) and creates nothing.",
    ),
]


@router.post(
    "/subscriptions",
    response_model=BulkOrderPublic,
    status_code=201,
    summary="A unit's bulk purchase (party, government, enterprise), paid and credited at once (staff)",
    responses={
        403: {"description": "Not staff of every product's county"},
        409: {"description": "Out of stock, a product no longer on sale, or the key was used for another order"},
    },
)
async def create_subscription(
    session: SessionDep,
    principal: StaffUser,
    clock: ClockDep,
    body: SubscriptionCreate,
    response: Response,
    desk: OrderDeskDep,
    idempotency_key: IdempotencyKey = None,
) -> BulkOrderPublic:
    await session.close()
    placed = await desk.subscribe(principal, body, key=idempotency_key, now=clock.now())
    if not placed.created:
        response.status_code = 200
    return bulk_public(placed)


@router.post(
    "/stations/{station_id}/sales",
    response_model=BulkOrderPublic,
    status_code=201,
    summary="A sale through a village station or signed store, paid and credited at once (staff of its county and the products')",
    responses={
        403: {"description": "Not staff of the station's county and every product's county"},
        404: {"description": "No such station"},
        409: {"description": "Out of stock, a product no longer on sale, or the key was used for another order"},
    },
)
async def create_station_sale(
    session: SessionDep,
    principal: StaffUser,
    clock: ClockDep,
    station_id: Annotated[int, Path(gt=0, le=MAX_ID, description="The station.")],
    body: StationSaleCreate,
    response: Response,
    desk: OrderDeskDep,
    idempotency_key: IdempotencyKey = None,
) -> BulkOrderPublic:
    await session.close()
    placed = await desk.sell_at_station(principal, station_id, body, key=idempotency_key, now=clock.now())
    if not placed.created:
        response.status_code = 200
    return bulk_public(placed)


def bulk_public(placed: Placed) -> BulkOrderPublic:
    """The API view of a subscription or station sale."""
    return BulkOrderPublic(
        id=placed.id,
        status=placed.status,
        channel=placed.channel,
        total_fen=placed.total_fen,
        unit_name=placed.unit_name,
        unit_type=placed.unit_type,
        station_id=placed.station_id,
        items=[
            OrderLinePublic(product_id=ln.product_id, quantity=ln.quantity, unit_price_fen=ln.unit_price_fen, amount_fen=ln.amount_fen)
            for ln in placed.lines
        ],
        created_at=placed.created_at,
        paid_at=placed.paid_at,
        refunded_at=placed.refunded_at,
    )
