"""Routes for unit subscriptions and physical-channel sales."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from livecommerce.kit.auth import StaffUser
from livecommerce.kit.deps import ClockDep, SessionDep
from livecommerce.orders import bulk
from livecommerce.orders.schemas import IDEMPOTENCY_KEY_PATTERN

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
    response_model=bulk.BulkOrderPublic,
    status_code=201,
    summary="A unit's bulk purchase (party, government, enterprise), paid and credited at once (staff)",
)
async def create_subscription(
    session: SessionDep,
    principal: StaffUser,
    clock: ClockDep,
    body: bulk.SubscriptionCreate,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> bulk.BulkOrderPublic:
    sale = await bulk.create_subscription(session, principal, body, idempotency_key=idempotency_key, now=clock.now())
    if not sale.created:
        response.status_code = 200
    return bulk.bulk_public(sale)


@router.post(
    "/stations/{station_id}/sales",
    response_model=bulk.BulkOrderPublic,
    status_code=201,
    summary="A sale through a village station or signed store, paid and credited at once (staff of its county)",
)
async def create_station_sale(
    session: SessionDep,
    principal: StaffUser,
    clock: ClockDep,
    station_id: int,
    body: bulk.StationSaleCreate,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> bulk.BulkOrderPublic:
    sale = await bulk.create_station_sale(session, principal, station_id, body, idempotency_key=idempotency_key, now=clock.now())
    if not sale.created:
        response.status_code = 200
    return bulk.bulk_public(sale)
