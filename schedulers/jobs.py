"""The jobs that run the day: reminders, go-live, close, no-shows, order expiry, the daily digest.

Each job is a plain async function of `(ctx, now)` that works from the database, so a test can
call `run_due(ctx, now)` with any `now` instead of sleeping, and APScheduler only decides *when*
to call them. Every state change is compare-and-set and every notification has a unique key, so
a job that fires twice, late, or alongside the sweeper changes nothing twice. Each booking, order
batch and county is handled in its own transaction: one failure never stops the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.accounts import service as accounts
from livecommerce.accounts.models import User
from livecommerce.broadcasts import scheduled as broadcasts
from livecommerce.broadcasts import service as streams
from livecommerce.broadcasts.models import StreamStatus
from livecommerce.catalog import service as catalog
from livecommerce.kit.clock import Clock
from livecommerce.kit.db import Database
from livecommerce.kit.settings import Settings
from livecommerce.orders import scheduled as orders
from livecommerce.orders.reconciliation import reconcile_previous_day
from livecommerce.payments.registry import providers_from
from schedulers import bookings, followers
from schedulers.followers import InAppNotifier, ViewerNotifier
from schedulers.models import ACTIVE_BOOKING_STATUSES, Booking, BookingStatus, SentNotification
from schedulers.notify import Notification, Notifier, Recipient

log = structlog.get_logger(__name__)


@dataclass
class JobContext:
    """What every job needs: the database, settings, the clock, and how to tell people."""

    db: Database
    settings: Settings
    clock: Clock
    notifier: Notifier
    viewer_notifier: ViewerNotifier = field(default_factory=InAppNotifier)
    loop: asyncio.AbstractEventLoop | None = None
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    # Set by the scheduler component: brings the job store in line with new or changed bookings.
    sync_jobs: Callable[[], Awaitable[Any]] | None = None


@dataclass
class DueReport:
    """What one `run_due` pass did (for logs and tests)."""

    actions: list[str] = field(default_factory=list)
    failures: int = 0
    orders_expired: int = 0


# --- per booking -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Snapshot:
    id: int
    status: str
    auto_start: bool
    starts_at: datetime
    ends_at: datetime
    stream_id: int | None
    stream_status: str | None


async def _snapshot(ctx: JobContext, booking_id: int) -> _Snapshot | None:
    async with ctx.db.transaction() as session:
        booking = await session.get(Booking, booking_id)
        if booking is None:
            return None
        statuses = await streams.stream_statuses(session, [booking.stream_id]) if booking.stream_id is not None else {}
        return _Snapshot(
            id=booking_id,
            status=booking.status,
            auto_start=booking.auto_start,
            starts_at=booking.starts_at,
            ends_at=booking.ends_at,
            stream_id=booking.stream_id,
            stream_status=statuses.get(booking.stream_id) if booking.stream_id is not None else None,
        )


def due_reminder(settings: Settings, starts_at: datetime, now: datetime) -> int | None:
    """The reminder offset (minutes) due at `now`: the latest one passed, and only before the start."""
    if now >= starts_at:
        return None
    passed = [m for m in settings.reminder_offsets_minutes if starts_at - timedelta(minutes=m) <= now]
    return min(passed) if passed else None


def _next_action(ctx: JobContext, s: _Snapshot, now: datetime) -> str | None:
    cfg = ctx.settings
    if s.status == BookingStatus.confirmed and s.stream_status == StreamStatus.live:
        return "follow_live"  # the cadre went live by hand (a warm-up)
    if s.status == BookingStatus.live and s.stream_status == StreamStatus.ended:
        return "follow_ended"  # ended by hand
    if s.status == BookingStatus.confirmed and s.stream_status == StreamStatus.scheduled:
        if s.auto_start and s.starts_at <= now < s.ends_at:
            return "go_live"
        if now >= s.starts_at + timedelta(minutes=cfg.no_show_after_minutes):
            return "no_show"
    if s.status == BookingStatus.live and now >= s.ends_at + timedelta(minutes=cfg.close_grace_minutes):
        return "close"
    if s.status == BookingStatus.requested and now >= s.ends_at:
        return "lapse"  # never confirmed; free its stream
    return None


async def run_booking_due(ctx: JobContext, booking_id: int, now: datetime) -> list[str]:
    """Do everything due for one booking at `now`; the actions taken, in order."""
    done: list[str] = []
    for _ in range(4):  # each step moves the state forward, so a few suffice
        snap = await _snapshot(ctx, booking_id)
        if snap is None:
            return done
        if snap.status == BookingStatus.confirmed:
            offset = due_reminder(ctx.settings, snap.starts_at, now)
            if offset is not None and await send_reminder(ctx, snap, offset, now):
                done.append(f"reminder-{offset}")
            if viewer_reminder_due(ctx.settings, snap.starts_at, now) and await send_viewer_notice(ctx, snap, followers.REMINDER, now):
                done.append("viewers-reminded")
        if snap.status == BookingStatus.live and await send_viewer_notice(ctx, snap, followers.LIVE, now):
            done.append("viewers-told-live")
        action = _next_action(ctx, snap, now)
        if action is None:
            return done
        if await _apply(ctx, action, snap, now):
            done.append(action)
            log.info("booking_job", booking_id=booking_id, action=action)
        else:
            return done
    return done


async def _apply(ctx: JobContext, action: str, s: _Snapshot, now: datetime) -> bool:
    async with ctx.db.transaction() as session:
        if action in ("follow_live", "go_live"):
            # Booking first: its row lock orders us against a concurrent cancel.
            if not await bookings.transition(session, s.id, BookingStatus.live, now=now):
                return False
            if action == "go_live" and s.stream_id is not None:
                await broadcasts.go_live(session, s.stream_id, now=now)
            return True
        if action in ("follow_ended", "close"):
            if not await bookings.transition(session, s.id, BookingStatus.ended, now=now):
                return False
            if action == "close" and s.stream_id is not None:
                await broadcasts.close(session, s.stream_id, now=now)
            return True
        if action == "no_show":
            if not await bookings.transition(session, s.id, BookingStatus.no_show, now=now):
                return False
            if s.stream_id is not None:
                await broadcasts.release(session, s.stream_id)
        elif action == "lapse":
            if not await bookings.transition(session, s.id, BookingStatus.cancelled, now=now):
                return False
            if s.stream_id is not None:
                await broadcasts.release(session, s.stream_id)
            return True
    if action == "no_show":
        await send_no_show(ctx, s, now)
    return True


# --- notifications ---------------------------------------------------------------------------


async def anchor_recipients(session: AsyncSession, booking_id: int) -> list[Recipient]:
    """The cadre users who host as the booking's anchors."""
    return [_recipient(u) for u in await accounts.active_cadres_of_anchors(session, await bookings.booking_anchor_ids(session, booking_id))]


