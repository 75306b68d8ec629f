"""The jobs that run the day, driven by a FrozenClock through `run_due(ctx, now)`: no sleeping."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from livecommerce.accounts.principals import load_principal
from livecommerce.broadcasts import service as streams
from livecommerce.broadcasts.events import OutboxEvent
from livecommerce.broadcasts.models import Stream
from livecommerce.catalog.models import Product
from livecommerce.kit.clock import Clock
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from livecommerce.kit.settings import Settings
from livecommerce.orders import service as orders
from livecommerce.orders.models import Channel, Order
from livecommerce.orders.placement import Ask, Item, Placer, Scope
from livecommerce.payments.sandbox import SandboxProvider
from schedulers.jobs import JobContext, run_booking_due, run_due
from schedulers.models import Booking, SentNotification
from schedulers.notify import WebhookNotifier
from tests.schedulers.conftest import World, at


class Robot:
    """A WeCom group robot at the edge of the world: records what it is sent, or refuses."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.refuse = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.refuse:
            return httpx.Response(200, json={"errcode": 93000, "errmsg": "invalid webhook url"})
        self.messages.append(json.loads(request.content))
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})

    def texts(self, prefix: str = "") -> list[str]:
        return [m["text"]["content"] for m in self.messages if m["text"]["content"].startswith(prefix)]


@pytest.fixture
def robot() -> Robot:
    return Robot()


@pytest.fixture
def ctx(db: Database, settings: Settings, clock: Clock, robot: Robot) -> JobContext:
    settings.digest_hour = 23  # keep digests out of the tests that are not about them
    notifier = WebhookNotifier("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=test", transport=httpx.MockTransport(robot.handle))
    return JobContext(db=db, settings=settings, clock=clock, notifier=notifier)


async def _booking(db: Database, booking_id: int) -> Booking:
    async with db.transaction() as session:
        booking = await session.get(Booking, booking_id)
        assert booking is not None
        return booking


async def _stream(db: Database, stream_id: int) -> Stream:
    async with db.transaction() as session:
        stream = await session.get(Stream, stream_id)
        assert stream is not None
        return stream


async def _events(db: Database, stream_id: int, type_: str) -> int:
    async with db.transaction() as session:
        rows = await session.scalars(
            select(col(OutboxEvent.id)).where(col(OutboxEvent.stream_id) == stream_id, col(OutboxEvent.type) == type_)
        )
        return len(rows.all())


class TestReminders:
    async def test_24h_and_30min_reminders_go_out_once_each(self, world: World, ctx: JobContext, robot: Robot, db: Database) -> None:
        b = await world.booked(at(48), 60, [world.a, world.b])
        await run_due(ctx, at(23))
        assert robot.texts() == []
        await run_due(ctx, at(24))
        await run_due(ctx, at(24, 5))
        await run_due(ctx, at(30))
        assert len(robot.texts("Reminder")) == 1
        assert "in 1440 minutes" in robot.texts("Reminder")[0]
        await run_due(ctx, at(47, 30))
        await run_due(ctx, at(47, 40))
        reminders = robot.texts("Reminder")
        assert len(reminders) == 2
        assert "in 30 minutes" in reminders[1]
        async with db.transaction() as session:
            sent = (await session.scalars(select(SentNotification).where(col(SentNotification.booking_id) == b["id"]))).all()
        assert sorted(s.key for s in sent) == [f"reminder:booking-{b['id']}:1440", f"reminder:booking-{b['id']}:30"]
        # Both cadres and the county's organizer are addressed.
        assert set(sent[0].recipients.split(",")) == {world.a.user.username, world.b.user.username, world.organizer.username}

    async def test_missed_reminders_catch_up_with_only_the_latest(self, world: World, ctx: JobContext, robot: Robot) -> None:
        await world.booked(at(2), 60)
        await run_due(ctx, at(1, 45))  # both the 24 h and the 30 min moments have passed unseen
        await run_due(ctx, at(1, 50))
        assert len(robot.texts("Reminder")) == 1
        assert "in 15 minutes" in robot.texts("Reminder")[0]

    async def test_each_reminder_goes_out_in_its_own_window(self, world: World, ctx: JobContext, robot: Robot) -> None:
        await world.booked(at(2), 60)  # confirmed 2 h before the start
        await run_due(ctx, at(1, 25))  # 35 minutes before: the 24 h reminder's window
        await run_due(ctx, at(1, 31))  # 29 minutes before: the 30 min reminder's window
        assert [t.rsplit(", ", 1)[1] for t in robot.texts("Reminder")] == ["in 35 minutes.", "in 29 minutes."]

    async def test_unconfirmed_booking_gets_no_reminder(self, world: World, ctx: JobContext, robot: Robot) -> None:
        await world.booked(at(2), 60, confirm=False)
        await run_due(ctx, at(1, 45))
        assert robot.texts() == []

    async def test_refused_webhook_is_retried_and_then_sent_once(self, world: World, ctx: JobContext, robot: Robot, db: Database) -> None:
        await world.booked(at(2), 60)
        robot.refuse = True
        report = await run_due(ctx, at(1, 40))
        assert report.failures == 1
        async with db.transaction() as session:
            assert (await session.scalars(select(SentNotification))).all() == []
        robot.refuse = False
        await run_due(ctx, at(1, 41))
        await run_due(ctx, at(1, 42))
        assert len(robot.texts("Reminder")) == 1


