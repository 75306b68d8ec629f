"""Chat moderation routes (sending is over the stream's websocket)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from livecommerce.kit.auth import CurrentUser, OptionalUser
from livecommerce.kit.deps import ClockDep, SessionDep
from livecommerce.kit.errors import InvalidInput
from livecommerce.kit.i18n import _l
from livecommerce.kit.masking import mask_display_name
from livecommerce.kit.query import QueryInt, number
from livecommerce.kit.types import MAX_ID
from streams.chat import service
from streams.chat.schemas import ChatMessagePublic, ChatPage, HiddenMessage, MutePublic, MuteRequest

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


@router.get("/{stream_id}/chat", response_model=ChatPage, summary="Recent visible chat messages, oldest first (for a page's first view)")
async def recent_chat(
    session: SessionDep,
    principal: OptionalUser,
    stream_id: StreamId,
    limit: Annotated[QueryInt, Query(ge=1, le=100, description=number("Messages per page."))] = 50,
    cursor: Annotated[str | None, Query(max_length=20, description="next_cursor of the previous page: older messages")] = None,
) -> ChatPage:
    if cursor is not None and not cursor.isdigit():
        raise InvalidInput(
            _l("cursor is not one this API gave."), extra={"errors": [{"field": "query.cursor", "message": "unknown cursor"}]}
        )
    rows = await service.recent_messages(session, stream_id, limit=limit, before=int(cursor) if cursor else None)
    staff = principal is not None and principal.is_staff
    items = [
        ChatMessagePublic(
            message_id=m.id or 0,
            author=m.author if staff else mask_display_name(m.author),
            text=m.text,
            at=m.created_at,
            user_id=m.user_id if staff else None,
        )
        for m in rows
    ]
    return ChatPage(items=items, next_cursor=str(rows[0].id) if len(rows) == limit and rows[0].id else None)
