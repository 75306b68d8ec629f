"""The broadcast's media: one row per stream that has any."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from livecommerce.kit.clock import utcnow
from livecommerce.kit.types import UTCDateTime


class Platform(StrEnum):
    """Where a broadcast airs."""

    douyin = "douyin"
    kuaishou = "kuaishou"
    wechat_channels = "wechat_channels"
    studio = "studio"  # the studio's own player


class StreamMedia(SQLModel, table=True):
    """A stream's live room link and HLS pull URL."""

    __tablename__ = "stream_media"

    stream_id: int = Field(foreign_key="streams.id", primary_key=True, ondelete="CASCADE")
    platform: str = Field(default=Platform.studio, max_length=32)
    live_room_url: str | None = Field(default=None, max_length=500)
    hls_url: str | None = Field(default=None, max_length=500)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
