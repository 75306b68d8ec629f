"""Followers and reminders: viewers follow anchors or ask to be reminded of a broadcast, and hear of it once.

Each in-app notification is one row unique on (user, kind, stream). A reminder pass inserts the
rows of one stream in one transaction, so a pass that dies half-way leaves nothing, and a second
scheduler taking over (or running alongside) adds only rows that are missing: every follower
hears of each broadcast exactly once, however often the pass runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, delete, select

from livecommerce.broadcasts import service as streams
from livecommerce.catalog import service as catalog
from livecommerce.kit.pagination import PageParams, paginate
from livecommerce.kit.principal import Principal
from schedulers.models import AnchorFollow, StreamReminder, UserNotification
from schedulers.schemas import NotificationPublic

REMINDER = "stream.reminder"
LIVE = "stream.live"


async def follow_anchor(session: AsyncSession, principal: Principal, anchor_id: int, *, now: datetime) -> None:
    """Follow an anchor (following twice changes nothing)."""
    await catalog.get_anchor(session, anchor_id)
    if await session.get(AnchorFollow, (principal.id, anchor_id)) is None:
        session.add(AnchorFollow(user_id=principal.id, anchor_id=anchor_id, created_at=now))
        await session.flush()


async def unfollow_anchor(session: AsyncSession, principal: Principal, anchor_id: int) -> None:
    """Stop following an anchor."""
    await session.execute(delete(AnchorFollow).where(col(AnchorFollow.user_id) == principal.id, col(AnchorFollow.anchor_id) == anchor_id))


async def remind_me(session: AsyncSession, principal: Principal, stream_id: int, *, now: datetime) -> None:
    """Ask to be reminded of a broadcast (asking twice changes nothing)."""
    await streams.get_stream(session, stream_id)
    if await session.get(StreamReminder, (principal.id, stream_id)) is None:
        session.add(StreamReminder(user_id=principal.id, stream_id=stream_id, created_at=now))
        await session.flush()


async def audience(session: AsyncSession, stream_id: int) -> list[int]:
    """The users to tell about a stream: those who asked to be reminded and the followers of its hosts."""
    asked = select(col(StreamReminder.user_id)).where(col(StreamReminder.stream_id) == stream_id)
    hosts = await streams.host_anchor_ids(session, stream_id)
    followers = select(col(AnchorFollow.user_id)).where(col(AnchorFollow.anchor_id).in_(hosts))
    return sorted(set((await session.scalars(asked)).all()) | set((await session.scalars(followers)).all()))


class ViewerNotifier(Protocol):
    """Delivers notifications to viewers in the sender's transaction (in-app now; a mini-program push later)."""

    async def deliver(self, session: AsyncSession, user_ids: Sequence[int], *, kind: str, stream_id: int, at: datetime) -> int:
        """Deliver to the users not yet told; how many were told now."""


class InAppNotifier:
    """Writes the in-app notification list that `/api/me/notifications` reads."""

    async def deliver(self, session: AsyncSession, user_ids: Sequence[int], *, kind: str, stream_id: int, at: datetime) -> int:
        """Insert the missing rows; the unique key refuses a concurrent pass's duplicates (its transaction fails and retries)."""
        told = set(
            (
                await session.scalars(
                    select(col(UserNotification.user_id)).where(
                        col(UserNotification.stream_id) == stream_id, col(UserNotification.kind) == kind
                    )
                )
            ).all()
        )
        fresh = [u for u in user_ids if u not in told]
        for user_id in fresh:
            session.add(UserNotification(user_id=user_id, kind=kind, stream_id=stream_id, at=at))
        await session.flush()
        return len(fresh)


async def notify_audience(session: AsyncSession, notifier: ViewerNotifier, stream_id: int, *, kind: str, at: datetime) -> int:
    """Tell a stream's audience once of `kind`; how many were told by this call."""
    return await notifier.deliver(session, await audience(session, stream_id), kind=kind, stream_id=stream_id, at=at)


async def my_notifications(session: AsyncSession, principal: Principal, page: PageParams) -> tuple[list[NotificationPublic], str | None]:
    """A page of the caller's notifications, oldest first (the cursor pages forward by id)."""
    stmt = select(UserNotification).where(col(UserNotification.user_id) == principal.id)
    rows, cursor = await paginate(session, stmt, UserNotification.id, page)  # type: ignore[arg-type]
    titles = await streams.stream_titles(session, [r.stream_id for r in rows])
    items = [
        NotificationPublic(kind=r.kind, stream_id=r.stream_id, at=r.at, title=titles.get(r.stream_id, ""), read=r.read_at is not None)
        for r in rows
    ]
    return items, cursor


async def unread_count(session: AsyncSession, principal: Principal) -> int:
    """How many of the caller's notifications are unread (the badge on the pages)."""
    stmt = select(func.count()).where(col(UserNotification.user_id) == principal.id, col(UserNotification.read_at).is_(None))
    return int(await session.scalar(stmt) or 0)


async def mark_all_read(session: AsyncSession, principal: Principal, *, now: datetime) -> int:
    """Mark every unread notification of the caller read; how many were."""
    result = await session.execute(
        update(UserNotification)
        .where(col(UserNotification.user_id) == principal.id, col(UserNotification.read_at).is_(None))
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def latest_notifications(session: AsyncSession, principal: Principal, limit: int = 50) -> list[NotificationPublic]:
    """The caller's latest notifications, newest first (the notifications page)."""
    stmt = select(UserNotification).where(col(UserNotification.user_id) == principal.id)
    rows = list((await session.scalars(stmt.order_by(col(UserNotification.id).desc()).limit(limit))).all())
    titles = await streams.stream_titles(session, [r.stream_id for r in rows])
    return [
        NotificationPublic(kind=r.kind, stream_id=r.stream_id, at=r.at, title=titles.get(r.stream_id, ""), read=r.read_at is not None)
        for r in rows
    ]


async def reminded_stream_ids(session: AsyncSession, user_id: int) -> list[int]:
    """The streams a user asked to be reminded of (for the personal calendar feed)."""
    stmt = select(col(StreamReminder.stream_id)).where(col(StreamReminder.user_id) == user_id).order_by(col(StreamReminder.stream_id))
    return list((await session.scalars(stmt)).all())
