"""Presence counts and the coalescer that turns them (and sales) into outbox events."""

from __future__ import annotations

import asyncio
import uuid
from itertools import pairwise

from redis.asyncio import Redis
from sqlmodel import col, select

from livecommerce.broadcasts.events import OutboxEvent
from livecommerce.kit.db import Database
from livecommerce.kit.settings import Settings
from streams.relay.coalescer import Coalescer, Lease, LocalLease, RedisLease
from streams.relay.presence import MemoryPresence, Presence, RedisPresence
from tests.factories import Factory
from tests.streams.relay.conftest import live_stream


def make_presence(backend: str, client: Redis, prefix: str) -> Presence:
    if backend == "memory":
        return MemoryPresence()
    # Under a prefix of its own: the app under test runs a coalescer on the test's prefix.
    return RedisPresence(client, f"{prefix}:t", f"instance-{uuid.uuid4().hex[:6]}", ttl_seconds=1.5, flush_seconds=0.01)


def make_lease(backend: str, client: Redis, prefix: str) -> Lease:
    return LocalLease() if backend == "memory" else RedisLease(client, f"{prefix}:lease", uuid.uuid4().hex, ttl_seconds=1.0)


async def eventually_count(presence: Presence, stream_id: int, expected: int, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while await presence.count(stream_id) != expected:
            await asyncio.sleep(0.02)


async def events_of(db: Database, stream_id: int, type: str) -> list[OutboxEvent]:
    async with db.sessionmaker() as session:
        stmt = select(OutboxEvent).where(col(OutboxEvent.stream_id) == stream_id, col(OutboxEvent.type) == type)
        return list((await session.scalars(stmt.order_by(col(OutboxEvent.seq)))).all())


class TestPresence:
    async def test_joins_and_leaves_are_counted(self, relay_backend: str, redis_client: Redis, settings: Settings) -> None:
        presence = make_presence(relay_backend, redis_client, settings.redis_prefix)
        await presence.start()
        presence.joined(5)
        presence.joined(5)
        presence.joined(6)
        presence.left(5)
        await eventually_count(presence, 5, 1)
        await eventually_count(presence, 6, 1)
        await presence.stop()

    async def test_instances_sharing_a_backend_add_up(self, relay_backend: str, redis_client: Redis, settings: Settings) -> None:
        if relay_backend == "memory":
            # In-process presence is one instance by definition: one object counts everything.
            instances: list[Presence] = [make_presence("memory", redis_client, settings.redis_prefix)]
            instances[0].joined(5)
            instances[0].joined(5)
            instances[0].joined(5)
        else:
            instances = [make_presence("redis", redis_client, settings.redis_prefix) for _ in range(2)]
            instances[0].joined(5)
            instances[1].joined(5)
            instances[1].joined(5)
        for presence in instances:
            await presence.start()
        await eventually_count(instances[0], 5, 3)
        for presence in instances:
            await presence.stop()

    async def test_a_stopped_instance_no_longer_counts(self, relay_backend: str, redis_client: Redis, settings: Settings) -> None:
        presence = make_presence(relay_backend, redis_client, settings.redis_prefix)
        other = make_presence(relay_backend, redis_client, settings.redis_prefix)
        await presence.start()
        await other.start()
        presence.joined(9)
        await eventually_count(presence, 9, 1)
        await presence.stop()
        await eventually_count(other, 9, 0)
        await other.stop()


class TestHonestCount:
    async def test_one_signed_in_viewer_in_two_tabs_is_one_viewer(
        self, relay_backend: str, redis_client: Redis, settings: Settings
    ) -> None:
        presence = make_presence(relay_backend, redis_client, settings.redis_prefix)
        await presence.start()
        presence.joined(5, 42)
        presence.joined(5, 42)
        presence.joined(5, 43)
        presence.joined(5)
        await eventually_count(presence, 5, 3)
        presence.left(5, 42)
        await eventually_count(presence, 5, 3)  # a tab closed, the other still watches
        presence.left(5, 42)
        await eventually_count(presence, 5, 2)
        await presence.stop()

    async def test_the_same_viewer_on_two_instances_is_one_viewer(
        self, relay_backend: str, redis_client: Redis, settings: Settings
    ) -> None:
        if relay_backend == "memory":
            return  # one process is one instance
        first, second = (make_presence("redis", redis_client, settings.redis_prefix) for _ in range(2))
        for presence in (first, second):
            await presence.start()
            presence.joined(5, 42)
        second.joined(5)
        await eventually_count(first, 5, 2)
        first.left(5, 42)
        await eventually_count(first, 5, 2)
        second.left(5, 42)
        await eventually_count(first, 5, 1)
        for presence in (first, second):
            await presence.stop()

    async def test_a_viewer_counted_by_a_stopped_instance_stays_counted_by_the_other(
        self, relay_backend: str, redis_client: Redis, settings: Settings
    ) -> None:
        if relay_backend == "memory":
            return
        first, second = (make_presence("redis", redis_client, settings.redis_prefix) for _ in range(2))
        for presence in (first, second):
            await presence.start()
            presence.joined(7, 42)
        await eventually_count(first, 7, 1)
        await first.stop()
        await eventually_count(second, 7, 1)
        await second.stop()
        await eventually_count(RedisPresence(redis_client, f"{settings.redis_prefix}:t", "observer"), 7, 0)


class TestRedisPresenceExpiry:
    async def test_a_dead_instance_drops_out_after_its_ttl(self, relay_backend: str, redis_client: Redis, settings: Settings) -> None:
        presence = RedisPresence(redis_client, settings.redis_prefix, "dies", ttl_seconds=0.6, flush_seconds=0.01)
        await presence.start()
        presence.joined(3)
        await eventually_count(presence, 3, 1)
        assert presence._task is not None
        presence._task.cancel()  # the process died: no heartbeat, no clean-up
        await eventually_count(RedisPresence(redis_client, settings.redis_prefix, "observer"), 3, 0, timeout=3)
        await presence.stop()


class TestLease:
    async def test_only_one_of_two_instances_holds_the_lease(self, relay_backend: str, redis_client: Redis, settings: Settings) -> None:
        if relay_backend == "memory":
            assert await LocalLease().hold()
            return
        first = make_lease("redis", redis_client, settings.redis_prefix)
        second = RedisLease(redis_client, f"{settings.redis_prefix}:lease", "second", ttl_seconds=1.0)
        assert await first.hold()
        assert not await second.hold()
        await first.release()
        assert await second.hold()
        assert not await first.hold()

    async def test_a_holder_that_stops_renewing_loses_the_lease(self, relay_backend: str, redis_client: Redis, settings: Settings) -> None:
        if relay_backend == "memory":
            assert await LocalLease().hold()
            return
        first = RedisLease(redis_client, f"{settings.redis_prefix}:lease", "first", ttl_seconds=0.3)
        second = RedisLease(redis_client, f"{settings.redis_prefix}:lease", "second", ttl_seconds=0.3)
        assert await first.hold()
        await asyncio.sleep(0.5)
        assert await second.hold()
        assert not await first.hold()


class TestCoalescer:
    async def test_viewer_changes_become_one_viewers_updated_per_tick(
        self, relay_backend: str, redis_client: Redis, settings: Settings, make: Factory, db: Database
    ) -> None:
        stream = await live_stream(make, db)
        presence = make_presence(relay_backend, redis_client, settings.redis_prefix)
        await presence.start()
        coalescer = Coalescer(db, presence, make_lease(relay_backend, redis_client, settings.redis_prefix), interval=0.05)
        for _ in range(25):
            presence.joined(stream.id)
        await eventually_count(presence, stream.id, 25)
        await coalescer.tick()
        await coalescer.tick()  # nothing changed: nothing written
        events = await events_of(db, stream.id, "viewers.updated")
        # (The app's own coalescer, whose in-memory presence counts no viewer, may write {"count": 0}.)
        assert [e.data for e in events if e.data != {"count": 0}] == [{"count": 25}]
        await presence.stop()

    async def test_no_sales_updated_while_nothing_was_sold(
        self, relay_backend: str, redis_client: Redis, settings: Settings, make: Factory, db: Database
    ) -> None:
        stream = await live_stream(make, db)
        coalescer = Coalescer(db, MemoryPresence(), make_lease(relay_backend, redis_client, settings.redis_prefix))
        await coalescer.tick()
        assert await events_of(db, stream.id, "sales.updated") == []

    async def test_a_new_leader_does_not_repeat_the_last_figures(
        self, relay_backend: str, redis_client: Redis, settings: Settings, make: Factory, db: Database
    ) -> None:
        stream = await live_stream(make, db)
        presence = MemoryPresence()
        presence.joined(stream.id)
        await Coalescer(db, presence, LocalLease()).tick()
        await Coalescer(db, presence, LocalLease()).tick()  # a second instance taking over
        figures = [e.data for e in await events_of(db, stream.id, "viewers.updated")]
        # A repeat is one figure twice in a row. The app's own coalescer, whose presence counts no
        # viewer, may write {"count": 0} between the two ticks; the second then rightly writes 1 again.
        assert {"count": 1} in figures
        assert not any(a == b == {"count": 1} for a, b in pairwise(figures)), figures

    async def test_the_loop_writes_only_while_holding_the_lease(
        self, relay_backend: str, redis_client: Redis, settings: Settings, make: Factory, db: Database
    ) -> None:
        stream = await live_stream(make, db)
        presence = MemoryPresence()
        presence.joined(stream.id)
        if relay_backend == "memory":
            lease: Lease = LocalLease()
        else:
            held = RedisLease(redis_client, f"{settings.redis_prefix}:lease", "other-instance", ttl_seconds=30)
            assert await held.hold()
            lease = RedisLease(redis_client, f"{settings.redis_prefix}:lease", "this-instance", ttl_seconds=30)
        coalescer = Coalescer(db, presence, lease, interval=0.02)
        await coalescer.start()
        await asyncio.sleep(0.3)
        await coalescer.stop()
        written = await events_of(db, stream.id, "viewers.updated")
        if relay_backend == "memory":
            # (The app's own coalescer may answer with its count, 0, afterwards.)
            assert written[0].data == {"count": 1}
        else:
            assert written == []
