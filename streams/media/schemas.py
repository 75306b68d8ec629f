"""Request and response shapes of a stream's media."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from streams.media.models import Platform


def _web_url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    parts = urlsplit(value)
    # Only web addresses: a `javascript:` or `data:` link on the page would run in viewers' browsers.
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL")
    return value


class MediaUpdate(BaseModel):
    """Set where the stream airs; an empty or null URL removes it."""

    model_config = ConfigDict(extra="forbid")

    platform: Platform = Platform.studio
    live_room_url: str | None = Field(default=None, max_length=500, description="The live room on its platform (Douyin, Kuaishou, ...).")
    hls_url: str | None = Field(default=None, max_length=500, description="An HLS pull URL (.m3u8) the stream page plays.")

    @field_validator("live_room_url", "hls_url")
    @classmethod
    def _web_urls_only(cls, value: str | None) -> str | None:
        return _web_url(value)


class MediaPublic(BaseModel):
    """Where a stream airs (all null when nobody said)."""

    stream_id: int
    platform: Platform | None
    live_room_url: str | None
    hls_url: str | None
