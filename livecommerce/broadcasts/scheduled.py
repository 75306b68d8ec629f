"""The broadcasts' scheduled work: a booked stream goes live at its slot's start and closes after it.

The scheduler decides when; these decide what, inside the caller's transaction, and are
idempotent like every stream transition (a second call changes nothing).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.broadcasts import service
from livecommerce.broadcasts.models import Stream


async def go_live(session: AsyncSession, stream_id: int, *, now: datetime) -> Stream:
    """Start a booked stream at its slot's start (auto-start; the hand-start guard does not apply)."""
    return await service.start_stream(session, stream_id, now=now)


async def close(session: AsyncSession, stream_id: int, *, now: datetime) -> Stream:
    """End a stream whose slot (and its grace period) is over."""
    return await service.end_stream(session, stream_id, now=now)


async def release(session: AsyncSession, stream_id: int) -> bool:
    """Cancel a stream that will not happen (its booking lapsed or was a no-show); True if it changed."""
    return await service.cancel_stream(session, stream_id)
