"""Chat moderation routes (sending is over the stream's websocket)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from livecommerce.kit.auth import CurrentUser
from livecommerce.kit.deps import ClockDep, SessionDep
from livecommerce.kit.types import MAX_ID
from streams.chat import service
from streams.chat.schemas import HiddenMessage, MutePublic, MuteRequest

router = APIRouter(prefix="/api/streams", tags=["chat"])
StreamId = Annotated[int, Path(gt=0, le=MAX_ID, description="The stream.")]
MessageId = Annotated[int, Path(gt=0, le=MAX_ID, description="The chat message (`message_id` of `chat.message`).")]
_ERRORS: dict[int | str, dict[str, str]] = {
    403: {"description": "Not a host cadre of this stream nor an organizer of its counties"},
    404: {"description": "Unknown stream, message, or a user who has not chatted in the stream"},
}


@router.post(
    "/{stream_id}/chat/{message_id}/hide",
    response_model=HiddenMessage,
    summary="Hide a chat message from everyone (viewers get chat.hidden)",
    responses=_ERRORS,
)
async def hide_message(
    session: SessionDep, clock: ClockDep, principal: CurrentUser, stream_id: StreamId, message_id: MessageId
) -> HiddenMessage:
    message = await service.hide_message(session, principal, stream_id, message_id, now=clock.now())
    assert message.id is not None and message.hidden_at is not None
    return HiddenMessage(message_id=message.id, stream_id=message.stream_id, hidden_at=message.hidden_at)


@router.post(
    "/{stream_id}/mutes", response_model=MutePublic, status_code=201, summary="Mute a user in this stream's chat", responses=_ERRORS
)
async def mute_user(session: SessionDep, clock: ClockDep, principal: CurrentUser, stream_id: StreamId, body: MuteRequest) -> MutePublic:
    mute = await service.mute_user(session, principal, stream_id, body.user_id, body.minutes, now=clock.now())
    return MutePublic(stream_id=mute.stream_id, user_id=mute.user_id, until=mute.until)
