"""Chat rules: who may say what, how often, and the moderation of a stream's hosts and organizers.

An accepted message is a row (who wrote it, for moderation) and a `chat.message` event in the
stream's log, so every viewer gets it in seq order and a resume replays it. A refused one is a
`ChatRefused` with a reason, which the websocket sends back to its sender alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.audit import service as audit
from livecommerce.broadcasts import service as broadcasts
from livecommerce.broadcasts.events import EventType, append_event, append_events
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


def screen(principal: Principal | None, text: str, rules: ChatRules) -> str:
    """The message's text as it will be posted, or ChatRefused for what needs no database: the sender, the length, the words."""
    if principal is None:
        raise ChatRefused(Refusal.anonymous, _l("Sign in to chat."))
    text = text.strip()
    if not 1 <= len(text) <= MAX_TEXT:
        raise ChatRefused(Refusal.invalid, _l("A message has 1 to {MAX_TEXT} characters.", MAX_TEXT=MAX_TEXT))
    folded = text.casefold()
    if any(word in folded for word in rules.blocked_words):
        raise ChatRefused(Refusal.blocked_word, _l("The message contains a word that is not allowed here."))
    return text


@dataclass
class Post:
    """One screened message of a batch, and what came of it: the message, or the refusal."""

    principal: Principal
    text: str
    message: ChatMessage | None = None
    refusal: ChatRefused | None = None


async def post_message(
    session: AsyncSession, stream_id: int, principal: Principal | None, text: str, *, rules: ChatRules, now: datetime
) -> ChatMessage:
    """Post a viewer's message to a live stream, or raise ChatRefused (a batch of one)."""
    text = screen(principal, text, rules)
    assert principal is not None  # screen refuses anonymous senders
    post = Post(principal, text)
    await post_messages(session, stream_id, [post], rules=rules, now=now)
    if post.refusal is not None:
        raise post.refusal
    assert post.message is not None
    return post.message


async def post_messages(session: AsyncSession, stream_id: int, posts: Sequence[Post], *, rules: ChatRules, now: datetime) -> None:
    """Post screened messages of one stream together, each decided on its own in arrival order.

    Three reads for the whole batch (the stream's status, the senders' mutes, their messages in
    the rate window), one insert of the accepted messages and one append of their events, which
    take consecutive seqs under a single hold of the stream's counter.
    """
    stream = await broadcasts.get_stream(session, stream_id)
    if stream.status != StreamStatus.live:
        for post in posts:
            post.refusal = ChatRefused(Refusal.not_live, _l("Chat is open only while the stream is live."))
        return
    user_ids = sorted({post.principal.id for post in posts})
    mutes = dict(
        (
            await session.execute(
                select(col(ChatMute.user_id), col(ChatMute.until)).where(
                    col(ChatMute.stream_id) == stream_id, col(ChatMute.user_id).in_(user_ids)
                )
            )
        ).all()
    )
    recent: dict[int, int] = dict(
        (
            await session.execute(
                select(col(ChatMessage.user_id), func.count())
                .where(
                    col(ChatMessage.user_id).in_(user_ids),
                    col(ChatMessage.stream_id) == stream_id,
                    col(ChatMessage.created_at) > now - timedelta(seconds=rules.window_seconds),
                )
                .group_by(col(ChatMessage.user_id))
            )
        ).all()
    )
    accepted: list[Post] = []
    for post in posts:
        user_id = post.principal.id
        muted_until = mutes.get(user_id)
        if muted_until is not None and muted_until > now:
            post.refusal = ChatRefused(
                Refusal.muted, _l("You are muted in this stream until {muted_until}.", muted_until=muted_until.isoformat())
            )
        elif recent.get(user_id, 0) >= rules.messages_per_window:
            post.refusal = _too_fast(rules)
        else:
            recent[user_id] = recent.get(user_id, 0) + 1  # an earlier message of the batch counts against a later one
            post.message = ChatMessage(
                stream_id=stream_id, user_id=user_id, author=post.principal.display_name, text=post.text, created_at=now
            )
            accepted.append(post)
    if not accepted:
        return
    session.add_all([post.message for post in accepted if post.message is not None])
    await session.flush()
    events: list[tuple[EventType | str, dict[str, Any]]] = []
    for post in accepted:
        assert post.message is not None and post.message.id is not None
        # The author in full and the user id are for staff; the relay masks and drops them for everyone else.
        data = {"message_id": post.message.id, "author": post.principal.display_name, "user_id": post.principal.id, "text": post.text}
        events.append((EventType.chat_message, data))
    await append_events(session, stream_id, events, ts=now)


def _too_fast(rules: ChatRules) -> ChatRefused:
    return ChatRefused(
        Refusal.too_fast,
        _l(
            "At most {messages_per_window} messages per {window_seconds} s.",
            messages_per_window=rules.messages_per_window,
            window_seconds=format(rules.window_seconds, "g"),
        ),
    )


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
