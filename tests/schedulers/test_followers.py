"""Follow an anchor, "remind me" for a broadcast, and the in-app notifications, sent exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.kit.clock import Clock, FrozenClock
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from livecommerce.kit.settings import Settings
from schedulers.followers import InAppNotifier
from schedulers.jobs import JobContext, run_due
from schedulers.models import UserNotification
from schedulers.notify import LogNotifier
from tests.factories import TestUser
from tests.schedulers.conftest import World, at


@pytest.fixture
def ctx(db: Database, settings: Settings, clock: Clock) -> JobContext:
    settings.digest_hour = 23
    return JobContext(db=db, settings=settings, clock=clock, notifier=LogNotifier())


async def follow(world: World, user: TestUser, anchor_id: int) -> int:
    return (await world.client.post(f"/api/anchors/{anchor_id}/follow", headers=user.headers)).status_code


async def remind(world: World, user: TestUser, stream_id: int) -> int:
    return (await world.client.post(f"/api/streams/{stream_id}/remind", headers=user.headers)).status_code


async def notifications(world: World, user: TestUser) -> list[dict[str, Any]]:
    r = await world.client.get("/api/me/notifications", headers=user.headers)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def rows(db: Database, stream_id: int) -> list[tuple[int, str]]:
    async with db.sessionmaker() as session:
        found = await session.execute(
            select(col(UserNotification.user_id), col(UserNotification.kind)).where(col(UserNotification.stream_id) == stream_id)
        )
        return sorted((u, k) for u, k in found.all())


class Killed(Exception):
    """The scheduler worker died mid-send."""


class DiesHalfWay(InAppNotifier):
    """Writes the first viewer's row, then dies before the rest (and before its transaction commits)."""

    async def deliver(self, session: AsyncSession, user_ids: Sequence[int], *, kind: str, stream_id: int, at: datetime) -> int:
        await super().deliver(session, user_ids[:1], kind=kind, stream_id=stream_id, at=at)
        raise Killed


class TestFollowAndRemind:
    async def test_follow_and_remind_are_204_and_repeatable(self, world: World) -> None:
        viewer = await world.make.user(Role.viewer)
        booking = await world.booked(at(2))
        assert [await follow(world, viewer, world.a.id) for _ in range(2)] == [204, 204]
        assert [await remind(world, viewer, booking["stream_id"]) for _ in range(2)] == [204, 204]

    async def test_unknown_anchor_or_stream_is_404(self, world: World) -> None:
        viewer = await world.make.user(Role.viewer)
        assert await follow(world, viewer, 987654) == 404
        assert await remind(world, viewer, 987654) == 404

    async def test_anonymous_is_401(self, world: World) -> None:
        assert (await world.client.post(f"/api/anchors/{world.a.id}/follow")).status_code == 401
        assert (await world.client.get("/api/me/notifications")).status_code == 401

    async def test_unfollowed_anchor_tells_nobody(self, world: World, ctx: JobContext, clock: FrozenClock, db: Database) -> None:
        viewer = await world.make.user(Role.viewer)
        await follow(world, viewer, world.a.id)
        await world.client.delete(f"/api/anchors/{world.a.id}/follow", headers=viewer.headers)
        booking = await world.booked(at(2))
        await run_due(ctx, at(2) - timedelta(minutes=ctx.settings.reminder_minutes))
        assert await rows(db, booking["stream_id"]) == []