async def organizer_recipients(session: AsyncSession, county_ids: set[int]) -> list[Recipient]:
    """The active organizers of any of the counties."""
    return [_recipient(u) for u in await accounts.active_organizers_of(session, county_ids)]


def _recipient(user: User) -> Recipient:
    assert user.id is not None
    return Recipient(user_id=user.id, username=user.username, display_name=user.display_name, phone=user.phone)


async def deliver_once(ctx: JobContext, notification: Notification, *, booking_id: int | None = None, county_id: int | None = None) -> bool:
    """Send a notification unless its key was sent before; True if this call sent it.

    The key is inserted and the message sent in one transaction: a concurrent sender blocks on
    the unique key and then finds it taken, and a failed send rolls back so a later pass retries.
    """
    try:
        async with ctx.db.transaction() as session:
            taken = await session.scalar(select(col(SentNotification.id)).where(col(SentNotification.key) == notification.key))
            if taken is not None:
                return False
            session.add(
                SentNotification(
                    key=notification.key,
                    kind=notification.kind,
                    booking_id=booking_id,
                    county_id=county_id,
                    recipients=",".join(r.username for r in notification.recipients)[:2000],
                    content=notification.text[:4000],
                    sent_at=ctx.clock.now(),
                )
            )
            await session.flush()
            await ctx.notifier.send(notification)
    except IntegrityError:
        return False
    return True


def _local(ctx: JobContext, when: datetime) -> str:
    return when.astimezone(ctx.settings.tz).strftime("%m-%d %H:%M")


