"""Deployments sharing one Redis never hear each other; history never outlives the database it came from."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, update
from sqlmodel import col

from livecommerce.broadcasts.events import OutboxEvent, StreamSequence, append_event
from livecommerce.kit.clock import Clock
from livecommerce.kit.db import Database
from livecommerce.kit.settings import Settings
from livecommerce.main.app import create_app
from streams.relay.outbox import outbox_after, stream_positions
from tests.conftest import REDIS_URL
from tests.databases import scratch_database
from tests.factories import Factory
from tests.streams.relay.conftest import _serve, append_events, connect, live_stream, receive_until

COALESCED = ("viewers.updated", "sales.updated")


async def collect(ws: Any, seconds: float) -> list[dict[str, Any]]:
    """Every message that arrives within `seconds`."""
    got: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            got.append(json.loads(await asyncio.wait_for(ws.recv(), left)))
        except TimeoutError:
            break
    return got


async def wait_for_history(app: Any, stream_id: int, seq: int) -> None:
    """Until the app's bus holds the stream's history up to `seq` under its current epoch."""
    component = next(c for c in app.state.components if c.name == "relay")
    async with asyncio.timeout(5):
        while True:
            _, epoch = (await stream_positions(app.state.db, [stream_id]))[stream_id]
            held = await component.bus.history(stream_id, 0, epoch=epoch)
            if held and held[-1]["seq"] >= seq:
                return
            await asyncio.sleep(0.02)


class OtherDeployment:
    """A second deployment: its own database, the same Redis server and key prefix, served on its own port."""

    def __init__(self, app: Any, url: str, make: Factory) -> None:
        self.app = app
        self.url = url
        self.make = make

    @property
    def db(self) -> Database:
        return self.app.state.db  # type: ignore[no-any-return]


async def other_deployment(tmp_path: Path, settings: Settings, redis_url: str) -> AsyncIterator[OtherDeployment]:
    with scratch_database(tmp_path, "other") as url:
        other_settings = settings.model_copy(update={"database_url": url, "redis_url": redis_url})
        app = create_app(other_settings, clock=Clock(), migrate=False)
        async with app.router.lifespan_context(app):
            async for ws_url in _serve(app, ws="auto"):
                yield OtherDeployment(app, ws_url, Factory(app.state.db, other_settings))


@pytest.fixture
def relay_backend() -> str:
    return "redis"


@pytest.fixture(params=["another database number", "the same database number"])
async def other(request: pytest.FixtureRequest, tmp_path: Path, settings: Settings, app: Any) -> AsyncIterator[OtherDeployment]:
    """Another deployment on the shared Redis server, with the same prefix as the app under test."""
    redis_url = REDIS_URL.rsplit("/", 1)[0] + ("/1" if request.param == "another database number" else "/0")
    async for deployment in other_deployment(tmp_path, settings, redis_url):
        yield deployment


class TestTwoDeploymentsOnOneRedis:
    async def test_a_viewer_hears_only_its_own_deployments_events(
        self, app: Any, make: Factory, db: Database, other: OtherDeployment
    ) -> None:
        mine = await live_stream(make, db)
        theirs = await live_stream(other.make, other.db)
        assert mine.id == theirs.id  # the same stream id in both: only the namespace keeps them apart
        async with connect(other.url, theirs.id) as ws:
            await append_events(db, mine.id, 5, deployment="A")
            last = await append_events(other.db, theirs.id, 1, deployment="B")
            got = await receive_until(ws, last, skip_types=COALESCED)
            got += await collect(ws, 1.0)
        pinned = [m for m in got if m["type"] == "product.pinned"]
        assert [m["data"]["deployment"] for m in pinned] == ["B"]
        seqs = [m["seq"] for m in got]
        assert seqs == sorted(set(seqs))

    async def test_each_deployment_has_its_own_namespace(self, app: Any, other: OtherDeployment) -> None:
        mine = next(c for c in app.state.components if c.name == "relay").namespace
        theirs = next(c for c in other.app.state.components if c.name == "relay").namespace
        assert mine != theirs
        assert mine.startswith(app.state.settings.redis_prefix + ":")

    async def test_rate_limits_are_counted_per_deployment(self, app: Any, other: OtherDeployment) -> None:
        settings = app.state.settings.model_copy(update={"rate_limits_enabled": True, "rate_limits": {"orders_buyer": "2/minute"}})
        mine = type(app.state.rate_limiter)(settings, key_prefix=app.state.rate_limiter.key_prefix)
        theirs = type(other.app.state.rate_limiter)(settings, key_prefix=other.app.state.rate_limiter.key_prefix)
        assert app.state.notices.channel != other.app.state.notices.channel
        for _ in range(2):
            await mine.check("orders_buyer", 7)
        await theirs.check("orders_buyer", 7)  # the other deployment's buyer 7 has a budget of its own
        await mine.reset()
        await theirs.reset()

    async def test_a_recreated_database_never_serves_the_old_ones_history(
        self, app: Any, make: Factory, db: Database, other: OtherDeployment
    ) -> None:
        old = await live_stream(make, db)
        await wait_for_history(app, old.id, await append_events(db, old.id, 8, timeline="old"))
        new = await live_stream(other.make, other.db)
        assert new.id == old.id
        last = await append_events(other.db, new.id, 2, timeline="new")
        async with connect(other.url, new.id, since=0) as ws:
            got = await receive_until(ws, last)
        assert got == await outbox_after(other.db, new.id, 0, last)


async def rewind(db: Database, stream_id: int, to_seq: int) -> None:
    """What a restore to an earlier point looks like to the app: later events gone, the counter back, the epoch as it was."""
    async with db.transaction() as session:
        await session.execute(delete(OutboxEvent).where(col(OutboxEvent.stream_id) == stream_id, col(OutboxEvent.seq) > to_seq))  # type: ignore[arg-type]
        await session.execute(update(StreamSequence).where(col(StreamSequence.stream_id) == stream_id).values(last_seq=to_seq))


async def append_unpublished(db: Database, stream_id: int, count: int, **data: Any) -> int:
    """Commit events without the after-commit hook (a process that does not publish); the last seq."""
    seq = 0
    for i in range(count):
        async with db.sessionmaker() as session:
            seq = (await append_event(session, stream_id, "product.pinned", {"n": i, **data})).seq
            await session.commit()
    return seq


class TestRestoredDatabase:
    @pytest.fixture(params=["memory", "redis"])
    def relay_backend(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)

    async def test_resume_after_a_restore_gets_only_what_the_database_has(self, app: Any, server: str, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        await wait_for_history(app, stream.id, await append_events(db, stream.id, 9, timeline="old"))  # seqs 2..10
        await rewind(db, stream.id, 5)
        last = await append_unpublished(db, stream.id, 3, timeline="new")  # 6..8 again, other events
        async with connect(server, stream.id, since=3) as ws:
            got = await receive_until(ws, last)
        assert got == await outbox_after(db, stream.id, 3, last)
        assert [m["data"].get("timeline") for m in got] == ["old", "old", "new", "new", "new"]

    async def test_events_published_after_a_restore_renew_the_epoch_and_are_served(
        self, app: Any, server: str, make: Factory, db: Database
    ) -> None:
        stream = await live_stream(make, db)
        await wait_for_history(app, stream.id, await append_events(db, stream.id, 9, timeline="old"))
        _, before = (await stream_positions(db, [stream.id]))[stream.id]
        await rewind(db, stream.id, 5)
        last = await append_events(db, stream.id, 3, timeline="new")  # published over the old 6..8
        async with asyncio.timeout(5):
            while (await stream_positions(db, [stream.id]))[stream.id][1] == before:
                await asyncio.sleep(0.02)
        for since in (0, 4, 7):
            async with connect(server, stream.id, since=since) as ws:
                got = await receive_until(ws, last)
            assert got == await outbox_after(db, stream.id, since, last)

    async def test_a_since_beyond_the_restored_head_resumes_from_the_head(self, app: Any, server: str, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        await wait_for_history(app, stream.id, await append_events(db, stream.id, 9, timeline="old"))
        await rewind(db, stream.id, 5)
        async with connect(server, stream.id, since=10) as ws:
            last = await append_events(db, stream.id, 2, timeline="new")
            got = await receive_until(ws, last)
        seqs = [m["seq"] for m in got]
        pinned = [m["data"]["timeline"] for m in got if m["type"] == "product.pinned"]
        # Resumed from the head: the first event after it is 6 and none is skipped; the app's coalescer
        # may take any of those seqs (before, between or after the pinned ones), but nothing old comes back.
        assert seqs == list(range(6, last + 1)), seqs
        assert pinned == ["new", "new"], got