class TestNotifications:
    async def test_followers_and_reminded_viewers_hear_before_and_at_go_live(
        self, world: World, ctx: JobContext, clock: FrozenClock, db: Database
    ) -> None:
        fan, curious, both = [await world.make.user(Role.viewer) for _ in range(3)]
        booking = await world.booked(at(2))
        await follow(world, fan, world.a.id)
        await remind(world, curious, booking["stream_id"])
        await follow(world, both, world.a.id)
        await remind(world, both, booking["stream_id"])
        early = at(2) - timedelta(minutes=ctx.settings.reminder_minutes + 1)
        await run_due(ctx, early)
        assert await notifications(world, fan) == []
        before = at(2) - timedelta(minutes=ctx.settings.reminder_minutes)
        await run_due(ctx, before)
        [item] = await notifications(world, curious)
        assert (item["kind"], item["stream_id"]) == ("stream.reminder", booking["stream_id"])
        assert datetime.fromisoformat(item["at"]) == before
        await run_due(ctx, at(2))
        for user in (fan, curious, both):
            assert [n["kind"] for n in await notifications(world, user)] == ["stream.reminder", "stream.live"]

    async def test_each_is_sent_once_however_often_the_sweep_runs(self, world: World, ctx: JobContext, db: Database) -> None:
        fan = await world.make.user(Role.viewer)
        await follow(world, fan, world.a.id)
        booking = await world.booked(at(2))
        for minute in range(-10, 5):
            await run_due(ctx, at(2) + timedelta(minutes=minute))
        assert await rows(db, booking["stream_id"]) == [(fan.id, "stream.live"), (fan.id, "stream.reminder")]

    async def test_a_worker_killed_mid_send_leaves_nothing_and_the_next_sends_each_once(
        self, world: World, ctx: JobContext, db: Database, settings: Settings, clock: Clock
    ) -> None:
        fans = [await world.make.user(Role.viewer) for _ in range(4)]
        for fan in fans:
            await follow(world, fan, world.a.id)
        booking = await world.booked(at(2))
        due = at(2) - timedelta(minutes=settings.reminder_minutes)
        dying = JobContext(db=db, settings=settings, clock=clock, notifier=LogNotifier(), viewer_notifier=DiesHalfWay())
        report = await run_due(dying, due)
        assert report.failures == 1
        assert await rows(db, booking["stream_id"]) == []
        await run_due(ctx, due)
        await run_due(ctx, due + timedelta(minutes=1))
        assert await rows(db, booking["stream_id"]) == sorted((f.id, "stream.reminder") for f in fans)

    async def test_two_schedulers_at_once_send_each_once(
        self, world: World, ctx: JobContext, db: Database, settings: Settings, clock: Clock
    ) -> None:
        fans = [await world.make.user(Role.viewer) for _ in range(3)]
        for fan in fans:
            await follow(world, fan, world.a.id)
        booking = await world.booked(at(2))
        other = JobContext(db=db, settings=settings, clock=clock, notifier=LogNotifier())
        due = at(2) - timedelta(minutes=settings.reminder_minutes)
        await asyncio.gather(run_due(ctx, due), run_due(other, due))
        assert await rows(db, booking["stream_id"]) == sorted((f.id, "stream.reminder") for f in fans)

    async def test_notifications_are_the_callers_own(self, world: World, ctx: JobContext) -> None:
        fan, stranger = await world.make.user(Role.viewer), await world.make.user(Role.viewer)
        await follow(world, fan, world.a.id)
        await world.booked(at(2))
        await run_due(ctx, at(2) - timedelta(minutes=ctx.settings.reminder_minutes))
        assert len(await notifications(world, fan)) == 1
        assert await notifications(world, stranger) == []


class TestRemindersFeed:
    async def test_the_feed_link_serves_the_reminded_broadcasts_without_signing_in(self, world: World) -> None:
        viewer = await world.make.user(Role.viewer)
        booking = await world.booked(at(2))
        await remind(world, viewer, booking["stream_id"])
        link = (await world.client.get("/api/me/reminders-feed", headers=viewer.headers)).json()
        r = await world.client.get(link["url"].removeprefix("http://testserver"))
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/calendar")
        assert f"UID:stream-{booking['stream_id']}@livecommerce" in r.text
        assert "BEGIN:VALARM" in r.text

    async def test_someone_elses_feed_is_403_and_a_bad_token_401(self, world: World) -> None:
        viewer, other = await world.make.user(Role.viewer), await world.make.user(Role.viewer)
        assert (await world.client.get(f"/api/users/{viewer.id}/reminders.ics", headers=other.headers)).status_code == 403
        assert (await world.client.get(f"/api/users/{viewer.id}/reminders.ics?token=nope")).status_code == 401
        assert (await world.client.get(f"/api/users/{viewer.id}/reminders.ics", headers=viewer.headers)).status_code == 200
