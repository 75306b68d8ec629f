"""Reading and setting a stream's media (its hosts and organizers set it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.audit import service as audit
from livecommerce.broadcasts import service as broadcasts
from livecommerce.kit.principal import Principal
from streams.media.models import StreamMedia
from streams.media.schemas import MediaPublic, MediaUpdate


async def stream_media(session: AsyncSession, stream_id: int) -> MediaPublic:
    """The stream's media, or all nulls; NotFound for an unknown stream."""
    await broadcasts.get_stream(session, stream_id)
    media = await session.get(StreamMedia, stream_id)
    if media is None:
        return MediaPublic(stream_id=stream_id, platform=None, live_room_url=None, hls_url=None)
    return MediaPublic(stream_id=stream_id, platform=media.platform, live_room_url=media.live_room_url, hls_url=media.hls_url)  # type: ignore[arg-type]


async def set_media(session: AsyncSession, principal: Principal, stream_id: int, data: MediaUpdate, *, now: datetime) -> MediaPublic:
    """Replace the stream's media (audited)."""
    await broadcasts.get_stream(session, stream_id)
    await broadcasts.require_controller(session, principal, stream_id)
    media = await session.get(StreamMedia, stream_id, with_for_update=True) or StreamMedia(stream_id=stream_id)
    media.platform, media.live_room_url, media.hls_url, media.updated_at = data.platform, data.live_room_url, data.hls_url, now
    session.add(media)
    await session.flush()
    await audit.record(session, principal, "stream.media_set", f"stream:{stream_id}", {"platform": data.platform.value}, now=now)
    return await stream_media(session, stream_id)
