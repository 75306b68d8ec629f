"""The scheduler worker publishes what it commits, so its events do not wait for the relays' outbox poll."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from livecommerce.broadcasts.events import append_event
from livecommerce.kit.db import Database, create_engine
from livecommerce.kit.settings import Settings
from streams.relay.bus import RESYNC
from streams.relay.namespace import redis_namespace
from streams.relay.redis import RedisBus
from streams.runtime import WorkerPublisher
from tests.factories import Factory
from tests.streams.relay.conftest import live_stream


@pytest.fixture
def relay_backend() -> str:
    return "redis"


class TestWorkerPublisher:
    async def test_an_event_the_worker_commits_is_published_in_the_deployments_namespace(
        self, settings: Settings, redis_client: Redis, make: Factory, db: Database
    ) -> None:
        stream = await live_stream(make, db)
        worker_db = Database(create_engine(settings))  # the worker's own database handle, as in `livecommerce scheduler`
        publisher = WorkerPublisher(worker_db, settings)
        bus = RedisBus(redis_client, await redis_namespace(worker_db, settings))
        subscription = await bus.subscribe()
        try:
            async with asyncio.timeout(5):
                assert await subscription.get() is RESYNC
            await publisher.start()
            async with worker_db.transaction() as session:
                event = await append_event(session, stream.id, "stream.ended", {"by": "worker"})
            async with asyncio.timeout(3):  # at once in practice; the bound allows for a loaded machine
                item = await subscription.get()
                # The stream's earlier events may be published first (the publisher catches up from the outbox).
                while (isinstance(item, dict) and item["seq"] < event.seq) or item is RESYNC:
                    item = await subscription.get()
            assert isinstance(item, dict)
            assert (item["stream_id"], item["seq"], item["type"]) == (stream.id, event.seq, "stream.ended")
        finally:
            await bus.unsubscribe(subscription)
            await publisher.stop()
            await worker_db.dispose()

    async def test_without_redis_the_worker_publishes_nothing(self, settings: Settings, make: Factory) -> None:
        worker_db = Database(create_engine(settings))
        publisher = WorkerPublisher(worker_db, settings.model_copy(update={"redis_url": None}))
        await publisher.start()
        assert publisher.publisher is None
        await publisher.stop()
        await worker_db.dispose()
