"""The scheduler at work: APScheduler firing for real, catch-up after downtime, one leader among many."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlmodel import col, select

from livecommerce.broadcasts.events import OutboxEvent
from livecommerce.kit.clock import Clock, FrozenClock
from livecommerce.kit.db import Database
from livecommerce.kit.settings import Settings
from livecommerce.main.app import create_app
from schedulers.models import Booking, SentNotification
from schedulers.notify import LogNotifier, WebhookNotifier
from schedulers.runtime import SchedulerComponent, build_component
from tests.schedulers.conftest import World, at
from tests.schedulers.test_jobs import Robot

pytestmark = pytest.mark.slow


@pytest.fixture
def clock() -> Clock:
    """Real time: these tests let APScheduler fire by the wall clock."""
    return Clock()


def scheduler_settings(settings: Settings, **overrides: Any) -> Settings:
    """Settings for a running scheduler: fast leader hand-over, no sweep unless asked."""
    values: dict[str, Any] = {
        "run_scheduler": True,
        "scheduler_mode": "embedded",
        "scheduler_retry_seconds": 0.2,
        "scheduler_lease_seconds": 3,
        "sweep_interval_seconds": 3600,
        "digest_hour": 23,
        **overrides,
    }
    return settings.model_copy(update=values)


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    """Wait until `check()` holds (polling), failing after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.1)


async def status_of(db: Database, booking_id: int) -> str:
    async with db.transaction() as session:
        booking = await session.get(Booking, booking_id)
        assert booking is not None
        return booking.status


async def started_events(db: Database, stream_id: int) -> int:
    async with db.transaction() as session:
        stmt = select(col(OutboxEvent.id)).where(col(OutboxEvent.stream_id) == stream_id, col(OutboxEvent.type) == "stream.started")
        return len((await session.scalars(stmt)).all())


def stored_job_ids(sync_engine: Engine) -> list[str]:
    with sync_engine.connect() as conn:
        return sorted(r[0] for r in conn.execute(text("SELECT id FROM apscheduler_jobs")))


async def soon_booking(world: World, settings: Settings, seconds: float, minutes: int = 10, **extra: Any) -> dict[str, Any]:
    """A confirmed booking starting `seconds` from now (real time)."""
    settings.booking_min_notice_minutes = 0
    start = Clock().now() + timedelta(seconds=seconds)
    studio = await world.studio()
    return await world.booked(start, minutes, [world.a if not extra.pop("second", False) else world.b], studio_id=studio, **extra)


class TestApschedulerFiring:
    async def test_go_live_job_fires_at_slot_start(self, world: World, db: Database, settings: Settings, sync_engine: Engine) -> None:
        booking = await soon_booking(world, settings, seconds=3)
        component = build_component(db, scheduler_settings(settings), Clock(), LogNotifier())
        await component.start()
        try:
            assert await component.wait_leading(20)
            ids = stored_job_ids(sync_engine)
            assert f"booking-{booking['id']}:start" in ids
            assert f"booking-{booking['id']}:close" in ids
            assert {"sweep", "expire-orders", "daily-digest"} <= set(ids)
            assert await status_of(db, booking["id"]) == "confirmed"

            async def fired() -> bool:
                return f"booking-{booking['id']}:start" in component.executed

            await eventually(fired)
            assert await status_of(db, booking["id"]) == "live"
            assert await started_events(db, booking["stream_id"]) == 1
        finally:
            await component.stop()

    async def test_job_missed_while_the_scheduler_stalled_is_caught_up(self, world: World, db: Database, settings: Settings) -> None:
        component = build_component(db, scheduler_settings(settings, misfire_grace_seconds=1), Clock(), LogNotifier())
        await component.start()
        try:
            assert await component.wait_leading(20)
            booking = await soon_booking(world, settings, seconds=1.5)
            await component.sync_booking_jobs()
            assert component.scheduler is not None
            component.scheduler.pause()  # a stalled scheduler: the start passes unseen
            await asyncio.sleep(3.5)
            component.scheduler.resume()

            async def caught_up() -> bool:
                return f"booking-{booking['id']}:start" in component.missed and await status_of(db, booking["id"]) == "live"

            await eventually(caught_up)
            assert await started_events(db, booking["stream_id"]) == 1
        finally:
            await component.stop()


class TestRestart:
    async def test_reminder_missed_during_downtime_is_sent_once_after_restart(
        self, world: World, db: Database, settings: Settings, sync_engine: Engine
    ) -> None:
        booking = await world.booked(at(48), 60)  # T0-based times, driven by a FrozenClock below
        frozen = FrozenClock(at(0))
        robot = Robot()
        cfg = scheduler_settings(settings)

        async def run_once() -> SchedulerComponent:
            notifier = WebhookNotifier("https://oapi.dingtalk.com/robot/send?access_token=t", transport=httpx.MockTransport(robot.handle))
            component = build_component(db, cfg, frozen, notifier)
            await component.start()
            assert await component.wait_leading(20)
            await component.stop()
            return component

        await run_once()
        before = stored_job_ids(sync_engine)
        assert f"booking-{booking['id']}:reminder-30" in before
        assert robot.texts() == []

        frozen.set(at(47, 40))  # down while both reminder moments passed
        await run_once()
        assert len(robot.texts("Reminder")) == 1
        assert "in 20 minutes" in robot.texts("Reminder")[0]

        await run_once()  # another restart sends nothing again
        assert len(robot.texts("Reminder")) == 1
        async with db.transaction() as session:
            assert len((await session.scalars(select(SentNotification))).all()) == 1
        after = stored_job_ids(sync_engine)
        assert len(after) == len(set(after))
        assert f"booking-{booking['id']}:reminder-30" not in after  # past moments are not rescheduled
        assert f"booking-{booking['id']}:start" in after


