"""Routes for browsing streams and for their hosts' controls (start, end, pin)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query

from livecommerce.broadcasts import service
from livecommerce.broadcasts.models import StreamStatus
from livecommerce.broadcasts.schemas import PinRequest, StreamDetail, StreamPublic
from livecommerce.kit.auth import CurrentUser
from livecommerce.kit.deps import ClockDep, SessionDep, SettingsDep
from livecommerce.kit.pagination import Page, PageDep
from livecommerce.kit.types import MAX_ID

router = APIRouter(prefix="/api/streams", tags=["streams"])
StreamId = Annotated[int, Path(gt=0, le=MAX_ID, description="The stream.")]
_CONTROL_ERRORS: dict[int | str, dict[str, str]] = {
    403: {"description": "Not a host cadre of this stream nor an organizer of its counties"},
    409: {"description": "Not possible in the stream's current state; a refused start lists its `conflicts`"},
}


@router.get("", response_model=Page[StreamPublic], summary="List streams, optionally by status")
async def list_streams(
    session: SessionDep,
    page: PageDep,
    status: Annotated[StreamStatus | None, Query(description="scheduled, live, ended or cancelled.")] = None,
) -> Page[StreamPublic]:
    rows, cursor = await service.list_streams(session, page, status=status)
    return Page(items=[StreamPublic.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/{stream_id}", response_model=StreamDetail, summary="One stream with hosts, featured products (with stock) and pinned product")
async def get_stream(session: SessionDep, stream_id: StreamId) -> StreamDetail:
    return await service.stream_detail(session, stream_id)


@router.post("/{stream_id}/start", response_model=StreamDetail, summary="Go live (a host cadre or an organizer)", responses=_CONTROL_ERRORS)
async def start_stream(
    session: SessionDep, clock: ClockDep, settings: SettingsDep, principal: CurrentUser, stream_id: StreamId
) -> StreamDetail:
    await service.require_controller(session, principal, await _existing(session, stream_id))
    await service.start_stream(session, stream_id, now=clock.now(), warmup=timedelta(minutes=settings.warmup_minutes))
    return await service.stream_detail(session, stream_id)


@router.post(
    "/{stream_id}/end", response_model=StreamDetail, summary="End the broadcast (a host cadre or an organizer)", responses=_CONTROL_ERRORS
)
async def end_stream(session: SessionDep, clock: ClockDep, principal: CurrentUser, stream_id: StreamId) -> StreamDetail:
    await service.require_controller(session, principal, await _existing(session, stream_id))
    await service.end_stream(session, stream_id, now=clock.now())
    return await service.stream_detail(session, stream_id)


@router.post("/{stream_id}/pin", response_model=StreamDetail, summary="Pin a featured product on screen", responses=_CONTROL_ERRORS)
async def pin_product(session: SessionDep, clock: ClockDep, principal: CurrentUser, stream_id: StreamId, body: PinRequest) -> StreamDetail:
    await service.require_controller(session, principal, await _existing(session, stream_id))
    await service.pin_product(session, stream_id, body.product_id, now=clock.now(), actor=principal)
    return await service.stream_detail(session, stream_id)


async def _existing(session: SessionDep, stream_id: int) -> int:
    # 404 for an unknown stream before the permission check says 403.
    await service.get_stream(session, stream_id)
    return stream_id
