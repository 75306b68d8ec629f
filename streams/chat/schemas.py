"""Request and response shapes of the chat moderation endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from livecommerce.kit.types import MAX_ID


class MuteRequest(BaseModel):
    """Mute one user in one stream for some minutes."""

    model_config = ConfigDict(strict=True, extra="forbid")

    user_id: int = Field(gt=0, le=MAX_ID)
    minutes: int = Field(gt=0, le=7 * 24 * 60, description="1 minute to 7 days.")


class MutePublic(BaseModel):
    """A mute in force."""

    stream_id: int
    user_id: int
    until: datetime


class HiddenMessage(BaseModel):
    """A message hidden from everyone."""

    message_id: int
    stream_id: int
    hidden_at: datetime


class ChatMessagePublic(BaseModel):
    """A visible chat message; `author` is masked and `user_id` absent except for staff."""

    message_id: int
    author: str
    text: str
    at: datetime
    user_id: int | None = None


class ChatPage(BaseModel):
    """Recent messages, oldest first; `next_cursor` reads older ones."""

    items: list[ChatMessagePublic]
    next_cursor: str | None