class TestSingleLeader:
    async def test_two_app_instances_one_leads_each_job_fires_once_and_the_other_takes_over(
        self, world: World, db: Database, settings: Settings
    ) -> None:
        cfg = scheduler_settings(settings, sweep_interval_seconds=1)
        apps = [create_app(cfg, clock=Clock(), migrate=False) for _ in range(2)]
        stacks = [AsyncExitStack() for _ in apps]
        for app, stack in zip(apps, stacks, strict=True):
            app.state.notifier = LogNotifier()
            await stack.enter_async_context(app.router.lifespan_context(app))
        try:
            schedulers: list[SchedulerComponent] = [app.state.scheduler for app in apps]

            async def one_leads() -> bool:
                return any(s.is_leader for s in schedulers)

            await eventually(one_leads)
            await asyncio.sleep(1.5)  # the other keeps trying meanwhile
            assert sum(s.is_leader for s in schedulers) == 1
            leader = next(i for i, s in enumerate(schedulers) if s.is_leader)
            follower = 1 - leader

            first = await soon_booking(world, settings, seconds=2.5)

            async def first_fired() -> bool:
                return f"booking-{first['id']}:start" in schedulers[leader].executed

            await eventually(first_fired)
            assert await status_of(db, first["id"]) == "live"
            assert await started_events(db, first["stream_id"]) == 1
            assert schedulers[follower].executed == []

            await stacks[leader].aclose()  # the leading instance shuts down

            async def took_over() -> bool:
                return schedulers[follower].is_leader

            await eventually(took_over)
            second = await soon_booking(world, settings, seconds=2.5, second=True)

            async def second_fired() -> bool:
                return f"booking-{second['id']}:start" in schedulers[follower].executed

            await eventually(second_fired)
            assert await status_of(db, second["id"]) == "live"
            assert await started_events(db, second["stream_id"]) == 1
            assert f"booking-{second['id']}:start" not in schedulers[leader].executed
        finally:
            for stack in stacks:
                await stack.aclose()

    async def test_worker_mode_runs_no_scheduler_in_the_app(self, settings: Settings) -> None:
        app = create_app(scheduler_settings(settings, scheduler_mode="worker"), migrate=False)
        async with app.router.lifespan_context(app):
            assert not hasattr(app.state, "scheduler")
            assert all(c.name != "scheduler" for c in app.state.components)


class TestSchedulerCommand:
    async def test_two_workers_one_leads_and_the_other_takes_over(self, settings: Settings, tmp_path: Path) -> None:
        env = {
            **os.environ,
            "LIVECOMMERCE_DATABASE_URL": settings.database_url,
            "LIVECOMMERCE_SCHEDULER_MODE": "worker",
            "LIVECOMMERCE_SCHEDULER_RETRY_SECONDS": "0.3",
            "LIVECOMMERCE_LOG_JSON": "true",
        }
        exe = Path(sys.executable).parent / "livecommerce"
        workers = [
            await asyncio.create_subprocess_exec(
                str(exe), "scheduler", env=env, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL
            )
            for _ in range(2)
        ]
        logs: list[list[dict[str, Any]]] = [[], []]

        async def read(i: int) -> None:
            stream = workers[i].stderr
            assert stream is not None
            async for line in stream:
                try:
                    logs[i].append(json.loads(line))
                except ValueError:
                    continue

        readers = [asyncio.create_task(read(i)) for i in range(2)]

        def leading(i: int) -> int:
            return sum(1 for e in logs[i] if e.get("event") == "scheduler_leading")

        try:

            async def one_leads() -> bool:
                return leading(0) + leading(1) >= 1

            await eventually(one_leads, within=60)
            await asyncio.sleep(2)
            assert leading(0) + leading(1) == 1
            leader = 0 if leading(0) else 1
            workers[leader].send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(workers[leader].wait(), 30) == 0

            async def took_over() -> bool:
                return leading(1 - leader) == 1

            await eventually(took_over, within=30)
            assert any(e.get("event") == "scheduler_stepped_down" for e in logs[leader])
        finally:
            for w in workers:
                if w.returncode is None:
                    w.send_signal(signal.SIGTERM)
            for w in workers:
                await asyncio.wait_for(w.wait(), 30)
            await asyncio.gather(*readers, return_exceptions=True)
        assert all(w.returncode == 0 for w in workers)


class TestLeadershipLoss:
    async def test_leader_that_loses_its_lock_steps_down_and_contends_again(
        self, db: Database, settings: Settings, sync_engine: Engine
    ) -> None:
        component = build_component(db, scheduler_settings(settings), Clock(), LogNotifier())
        await component.start()
        try:
            assert await component.wait_leading(20)
            with sync_engine.begin() as conn:
                if db.is_sqlite:
                    # Someone else holds an unexpired lease (as after a long stall of ours).
                    conn.execute(
                        text("UPDATE scheduler_leases SET holder = 'other', expires_at = :t"),
                        {"t": (Clock().now() + timedelta(seconds=4)).replace(tzinfo=None)},
                    )
                else:
                    # The lock's connection is cut: the server drops the advisory lock with it.
                    conn.execute(
                        text("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()")
                    )

            async def stepped_down() -> bool:
                return not component.is_leader

            await eventually(stepped_down)
            assert component.scheduler is None

            async def leads_again() -> bool:
                return component.is_leader

            await eventually(leads_again)
        finally:
            await component.stop()
