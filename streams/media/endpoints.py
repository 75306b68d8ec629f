"""Routes for a stream's live room link and HLS URL."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from livecommerce.kit.auth import CurrentUser
from livecommerce.kit.deps import ClockDep, SessionDep
from livecommerce.kit.types import MAX_ID
from streams.media import service
from streams.media.schemas import MediaPublic, MediaUpdate

router = APIRouter(prefix="/api/streams", tags=["streams"])
StreamId = Annotated[int, Path(gt=0, le=MAX_ID, description="The stream.")]


@router.get("/{stream_id}/media", response_model=MediaPublic, summary="Where the stream airs: its live room link and HLS URL")
async def get_media(session: SessionDep, stream_id: StreamId) -> MediaPublic:
    return await service.stream_media(session, stream_id)


@router.put(
    "/{stream_id}/media",
    response_model=MediaPublic,
    summary="Set the live room link and HLS URL (a host cadre or an organizer)",
    responses={403: {"description": "Not a host cadre of this stream nor an organizer of its counties"}},
)
async def put_media(session: SessionDep, clock: ClockDep, principal: CurrentUser, stream_id: StreamId, body: MediaUpdate) -> MediaPublic:
    return await service.set_media(session, principal, stream_id, body, now=clock.now())