async def _booking_people(ctx: JobContext, booking_id: int) -> tuple[list[Recipient], list[Recipient], str]:
    async with ctx.db.transaction() as session:
        anchors = await anchor_recipients(session, booking_id)
        organizers = await organizer_recipients(session, await bookings.booking_county_ids(session, booking_id))
        booking = await session.get(Booking, booking_id)
        titles = await streams.stream_titles(session, [booking.stream_id]) if booking and booking.stream_id else {}
    return anchors, organizers, next(iter(titles.values()), f"Booking {booking_id}")


async def send_reminder(ctx: JobContext, s: _Snapshot, offset: int, now: datetime) -> bool:
    """Remind the anchors and organizers of a confirmed booking, once per offset."""
    anchors, organizers, title = await _booking_people(ctx, s.id)
    minutes = max(1, int((s.starts_at - now).total_seconds() // 60))
    text = f"Reminder: 「{title}」 goes live at {_local(ctx, s.starts_at)} ({ctx.settings.timezone}), in {minutes} minutes."
    people = tuple({r.user_id: r for r in [*anchors, *organizers]}.values())
    return await deliver_once(
        ctx, Notification(key=f"reminder:booking-{s.id}:{offset}", kind="reminder", text=text, recipients=people), booking_id=s.id
    )


async def send_no_show(ctx: JobContext, s: _Snapshot, now: datetime) -> bool:
    """Tell the organizers that a confirmed broadcast did not start."""
    _anchors, organizers, title = await _booking_people(ctx, s.id)
    text = f"No-show: 「{title}」 was due live at {_local(ctx, s.starts_at)} and has not started; its slot is released."
    return await deliver_once(
        ctx, Notification(key=f"no_show:booking-{s.id}", kind="no_show", text=text, recipients=tuple(organizers)), booking_id=s.id
    )


# --- followers and viewers who asked to be reminded ---------------------------------------

VIEWER_KINDS = ("viewers." + followers.REMINDER, "viewers." + followers.LIVE)


def viewer_reminder_due(settings: Settings, starts_at: datetime, now: datetime) -> bool:
    """True from `reminder_minutes` before a broadcast until it starts."""
    return starts_at - timedelta(minutes=settings.reminder_minutes) <= now < starts_at


def viewer_key(kind: str, booking_id: int) -> str:
    """The once-only key of telling a booking's audience of `kind`."""
    return f"viewers:{kind}:booking-{booking_id}"


async def send_viewer_notice(ctx: JobContext, s: _Snapshot, kind: str, now: datetime) -> bool:
    """Tell the stream's followers and reminded viewers once; True if this call told them.

    The key and every viewer's row commit together: a pass killed half-way leaves nothing behind,
    and of two passes at once the second waits on the key, finds it taken, and tells nobody.
    """
    if s.stream_id is None:
        return False
    try:
        async with ctx.db.transaction() as session:
            key = viewer_key(kind, s.id)
            if await session.scalar(select(col(SentNotification.id)).where(col(SentNotification.key) == key)) is not None:
                return False
            session.add(SentNotification(key=key, kind="viewers." + kind, booking_id=s.id, sent_at=ctx.clock.now()))
            await session.flush()
            told = await followers.notify_audience(session, ctx.viewer_notifier, s.stream_id, kind=kind, at=now)
            log.info("viewers_notified", booking_id=s.id, stream_id=s.stream_id, kind=kind, told=told)
    except IntegrityError:
        return False
    return True


# --- orders ----------------------------------------------------------------------------------


async def expire_orders(ctx: JobContext, now: datetime) -> int:
    """Cancel unpaid orders whose reservation ran out and return their stock (the orders' own job)."""
    return await orders.expire_reservations(ctx.db, now=now)


async def auto_receive_orders(ctx: JobContext, now: datetime) -> int:
    """Mark delivered the shipped orders their buyers never confirmed within the auto-receive days."""
    from livecommerce.orders.fulfillment import auto_receive_due

    async with ctx.db.transaction() as session:
        return await auto_receive_due(session, now=now, days=ctx.settings.auto_receive_days)


async def settle_orders(ctx: JobContext, now: datetime) -> int:
    """Move the credits of orders delivered more than the settlement days ago from pending to settled (the ledger's job)."""
    from livecommerce.ledger.scheduled import settle_due_orders

    return await settle_due_orders(ctx.db, now=now, days=ctx.settings.settlement_days)


async def advance_flash_deals(ctx: JobContext, now: datetime) -> int:
    """Announce flash deals whose window opened and close those past their end (returning unsold units)."""
    from livecommerce.orders.deals import advance_deals

    async with ctx.db.transaction() as session:
        return await advance_deals(session, now=now)


# --- the daily digest ------------------------------------------------------------------------


@dataclass(frozen=True)
class CountySales:
    """One county's sales on one day, as the ledger counts them (paid on the day paid, refunds on the day refunded)."""

    county_id: int
    county_name: str
    gross_fen: int
    net_fen: int
    household_fen: int
    paid_orders: int
    units: int


async def county_sales_of_day(session: AsyncSession, day: date) -> dict[int, CountySales]:
    """Each county's sales on a local day, from the ledger's daily aggregates."""
    from livecommerce.ledger.reports import consumption_stats

    stats = await consumption_stats(session, day, day, "county")
    return {
        g.county_id: CountySales(g.county_id, g.name or str(g.county_id), g.gross_fen, g.net_fen, g.net_household_fen, g.orders, g.units)
        for g in stats.items
        if g.county_id is not None
    }


def _fen(fen: int) -> str:
    return f"¥{fen // 100:,}.{fen % 100:02d}"


async def send_daily_digests(ctx: JobContext, now: datetime) -> int:
    """After the digest hour, send each county's organizers that day's figures, once per county and day."""
    local = now.astimezone(ctx.settings.tz)
    if local.hour < ctx.settings.digest_hour:
        return 0
    day = local.date()
    async with ctx.db.transaction() as session:
        counties = await accounts.counties_with_organizers(session)
        prefix = f"digest:{day.isoformat()}:"
        sent = set((await session.scalars(select(col(SentNotification.key)).where(col(SentNotification.key).startswith(prefix)))).all())
        pending = [c for c in sorted(counties) if f"{prefix}county-{c}" not in sent]
        if not pending:
            return 0
        figures = await county_sales_of_day(session, day)
        names = await catalog.county_names(session, pending)
    count = 0
    for county_id in pending:
        try:
            async with ctx.db.transaction() as session:
                organizers = await organizer_recipients(session, {county_id})
            f = figures.get(county_id) or CountySales(county_id, names.get(county_id, str(county_id)), 0, 0, 0, 0, 0)
            text = (
                f"Daily sales {day.isoformat()} — {names.get(county_id, f.county_name)}: "
                f"{_fen(f.gross_fen)} from {f.paid_orders} paid orders, {f.units} units; "
                f"net {_fen(f.net_fen)}, of which {_fen(f.household_fen)} to households."
            )
            note = Notification(key=f"{prefix}county-{county_id}", kind="digest", text=text, recipients=tuple(organizers))
            count += await deliver_once(ctx, note, county_id=county_id)
        except Exception:
            log.exception("digest_failed", county_id=county_id)
    return count


async def reconcile_payments(ctx: JobContext, now: datetime) -> int:
    """Compare yesterday's bill of each real payment provider with the payments here; how many differences (logged, in /metrics)."""
    results = await reconcile_previous_day(ctx.db, providers_from(ctx.settings), ctx.settings, now)
    return sum(len(r.differences) for r in results)


# --- the sweep -------------------------------------------------------------------------------


async def bookings_needing_attention(ctx: JobContext, now: datetime) -> list[int]:
    """Active bookings with something due at `now` (a state change, or a reminder not yet sent).

    One read for all of them, so a sweep with nothing to do costs two queries however many
    bookings lie ahead.
    """
    horizon = now + timedelta(minutes=max([*ctx.settings.reminder_offsets_minutes, ctx.settings.reminder_minutes]))
    async with ctx.db.transaction() as session:
        stmt = (
            select(Booking)
            .where(col(Booking.status).in_(ACTIVE_BOOKING_STATUSES), col(Booking.starts_at) <= horizon)
            .order_by(col(Booking.starts_at), col(Booking.id))
        )
        rows = list((await session.scalars(stmt)).all())
        ids = [b.id for b in rows]
        statuses = await streams.stream_statuses(session, [b.stream_id for b in rows if b.stream_id is not None])
        sent = (
            set(
                (
                    await session.scalars(
                        select(col(SentNotification.key)).where(
                            col(SentNotification.booking_id).in_(ids), col(SentNotification.kind).in_(["reminder", *VIEWER_KINDS])
                        )
                    )
                ).all()
            )
            if ids
            else set()
        )
    due: list[int] = []
    for b in rows:
        assert b.id is not None
        snap = _Snapshot(b.id, b.status, b.auto_start, b.starts_at, b.ends_at, b.stream_id, statuses.get(b.stream_id or 0))
        offset = due_reminder(ctx.settings, b.starts_at, now) if b.status == BookingStatus.confirmed else None
        viewers = (
            followers.REMINDER
            if b.status == BookingStatus.confirmed and viewer_reminder_due(ctx.settings, b.starts_at, now)
            else followers.LIVE
            if b.status == BookingStatus.live
            else None
        )
        if (
            _next_action(ctx, snap, now) is not None
            or (offset is not None and f"reminder:booking-{b.id}:{offset}" not in sent)
            or (viewers is not None and viewer_key(viewers, b.id) not in sent)
        ):
            due.append(b.id)
    return due


async def run_due(ctx: JobContext, now: datetime) -> DueReport:
    """Run everything due at `now`: every booking's steps, order expiry, the digest. Safe to repeat."""
    report = DueReport()
    for booking_id in await bookings_needing_attention(ctx, now):
        try:
            report.actions += [f"booking-{booking_id}:{a}" for a in await run_booking_due(ctx, booking_id, now)]
        except Exception:
            report.failures += 1
            log.exception("booking_job_failed", booking_id=booking_id)
    for name, step in (("expire-orders", expire_orders), ("flash-deals", advance_flash_deals), ("daily-digest", send_daily_digests)):
        try:
            result = await step(ctx, now)
            if name == "expire-orders":
                report.orders_expired = result
        except Exception:
            report.failures += 1
            log.exception("job_failed", job=name)
    return report


# --- entry points APScheduler stores by reference --------------------------------------------
# APScheduler's persistent store keeps a textual reference to a module-level function, so the
# running context is looked up here. Only the leader registers one (see runtime.py).

_active: JobContext | None = None


def activate(ctx: JobContext) -> None:
    """Make `ctx` the context jobs of this process run in (called by the leader)."""
    global _active
    _active = ctx


def deactivate(ctx: JobContext) -> None:
    """Forget `ctx` if it is the active one."""
    global _active
    if _active is ctx:
        _active = None


def _bridge(make: Callable[[JobContext, datetime], Coroutine[Any, Any, Any]], name: str) -> None:
    # APScheduler runs this in its worker thread; the work runs on the app's event loop.
    ctx = _active
    if ctx is None or ctx.loop is None:
        log.warning("job_without_leader", job=name)
        return
    future = asyncio.run_coroutine_threadsafe(make(ctx, ctx.clock.now()), ctx.loop)
    with contextlib.suppress(asyncio.CancelledError):
        future.result()


def fire_booking(booking_id: int) -> None:
    """Job: do what is due for one booking."""
    _bridge(lambda ctx, now: run_booking_due(ctx, booking_id, now), f"booking-{booking_id}")


async def sweep(ctx: JobContext, now: datetime) -> DueReport:
    """Run everything due, then schedule the jobs of bookings made or changed since the last sweep."""
    report = await run_due(ctx, now)
    if ctx.sync_jobs is not None:
        await ctx.sync_jobs()
    return report


def fire_sweep() -> None:
    """Job: the sweep (catches whatever a missed job left)."""
    _bridge(sweep, "sweep")


def fire_expire_orders() -> None:
    """Job: expire unpaid orders."""
    _bridge(expire_orders, "expire-orders")


def fire_auto_receive() -> None:
    """Job: deliver shipped orders past the auto-receive days."""
    _bridge(auto_receive_orders, "auto-receive")


def fire_settlement() -> None:
    """Job: settle delivered orders past the settlement days."""
    _bridge(settle_orders, "settlement")


def fire_flash_deals() -> None:
    """Job: open and close flash deals."""
    _bridge(advance_flash_deals, "flash-deals")


def fire_digest() -> None:
    """Job: send the daily digests."""
    _bridge(send_daily_digests, "daily-digest")


def fire_reconciliation() -> None:
    """Job: reconcile yesterday's payment provider bills."""
    _bridge(reconcile_payments, "payment-reconciliation")
