"""The go-live guard: a stream starts by hand only on a confirmed booking, within the warm-up, in a free studio."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlmodel import col, select

from livecommerce.broadcasts.models import Stream
from livecommerce.kit.clock import FrozenClock
from livecommerce.kit.db import Database
from livecommerce.kit.settings import Settings
from tests.schedulers.conftest import World, at


async def start(world: World, stream_id: int) -> httpx.Response:
    return await world.client.post(f"/api/streams/{stream_id}/start", headers=world.a.user.headers)


async def stream_status(db: Database, stream_id: int) -> str:
    async with db.sessionmaker() as session:
        status = await session.scalar(select(col(Stream.status)).where(col(Stream.id) == stream_id))
    assert status is not None
    return status


def kinds(r: httpx.Response) -> set[str]:
    return {c["kind"] for c in r.json()["conflicts"]}


class TestHandStart:
    async def test_requested_booking_cannot_go_live(self, world: World, clock: FrozenClock, db: Database) -> None:
        booking = await world.booked(at(2), confirm=False)
        clock.set(at(2))
        r = await start(world, booking["stream_id"])
        assert r.status_code == 409, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert kinds(r) == {"booking_not_confirmed"}
        assert await stream_status(db, booking["stream_id"]) == "scheduled"

    async def test_four_days_early_is_409_too_early(self, world: World, db: Database) -> None:
        booking = await world.booked(at(24 * 4))
        r = await start(world, booking["stream_id"])
        assert r.status_code == 409
        assert kinds(r) == {"too_early"}
        assert await stream_status(db, booking["stream_id"]) == "scheduled"

    async def test_warm_up_within_the_window_goes_live(self, world: World, clock: FrozenClock, settings: Settings) -> None:
        booking = await world.booked(at(2))
        clock.set(at(2) - timedelta(minutes=settings.warmup_minutes))
        r = await start(world, booking["stream_id"])
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "live"

    async def test_one_minute_before_the_warm_up_is_409(self, world: World, clock: FrozenClock, settings: Settings) -> None:
        booking = await world.booked(at(2))
        clock.set(at(2) - timedelta(minutes=settings.warmup_minutes + 1))
        assert (await start(world, booking["stream_id"])).status_code == 409

    async def test_studio_live_with_another_stream_is_409(self, world: World, clock: FrozenClock, db: Database) -> None:
        first = await world.booked(at(2), 60)
        second = await world.booked(at(3, 15), 60)  # same studio, right after the buffer
        clock.set(at(2, 50))
        assert (await start(world, first["stream_id"])).status_code == 200
        r = await start(world, second["stream_id"])
        assert r.status_code == 409
        conflict = next(c for c in r.json()["conflicts"] if c["kind"] == "studio_live")
        assert conflict["stream_id"] == first["stream_id"]
        assert await stream_status(db, second["stream_id"]) == "scheduled"

    async def test_the_attack_names_every_reason(self, world: World, clock: FrozenClock) -> None:
        # 1 December: a requested 5 December booking started while another stream is live in its studio.
        live = await world.booked(at(2), 60)
        clock.set(at(2))
        assert (await start(world, live["stream_id"])).status_code == 200
        later = await world.booked(at(24 * 4), 60, confirm=False)
        r = await start(world, later["stream_id"])
        assert r.status_code == 409
        assert kinds(r) == {"booking_not_confirmed", "too_early", "studio_live"}

    async def test_stream_without_a_booking_is_only_time_checked(self, world: World, db: Database, clock: FrozenClock) -> None:
        from livecommerce.broadcasts import service as streams

        async with db.transaction() as session:
            stream = await streams.create_stream(
                session, title="Unbooked", scheduled_start=at(0, 10), scheduled_end=at(1), anchor_ids=[world.a.id], product_ids=[]
            )
        assert stream.id is not None
        assert (await start(world, stream.id)).status_code == 200
