"""The scheduler component: APScheduler 3 behind the leader lock, its jobs rebuilt from the bookings.

APScheduler runs in its own thread (`BackgroundScheduler`) with its persistent job store in the
project's database; each job hands its work to the app's event loop. Keeping the job store's
blocking calls off the loop matters on SQLite: a blocking write there would wait for a lock held
by a request that cannot finish while the loop is blocked.

Life of a leader: take the lock → start APScheduler paused → rebuild the per-booking jobs with
deterministic ids (`replace_existing=True`) → sweep once with `run_due(now)`, which catches up
everything missed while no one was leading → resume. A sweep job then repeats that pass every
`sweep_interval_seconds`, adding the jobs of new bookings as it goes.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from fastapi import FastAPI
from sqlalchemy import Engine, event
from sqlalchemy import create_engine as sa_create_engine
from sqlmodel import col, select

from livecommerce.kit.clock import Clock
from livecommerce.kit.components import Component
from livecommerce.kit.db import Database, sync_url
from livecommerce.kit.metrics import JOB_RUNS
from livecommerce.kit.settings import Settings
from schedulers import jobs
from schedulers.jobs import JobContext
from schedulers.leader import LeaderLock, leader_lock
from schedulers.models import ACTIVE_BOOKING_STATUSES, Booking, BookingStatus
from schedulers.notify import Notifier, notifier_from_settings

log = structlog.get_logger(__name__)

JOB_HORIZON = timedelta(days=7)  # per-booking jobs exist for this far ahead; the sweep adds the rest in time
JOB_TABLE = "apscheduler_jobs"


@dataclass(frozen=True)
class JobSpec:
    """A per-booking job: its deterministic id and when it fires."""

    id: str
    booking_id: int
    run_at: datetime


def booking_job_specs(settings: Settings, booking: Booking, now: datetime) -> list[JobSpec]:
    """The future moments a booking needs attention: reminders, start, no-show check, close."""
    assert booking.id is not None
    points: list[tuple[str, datetime]] = []
    if booking.status in (BookingStatus.requested, BookingStatus.confirmed):
        points += [(f"reminder-{m}", booking.starts_at - timedelta(minutes=m)) for m in settings.reminder_offsets_minutes]
        points.append(("viewer-reminder", booking.starts_at - timedelta(minutes=settings.reminder_minutes)))
        points += [("start", booking.starts_at), ("no-show", booking.starts_at + timedelta(minutes=settings.no_show_after_minutes))]
    points.append(("close", booking.ends_at + timedelta(minutes=settings.close_grace_minutes)))
    return [JobSpec(f"booking-{booking.id}:{name}", booking.id, at) for name, at in points if at > now]


def _jobstore_engine(settings: Settings) -> Engine:
    engine = sa_create_engine(sync_url(settings.database_url), pool_pre_ping=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

    return engine


class SchedulerComponent:
    """Runs the jobs while this process holds the leader lock; waits for it otherwise."""

    name = "scheduler"

    def __init__(self, ctx: JobContext, *, lock: LeaderLock | None = None, owns_notifier: bool = True) -> None:
        self.ctx = ctx
        self.lock = lock or leader_lock(ctx.db, ctx.settings)
        self.is_leader = False
        self.executed: list[str] = []  # ids of the jobs APScheduler ran here (for logs and tests)
        self.missed: list[str] = []
        self.scheduler: BackgroundScheduler | None = None
        self._owns_notifier = owns_notifier
        self._stopping = asyncio.Event()
        self._leading = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._scheduled: dict[str, datetime] = {}
        self._engine: Engine | None = None
        ctx.sync_jobs = self.sync_booking_jobs

    async def start(self) -> None:
        """Start contending for leadership in the background."""
        self.ctx.loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="scheduler-leader")

    async def stop(self) -> None:
        """Stop leading (if we do), stop contending, and release everything."""
        self._stopping.set()
        if self._task is not None:
            await self._task
        for task in list(self.ctx.tasks):
            task.cancel()
        await asyncio.gather(*self.ctx.tasks, return_exceptions=True)
        if self._owns_notifier:
            await self.ctx.notifier.aclose()

    async def wait_leading(self, within: float) -> bool:
        """Wait until this instance leads (for tests and the worker's logs)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._leading.wait(), within)
        return self.is_leader

    async def readiness(self) -> str:
        """Readiness check: always ok (a follower waiting is a healthy state)."""
        return "ok"

    async def _run(self) -> None:
        retry = self.ctx.settings.scheduler_retry_seconds
        while not self._stopping.is_set():
            try:
                acquired = await self.lock.try_acquire()
            except Exception:
                log.warning("leader_acquire_failed", exc_info=True)
                acquired = False
            if acquired:
                try:
                    await self._lead()
                except Exception:
                    log.exception("scheduler_failed")
                finally:
                    await self._step_down()
            if not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), retry)

    async def _lead(self) -> None:
        log.info("scheduler_leading", holder=self.lock.holder)
        self.is_leader = True
        jobs.activate(self.ctx)
        self._engine = _jobstore_engine(self.ctx.settings)
        self.scheduler = self._build(self._engine)
        self.scheduler.start(paused=True)
        await self.rebuild()
        report = await jobs.run_due(self.ctx, self.ctx.clock.now())
        if report.actions:
            log.info("scheduler_caught_up", actions=report.actions)
        self.scheduler.resume()
        self._leading.set()
        renew = max(1.0, self.ctx.settings.scheduler_lease_seconds / 3)
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), renew)
            if not self._stopping.is_set() and not await self.lock.still_held():
                log.warning("scheduler_lost_leadership", holder=self.lock.holder)
                return

    async def _step_down(self) -> None:
        jobs.deactivate(self.ctx)
        if self.scheduler is not None:
            scheduler, self.scheduler = self.scheduler, None
            # shutdown(wait=True) waits for running jobs, which need this loop: never block it here.
            await asyncio.to_thread(scheduler.shutdown, True)
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self.is_leader:
            await self.lock.release()
            log.info("scheduler_stepped_down", holder=self.lock.holder)
        self.is_leader = False
        self._leading.clear()
        self._scheduled.clear()

    def _build(self, engine: Engine) -> BackgroundScheduler:
        settings = self.ctx.settings
        scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=JOB_TABLE)},
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"misfire_grace_time": settings.misfire_grace_seconds, "coalesce": True, "max_instances": 1},
            timezone=UTC,
        )
        scheduler.add_listener(self._on_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        return scheduler

    def _on_event(self, ev: JobExecutionEvent) -> None:
        # Called in APScheduler's thread.
        outcome = {EVENT_JOB_MISSED: "missed", EVENT_JOB_ERROR: "failed"}.get(ev.code, "ok")
        JOB_RUNS.labels(_job_kind(ev.job_id), outcome).inc()
        if ev.code == EVENT_JOB_MISSED:
            self.missed.append(ev.job_id)
            log.warning("job_missed", job_id=ev.job_id, scheduled=str(ev.scheduled_run_time))
            if self.ctx.loop is not None:
                self.ctx.loop.call_soon_threadsafe(self._catch_up, ev.job_id)
            return
        self.executed.append(ev.job_id)
        if ev.code == EVENT_JOB_ERROR:
            log.error("job_error", job_id=ev.job_id, error=repr(ev.exception))

    def _catch_up(self, job_id: str) -> None:
        booking_id = _booking_of(job_id)
        coro = (
            jobs.run_booking_due(self.ctx, booking_id, self.ctx.clock.now()) if booking_id else jobs.run_due(self.ctx, self.ctx.clock.now())
        )
        task = asyncio.get_running_loop().create_task(coro, name=f"catch-up {job_id}")
        self.ctx.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.ctx.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("catch_up_failed", task=task.get_name(), error=repr(task.exception()))

    async def rebuild(self) -> None:
        """Make the job store match the bookings: every future moment of every active booking, and the recurring jobs."""
        assert self.scheduler is not None
        scheduler, settings = self.scheduler, self.ctx.settings
        recurring = [
            ("sweep", jobs.fire_sweep, IntervalTrigger(seconds=settings.sweep_interval_seconds)),
            ("expire-orders", jobs.fire_expire_orders, IntervalTrigger(seconds=settings.order_expiry_interval_seconds)),
            ("flash-deals", jobs.fire_flash_deals, IntervalTrigger(seconds=settings.flash_deal_interval_seconds)),
            ("auto-receive", jobs.fire_auto_receive, IntervalTrigger(seconds=settings.auto_receive_interval_seconds)),
            ("settlement", jobs.fire_settlement, IntervalTrigger(seconds=settings.settlement_interval_seconds)),
            ("daily-digest", jobs.fire_digest, CronTrigger(hour=settings.digest_hour, minute=0, timezone=settings.tz)),
            (
                "payment-reconciliation",
                jobs.fire_reconciliation,
                CronTrigger(hour=settings.payment_reconciliation_hour, minute=30, timezone=settings.tz),
            ),
        ]

        def _add_recurring() -> None:
            for job_id, func, trigger in recurring:
                scheduler.add_job(func, trigger, id=job_id, replace_existing=True)

        await asyncio.to_thread(_add_recurring)
        self._scheduled = {j.id: j.next_run_time for j in await asyncio.to_thread(scheduler.get_jobs) if j.id.startswith("booking-")}
        await self.sync_booking_jobs(force=True)

    async def sync_booking_jobs(self, *, force: bool = False) -> int:
        """Add or move the jobs of bookings in the horizon, drop those no longer wanted; how many changed."""
        if self.scheduler is None:
            return 0
        scheduler, now = self.scheduler, self.ctx.clock.now()
        async with self.ctx.db.transaction() as session:
            stmt = select(Booking).where(col(Booking.status).in_(ACTIVE_BOOKING_STATUSES), col(Booking.starts_at) < now + JOB_HORIZON)
            wanted = {s.id: s for b in (await session.scalars(stmt)).all() for s in booking_job_specs(self.ctx.settings, b, now)}
        stale = [job_id for job_id in self._scheduled if job_id not in wanted]
        changed = [s for s in wanted.values() if force or self._scheduled.get(s.id) != s.run_at]

        def _apply() -> None:
            for job_id in stale:
                with contextlib.suppress(Exception):
                    scheduler.remove_job(job_id)
            for spec in changed:
                scheduler.add_job(
                    jobs.fire_booking, DateTrigger(run_date=spec.run_at), args=[spec.booking_id], id=spec.id, replace_existing=True
                )

        if stale or changed:
            await asyncio.to_thread(_apply)
        for job_id in stale:
            self._scheduled.pop(job_id, None)
        self._scheduled.update({s.id: s.run_at for s in changed})
        return len(stale) + len(changed)


def _job_kind(job_id: str) -> str:
    """The job's kind without the booking id ("booking-12:start" -> "booking:start"), to keep metric labels few."""
    return f"booking:{job_id.split(':', 1)[1]}" if job_id.startswith("booking-") and ":" in job_id else job_id


def _booking_of(job_id: str) -> int | None:
    if not job_id.startswith("booking-"):
        return None
    return int(job_id.split(":")[0].removeprefix("booking-"))


def build_component(db: Database, settings: Settings, clock: Clock, notifier: Notifier | None = None) -> SchedulerComponent:
    """A scheduler component over `db` (used by the embedded mode and the worker)."""
    ctx = JobContext(db=db, settings=settings, clock=clock, notifier=notifier or notifier_from_settings(settings))
    return SchedulerComponent(ctx, owns_notifier=notifier is None)


def build_scheduler(app: FastAPI) -> Component | None:
    """The in-process scheduler (embedded mode), or None when a worker runs the jobs."""
    settings: Settings = app.state.settings
    if not settings.run_scheduler or settings.scheduler_mode != "embedded":
        return None
    component = build_component(app.state.db, settings, app.state.clock, getattr(app.state, "notifier", None))
    app.state.scheduler = component
    return component
