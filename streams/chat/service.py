"""Chat rules: who may say what, how often, and the moderation of a stream's hosts and organizers.

An accepted message is a row (who wrote it, for moderation) and a `chat.message` event in the
stream's log, so every viewer gets it in seq order and a resume replays it. A refused one is a
`ChatRefused` with a reason, which the websocket sends back to its sender alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.audit import service as audit
from livecommerce.broadcasts import service as broadcasts
from livecommerce.broadcasts.events import EventType, append_event
from livecommerce.broadcasts.schemas import StreamStatus
from livecommerce.kit.errors import InvalidInput, LiveCommerceError, NotFound
from livecommerce.kit.i18n import LazyMessage, _l
from livecommerce.kit.principal import Principal
from livecommerce.kit.settings import Settings
from streams.chat.models import MAX_TEXT, ChatMessage, ChatMute


class Refusal(StrEnum):
    """Why a message was not posted (the `reason` of `chat.refused`)."""

    anonymous = "anonymous"
    muted = "muted"
    too_fast = "too_fast"
    blocked_word = "blocked_word"
    invalid = "invalid"
    not_live = "not_live"


class ChatRefused(LiveCommerceError):
    """A message the rules refuse; only its sender hears of it."""

    status, slug = 409, "chat-refused"
    title: LazyMessage | str = _l("Message refused")

    def __init__(self, reason: Refusal, detail: LazyMessage | str) -> None:
        super().__init__(detail, extra={"reason": reason.value})
        self.reason = reason


@dataclass(frozen=True)
class ChatRules:
    """The configurable limits of chat."""

    messages_per_window: int = 5
    window_seconds: float = 10.0
    blocked_words: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> ChatRules:
        """The rules configured for this deployment."""
        words = tuple(w.casefold() for w in settings.chat_blocked_words if w.strip())
        return cls(settings.chat_messages_per_window, settings.chat_window_seconds, words)


async def post_message(
    session: AsyncSession, stream_id: int, principal: Principal | None, text: str, *, rules: ChatRules, now: datetime
) -> ChatMessage:
    """Post a viewer's message to a live stream, or raise ChatRefused."""
    if principal is None:
        raise ChatRefused(Refusal.anonymous, _l("Sign in to chat."))
    text = text.strip()
    if not 1 <= len(text) <= MAX_TEXT:
        raise ChatRefused(Refusal.invalid, _l("A message has 1 to {MAX_TEXT} characters.", MAX_TEXT=MAX_TEXT))
    folded = text.casefold()
    if any(word in folded for word in rules.blocked_words):
        raise ChatRefused(Refusal.blocked_word, _l("The message contains a word that is not allowed here."))
    stream = await broadcasts.get_stream(session, stream_id)
    if stream.status != StreamStatus.live:
        raise ChatRefused(Refusal.not_live, _l("Chat is open only while the stream is live."))
    muted_until = await session.scalar(
        select(col(ChatMute.until)).where(col(ChatMute.stream_id) == stream_id, col(ChatMute.user_id) == principal.id)
    )
    if muted_until is not None and muted_until > now:
        raise ChatRefused(Refusal.muted, _l("You are muted in this stream until {muted_until}.", muted_until=muted_until.isoformat()))
    recent = await session.scalar(
        select(func.count())
        .select_from(ChatMessage)
        .where(
            col(ChatMessage.user_id) == principal.id,
            col(ChatMessage.stream_id) == stream_id,
            col(ChatMessage.created_at) > now - timedelta(seconds=rules.window_seconds),
        )
    )
    if int(recent or 0) >= rules.messages_per_window:
        raise ChatRefused(
            Refusal.too_fast,
            _l(
                "At most {messages_per_window} messages per {window_seconds} s.",
                messages_per_window=rules.messages_per_window,
                window_seconds=format(rules.window_seconds, "g"),
            ),
        )
    message = ChatMessage(stream_id=stream_id, user_id=principal.id, author=principal.display_name, text=text, created_at=now)
    session.add(message)
    await session.flush()
    assert message.id is not None
    # The author in full and the user id are for staff; the relay masks and drops them for everyone else.
    data = {"message_id": message.id, "author": principal.display_name, "user_id": principal.id, "text": text}
    await append_event(session, stream_id, EventType.chat_message, data, ts=now)
    return message


async def hide_message(session: AsyncSession, principal: Principal, stream_id: int, message_id: int, *, now: datetime) -> ChatMessage:
    """Hide a message from everyone (its stream's hosts and organizers); hiding twice announces once."""
    await broadcasts.get_stream(session, stream_id)
    await broadcasts.require_controller(session, principal, stream_id)
    message = await session.get(ChatMessage, message_id, with_for_update=True)
    if message is None or message.stream_id != stream_id:
        raise NotFound(_l("This stream has no chat message {message_id}.", message_id=message_id))
    if message.hidden_at is None:
        message.hidden_at = now
        session.add(message)
        await session.flush()
        await audit.record(session, principal, "chat.hidden", f"stream:{stream_id}", {"message_id": message_id}, now=now)
        await append_event(session, stream_id, EventType.chat_hidden, {"message_id": message_id}, ts=now)
    return message


async def mute_user(session: AsyncSession, principal: Principal, stream_id: int, user_id: int, minutes: int, *, now: datetime) -> ChatMute:
    """Keep a user who chatted in a stream from chatting there for `minutes` from now (its hosts and organizers)."""
    await broadcasts.get_stream(session, stream_id)
    await broadcasts.require_controller(session, principal, stream_id)
    if user_id == principal.id:
        raise InvalidInput(_l("You cannot mute yourself."), extra={"errors": [{"field": "user_id", "message": "is yourself"}]})
    # Mutes answer what someone said here: the user must have chatted in this stream (their row, not the users table).
    spoke = await session.scalar(
        select(col(ChatMessage.id)).where(col(ChatMessage.stream_id) == stream_id, col(ChatMessage.user_id) == user_id).limit(1)
    )
    if spoke is None:
        raise NotFound(_l("User {user_id} has not chatted in this stream.", user_id=user_id))
    until = now + timedelta(minutes=minutes)
    mute = await session.get(ChatMute, (stream_id, user_id), with_for_update=True)
    if mute is None:
        mute = ChatMute(stream_id=stream_id, user_id=user_id, until=until, muted_by=principal.id)
    else:
        mute.until, mute.muted_by = until, principal.id
    session.add(mute)
    await session.flush()
    await audit.record(session, principal, "chat.muted", f"stream:{stream_id}", {"user_id": user_id, "minutes": minutes}, now=now)
    return mute


async def recent_messages(session: AsyncSession, stream_id: int, *, limit: int, before: int | None = None) -> list[ChatMessage]:
    """The stream's latest visible messages (before message id `before`, if given), oldest first."""
    await broadcasts.get_stream(session, stream_id)
    stmt = select(ChatMessage).where(col(ChatMessage.stream_id) == stream_id, col(ChatMessage.hidden_at).is_(None))
    if before is not None:
        stmt = stmt.where(col(ChatMessage.id) < before)
    rows = (await session.scalars(stmt.order_by(col(ChatMessage.id).desc()).limit(limit))).all()
    return list(reversed(rows))
