"""Relay fixtures: every test here runs against the in-memory and the Redis backend."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import uvicorn
import websockets
from redis.asyncio import Redis

from livecommerce.broadcasts import service as streams
from livecommerce.broadcasts.events import append_event
from livecommerce.kit.clock import utcnow
from livecommerce.kit.db import Database
from livecommerce.kit.settings import Settings
from streams.relay.bus import EventBus
from streams.relay.memory import MemoryBus
from streams.relay.redis import RedisBus
from tests.conftest import REDIS_URL
from tests.factories import Factory


@pytest.fixture(params=["memory", "redis"])
def relay_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(settings: Settings, relay_backend: str) -> Settings:
    return settings.model_copy(
        update={
            "redis_url": REDIS_URL if relay_backend == "redis" else None,
            "relay_coalesce_interval_seconds": 0.1,
            "relay_poll_interval_seconds": 0.5,
        }
    )


@pytest.fixture
async def redis_client(settings: Settings) -> AsyncIterator[Redis]:
    """A client on the shared Redis; the test's keys (under its unique prefix) are deleted afterwards."""
    client = Redis.from_url(REDIS_URL)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{settings.redis_prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def bus(relay_backend: str, settings: Settings, redis_client: Redis) -> AsyncIterator[EventBus]:
    """A started bus of the test's backend."""
    instance: EventBus = (
        MemoryBus(history_size=50) if relay_backend == "memory" else RedisBus(redis_client, settings.redis_prefix, history_size=50)
    )
    await instance.start()
    yield instance
    await instance.close()


@pytest.fixture
async def server(app: Any, redis_client: Redis) -> AsyncIterator[str]:
    """The app served by uvicorn on a free port in this event loop; yields its ws:// base URL."""
    async for url in _serve(app, ws="auto"):
        yield url


@pytest.fixture
async def legacy_server(app: Any, redis_client: Redis) -> AsyncIterator[str]:
    """Like `server`, on uvicorn's legacy `websockets` protocol, which offers the relay no fast path."""
    async for url in _serve(app, ws="websockets"):
        yield url


async def _serve(app: Any, ws: str) -> AsyncIterator[str]:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="off", log_level="warning", ws=ws, ws_per_message_deflate=False, timeout_graceful_shutdown=5
    )
    instance = uvicorn.Server(config)
    task = asyncio.create_task(instance.serve())
    async with asyncio.timeout(10):
        while not instance.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
    port = instance.servers[0].sockets[0].getsockname()[1]
    yield f"ws://127.0.0.1:{port}"
    instance.should_exit = True
    await task
    # Past its graceful timeout uvicorn cancels the connection tasks still running but does not
    # wait for them: wait here, so no handler still holds a transaction when the data is cleaned.
    leftover = list(instance.server_state.tasks)
    if leftover:
        _, pending = await asyncio.wait(leftover, timeout=10)
        assert not pending, f"connection tasks still running after shutdown: {pending}"


@dataclass
class LiveStream:
    id: int
    product_id: int
    county_id: int


async def live_stream(make: Factory, db: Database) -> LiveStream:
    """A stream that has gone live (its outbox holds stream.started at seq 1)."""
    county = await make.county()
    anchor = await make.anchor(county.id)
    product = await make.product(county.id)
    now = utcnow()
    async with db.transaction() as session:
        stream = await streams.create_stream(
            session,
            title="Qingyuan chicken live",
            scheduled_start=now,
            scheduled_end=now + timedelta(hours=1),
            anchor_ids=[anchor.id],
            product_ids=[product.id],
        )
        assert stream.id is not None
        await streams.start_stream(session, stream.id, now=now)
    assert product.id is not None and county.id is not None
    return LiveStream(stream.id, product.id, county.id)


async def append_events(db: Database, stream_id: int, count: int, type: str = "product.pinned", **data: Any) -> int:
    """Commit `count` events, one transaction each (each goes through the after-commit hook); the last seq."""
    seq = 0
    for i in range(count):
        async with db.transaction() as session:
            seq = (await append_event(session, stream_id, type, {"n": i, **data})).seq
    return seq


async def receive_json(ws: Any, timeout: float = 5.0) -> dict[str, Any]:
    """The next message as JSON."""
    raw = await asyncio.wait_for(ws.recv(), timeout)
    return json.loads(raw)  # type: ignore[no-any-return]


async def receive_until(ws: Any, seq: int, timeout: float = 10.0, skip_types: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Messages up to and including `seq` (skipping the given types from the result)."""
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] not in skip_types:
                got.append(message)
            if message["seq"] >= seq:
                return got


def connect(base: str, stream_id: int, *, since: int | None = None, token: str | None = None, **kwargs: Any) -> Any:
    """A websockets client connection to the relay."""
    query = []
    if since is not None:
        query.append(f"since={since}")
    if token is not None:
        query.append(f"token={token}")
    url = f"{base}/ws/streams/{stream_id}" + (f"?{'&'.join(query)}" if query else "")
    return websockets.connect(url, compression=None, open_timeout=15, **kwargs)