class TestGoLive:
    async def test_confirmed_booking_goes_live_at_slot_start_once(self, world: World, ctx: JobContext, db: Database) -> None:
        b = await world.booked(at(2), 60)
        await run_due(ctx, at(1, 59))
        assert (await _booking(db, b["id"])).status == "confirmed"
        report = await run_due(ctx, at(2))
        assert f"booking-{b['id']}:go_live" in report.actions
        await run_due(ctx, at(2, 1))
        assert await run_booking_due(ctx, b["id"], at(2, 2)) == []
        assert (await _booking(db, b["id"])).status == "live"
        stream = await _stream(db, b["stream_id"])
        assert stream.status == "live"
        assert stream.started_at == at(2)
        assert await _events(db, b["stream_id"], "stream.started") == 1

    async def test_requested_booking_does_not_go_live(self, world: World, ctx: JobContext, db: Database) -> None:
        b = await world.booked(at(2), 60, confirm=False)
        await run_due(ctx, at(2))
        assert (await _booking(db, b["id"])).status == "requested"
        assert (await _stream(db, b["stream_id"])).status == "scheduled"

    async def test_late_sweep_inside_the_slot_still_goes_live(self, world: World, ctx: JobContext, db: Database, robot: Robot) -> None:
        b = await world.booked(at(2), 60)
        await run_due(ctx, at(2, 40))  # everything before was missed
        assert (await _booking(db, b["id"])).status == "live"
        assert robot.texts("Reminder") == []  # reminders after the start are pointless

    async def test_hand_started_warm_up_is_followed(self, world: World, ctx: JobContext, db: Database) -> None:
        b = await world.booked(at(2), 60, auto_start=False)
        async with db.transaction() as session:
            await streams.start_stream(session, b["stream_id"], now=at(1, 50))
        await run_due(ctx, at(1, 51))
        assert (await _booking(db, b["id"])).status == "live"
        assert await _events(db, b["stream_id"], "stream.started") == 1


class TestClose:
    async def test_live_booking_closes_after_the_grace_period(
        self, world: World, ctx: JobContext, db: Database, settings: Settings
    ) -> None:
        b = await world.booked(at(2), 60)
        await run_due(ctx, at(2))
        await run_due(ctx, at(3, settings.close_grace_minutes - 1))
        assert (await _booking(db, b["id"])).status == "live"
        await run_due(ctx, at(3, settings.close_grace_minutes))
        await run_due(ctx, at(3, settings.close_grace_minutes + 1))
        assert (await _booking(db, b["id"])).status == "ended"
        stream = await _stream(db, b["stream_id"])
        assert stream.status == "ended"
        assert await _events(db, b["stream_id"], "stream.ended") == 1

    async def test_stream_ended_by_hand_ends_the_booking(self, world: World, ctx: JobContext, db: Database) -> None:
        b = await world.booked(at(2), 60)
        await run_due(ctx, at(2))
        async with db.transaction() as session:
            await streams.end_stream(session, b["stream_id"], now=at(2, 40))
        await run_due(ctx, at(2, 41))
        assert (await _booking(db, b["id"])).status == "ended"
        assert await _events(db, b["stream_id"], "stream.ended") == 1

    async def test_unconfirmed_booking_lapses_at_slot_end(self, world: World, ctx: JobContext, db: Database) -> None:
        b = await world.booked(at(2), 60, confirm=False)
        await run_due(ctx, at(3))
        assert (await _booking(db, b["id"])).status == "cancelled"
        assert (await _stream(db, b["stream_id"])).status == "cancelled"


