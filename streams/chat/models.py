"""Chat tables: the messages viewers sent (their text is also in the event log) and who is muted where."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from livecommerce.kit.clock import utcnow
from livecommerce.kit.types import UTCDateTime

MAX_TEXT = 200


class ChatMessage(SQLModel, table=True):
    """One accepted chat message; `hidden_at` is set when a host or organizer hides it."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        Index("ix_chat_messages_stream_id_id", "stream_id", "id"),
        Index("ix_chat_messages_user_id_created_at", "user_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    stream_id: int = Field(foreign_key="streams.id", ondelete="CASCADE")
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    author: str = Field(max_length=64)  # the display name when it was sent (shown masked to all but staff)
    text: str = Field(max_length=MAX_TEXT)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    hidden_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ChatMute(SQLModel, table=True):
    """A user who may not chat in a stream until `until`."""

    __tablename__ = "chat_mutes"

    stream_id: int = Field(foreign_key="streams.id", primary_key=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    until: datetime = Field(sa_type=UTCDateTime)
    muted_by: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