class TestNoShow:
    async def test_broadcast_not_started_is_a_no_show_and_organizers_are_told_once(
        self, world: World, ctx: JobContext, db: Database, robot: Robot, settings: Settings
    ) -> None:
        b = await world.booked(at(2), 60, auto_start=False)
        await run_due(ctx, at(2, settings.no_show_after_minutes - 1))
        assert (await _booking(db, b["id"])).status == "confirmed"
        await run_due(ctx, at(2, settings.no_show_after_minutes))
        await run_due(ctx, at(2, settings.no_show_after_minutes + 5))
        assert (await _booking(db, b["id"])).status == "no_show"
        assert (await _stream(db, b["stream_id"])).status == "cancelled"
        assert len(robot.texts("No-show")) == 1
        async with db.transaction() as session:
            sent = await session.scalar(select(SentNotification).where(col(SentNotification.key) == f"no_show:booking-{b['id']}"))
        assert sent is not None and sent.recipients == world.organizer.username

    async def test_no_show_refuses_a_later_start(self, world: World, ctx: JobContext, db: Database) -> None:
        b = await world.booked(at(2), 60, auto_start=False)
        await run_due(ctx, at(2, 30))
        r = await world.client.post(f"/api/bookings/{b['id']}/confirm", headers=world.organizer.headers)
        assert r.status_code == 409


class TestFailuresPerItem:
    async def test_one_broken_booking_does_not_stop_the_others(self, world: World, ctx: JobContext, db: Database) -> None:
        broken = await world.booked(at(2), 60, [world.a])
        healthy = await world.booked(at(2), 60, [world.b], studio_id=world.studios[1])
        async with db.transaction() as session:  # live on paper, but its stream never started: closing it fails
            row = await session.get(Booking, broken["id"])
            assert row is not None
            row.status = "live"
            session.add(row)
        report = await run_due(ctx, at(3, 30))
        assert report.failures == 1
        assert (await _booking(db, broken["id"])).status == "live"
        assert (await _booking(db, healthy["id"])).status == "no_show"  # auto-start missed the whole slot


class TestOrderExpiry:
    async def test_unpaid_order_past_its_reservation_is_expired_by_the_sweep(
        self, world: World, ctx: JobContext, db: Database, settings: Settings
    ) -> None:
        product = await world.make.product(world.county_id, stock=10)
        b = await world.booked(at(2), 60, [world.a], products=[product.id])
        await run_due(ctx, at(2))
        buyer = await world.make.user(Role.viewer)
        async with db.transaction() as session:
            principal = await load_principal(session, buyer.id, None)
        items = (Item(product.id, 3),)  # type: ignore[arg-type]
        await Placer(db, settings).place(Ask(principal, Scope(Channel.live, stream_id=b["stream_id"]), items, "k1", at(2, 5)))
        async with db.transaction() as session:
            assert (await session.get(Product, product.id)).stock == 7  # type: ignore[union-attr]
        report = await run_due(ctx, at(2, 5) + timedelta(seconds=settings.reservation_ttl_seconds + 1))
        assert report.orders_expired == 1
        async with db.transaction() as session:
            order = await session.scalar(select(Order))
            refreshed = await session.get(Product, product.id)
        assert order is not None and order.status == "expired"
        assert refreshed is not None and (refreshed.stock, refreshed.reserved) == (10, 0)


class TestDailyDigest:
    async def test_each_countys_organizers_get_the_days_figures_once(
        self, world: World, ctx: JobContext, db: Database, robot: Robot, settings: Settings
    ) -> None:
        settings.digest_hour = 21  # 13:00 UTC
        product = await world.make.product(world.county_id, stock=10, price_fen=1990)
        b = await world.booked(at(2), 60, [world.a], products=[product.id])
        await run_due(ctx, at(2))
        buyer = await world.make.user(Role.viewer)
        async with db.transaction() as session:
            principal = await load_principal(session, buyer.id, None)
        items = (Item(product.id, 2),)  # type: ignore[arg-type]
        placed = await Placer(db, settings).place(Ask(principal, Scope(Channel.live, stream_id=b["stream_id"]), items, "d1", at(2, 10)))
        async with db.transaction() as session:
            await orders.pay_with_provider(session, principal, placed.id, SandboxProvider("s"), now=at(2, 11))
        quiet = await world.make.county()  # a county without organizers gets nothing
        assert quiet.id is not None
        await run_due(ctx, at(12, 59))
        assert robot.texts("Daily sales") == []
        await run_due(ctx, at(13))
        await run_due(ctx, at(14))
        digests = robot.texts("Daily sales")
        assert len(digests) == 1
        assert "2030-03-04" in digests[0]
        assert "¥39.80 from 1 paid orders, 2 units" in digests[0]
        await run_due(ctx, at(24 + 13))  # the next day has its own digest
        assert len(robot.texts("Daily sales")) == 2
        assert "¥0.00 from 0 paid orders" in robot.texts("Daily sales")[1]
