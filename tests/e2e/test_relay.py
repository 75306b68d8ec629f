"""The relay end to end: real uvicorn servers as subprocesses, real Redis, real websockets clients."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import websockets
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed

from livecommerce.broadcasts.events import append_event
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from livecommerce.kit.settings import Settings
from streams.relay.hub import STALL_SECONDS
from tests.conftest import REDIS_URL, TEST_SECRET
from tests.e2e.redisserver import RedisServer
from tests.e2e.redisserver import private_redis as private_redis_server
from tests.e2e.servers import ServerHandle, start_server
from tests.factories import Factory
from tests.streams.relay.conftest import LiveStream, live_stream

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
COALESCED = ("viewers.updated", "sales.updated")


def server_env(settings: Settings, redis_url: str | None, **extra: str) -> dict[str, str]:
    env = {
        "LIVECOMMERCE_DATABASE_URL": settings.database_url,
        "LIVECOMMERCE_REDIS_URL": redis_url or "",
        "LIVECOMMERCE_REDIS_PREFIX": settings.redis_prefix,
        "LIVECOMMERCE_SECRET_KEY": TEST_SECRET,
        "LIVECOMMERCE_RUN_SCHEDULER": "false",
        "LIVECOMMERCE_RATE_LIMITS_ENABLED": "false",
        "LIVECOMMERCE_LOG_LEVEL": "WARNING",
    }
    env.update(extra)
    return env


@pytest.fixture
async def shared_redis_cleanup(settings: Settings) -> AsyncIterator[None]:
    yield
    client = Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{settings.redis_prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def two_servers(settings: Settings, shared_redis_cleanup: None) -> Iterator[tuple[ServerHandle, ServerHandle]]:
    """Two instances sharing the test database and the shared Redis (under the test's prefix).

    The outbox poll is slowed to 30 s so that anything arriving sooner came through Redis.
    """
    env = server_env(settings, REDIS_URL, LIVECOMMERCE_RELAY_POLL_INTERVAL_SECONDS="30")
    first = start_server(env)
    try:
        second = start_server(env)
    except BaseException:
        first.kill()
        raise
    yield first, second
    for server in (first, second):
        server.kill()


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    with private_redis_server() as server:
        yield server


def connect(server: ServerHandle, stream_id: int, since: int | None = None, **kwargs: Any) -> Any:
    query = f"?since={since}" if since is not None else ""
    return websockets.connect(f"{server.ws_url}/ws/streams/{stream_id}{query}", compression=None, open_timeout=10, **kwargs)


async def pin(server: ServerHandle, stream: LiveStream, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        response = await client.post(f"/api/streams/{stream.id}/pin", json={"product_id": stream.product_id}, headers=headers)
    assert response.status_code == 200, response.text


async def receive_types(ws: Any, count: int, type: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """All messages until `count` of the given type have arrived."""
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while len([m for m in got if m["type"] == type]) < count:
            got.append(json.loads(await ws.recv()))
    return got


async def organizer_headers(make: Factory, stream: LiveStream) -> dict[str, str]:
    return (await make.user(Role.organizer, county_ids=[stream.county_id])).headers


class TestFanOutAcrossInstances:
    async def test_event_committed_on_one_instance_reaches_viewers_on_both(
        self, two_servers: tuple[ServerHandle, ServerHandle], make: Factory, db: Database
    ) -> None:
        first, second = two_servers
        stream = await live_stream(make, db)
        headers = await organizer_headers(make, stream)
        async with connect(first, stream.id) as on_first, connect(second, stream.id) as on_second:
            await pin(first, stream, headers)
            got_first = await receive_types(on_first, 1, "product.pinned", timeout=5)
            got_second = await receive_types(on_second, 1, "product.pinned", timeout=5)
        assert got_first[-1] == got_second[-1]
        assert got_first[-1]["data"]["product_id"] == stream.product_id

    async def test_resume_on_the_other_instance_has_no_gap_and_no_duplicate(
        self, two_servers: tuple[ServerHandle, ServerHandle], make: Factory, db: Database
    ) -> None:
        first, second = two_servers
        stream = await live_stream(make, db)
        headers = await organizer_headers(make, stream)
        async with connect(first, stream.id, since=0) as ws:
            for _ in range(3):
                await pin(first, stream, headers)
            before = await receive_types(ws, 3, "product.pinned")
        for _ in range(3):
            await pin(second, stream, headers)  # missed while disconnected
        async with connect(second, stream.id, since=before[-1]["seq"]) as ws:
            for _ in range(2):
                await pin(first, stream, headers)
            after = await receive_types(ws, 5, "product.pinned")
        seqs = [m["seq"] for m in before + after]
        assert seqs == list(range(1, len(seqs) + 1))

    async def test_presence_counts_viewers_of_every_instance(
        self, two_servers: tuple[ServerHandle, ServerHandle], make: Factory, db: Database
    ) -> None:
        first, second = two_servers
        stream = await live_stream(make, db)
        async with connect(first, stream.id) as ws, connect(first, stream.id), connect(second, stream.id):
            async with asyncio.timeout(10):
                while True:
                    message = json.loads(await ws.recv())
                    if message["type"] == "viewers.updated" and message["data"]["count"] == 3:
                        break


class TestRedisRestart:
    async def test_events_keep_flowing_gap_free_through_a_redis_restart(
        self, settings: Settings, private_redis: RedisServer, make: Factory, db: Database
    ) -> None:
        env = server_env(settings, private_redis.url, LIVECOMMERCE_RELAY_POLL_INTERVAL_SECONDS="1")
        first, second = start_server(env), start_server(env)
        try:
            stream = await live_stream(make, db)
            headers = await organizer_headers(make, stream)
            async with connect(second, stream.id, since=0) as ws:
                await pin(first, stream, headers)
                got = await receive_types(ws, 1, "product.pinned")
                private_redis.stop()
                for _ in range(3):
                    await pin(first, stream, headers)  # committed; publishing fails; the poll delivers
                got += await receive_types(ws, 3, "product.pinned", timeout=15)
                private_redis.start()
                await _until_ready(first)
                await _until_ready(second)
                for _ in range(3):
                    await pin(first, stream, headers)
                got += await receive_types(ws, 3, "product.pinned", timeout=15)
            seqs = [m["seq"] for m in got]
            assert seqs == list(range(1, len(seqs) + 1))
            assert len([m for m in got if m["type"] == "product.pinned"]) == 7
        finally:
            first.kill()
            second.kill()


async def _until_ready(server: ServerHandle, timeout: float = 15.0) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=3) as client, asyncio.timeout(timeout):
        while (await client.get("/readyz")).status_code != 200:
            await asyncio.sleep(0.1)


class TestSlowConsumer:
    async def test_stalled_client_is_cut_off_while_a_healthy_one_keeps_receiving(
        self, settings: Settings, shared_redis_cleanup: None, make: Factory, db: Database
    ) -> None:
        server = start_server(
            server_env(
                settings,
                REDIS_URL,
                LIVECOMMERCE_RELAY_VIEWER_BUFFER="16",
                LIVECOMMERCE_RELAY_VIEWER_BUFFER_BYTES="65536",
                LIVECOMMERCE_RELAY_POLL_INTERVAL_SECONDS="0.2",
            )
        )
        try:
            stream = await live_stream(make, db)
            stalled_sock = socket.socket()
            stalled_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
            stalled_sock.connect(("127.0.0.1", server.port))
            stalled_sock.setblocking(False)
            async with (
                connect(server, stream.id, since=1, sock=stalled_sock, max_queue=1) as stalled,
                connect(server, stream.id, since=1, max_queue=None) as healthy,
            ):
                reading = asyncio.create_task(receive_types(healthy, 125, "product.pinned", timeout=60))
                for i in range(125):
                    if i == 120:
                        await asyncio.sleep(STALL_SECONDS + 1)  # the stalled socket stays blocked past the limit
                    # Written by this process (like a worker): the server finds them by polling the outbox.
                    async with db.transaction() as session:
                        await append_event(session, stream.id, "product.pinned", {"n": i, "blob": "x" * 50_000})
                got = await reading
                assert [m["seq"] for m in got] == list(range(2, 2 + len(got)))
                received: list[int] = []
                with pytest.raises(ConnectionClosed) as info:
                    async with asyncio.timeout(30):
                        while True:
                            received.append(json.loads(await stalled.recv())["seq"])
            assert info.value.rcvd is not None and info.value.rcvd.code == 4008, server.log()
            assert received == list(range(2, 2 + len(received)))
            assert len(received) < 125
        finally:
            server.kill()


class TestFastPath:
    async def test_livecommerce_serve_writes_to_caught_up_viewers_directly(
        self, settings: Settings, shared_redis_cleanup: None, make: Factory, db: Database
    ) -> None:
        server = start_server(server_env(settings, REDIS_URL))
        try:
            stream = await live_stream(make, db)
            headers = await organizer_headers(make, stream)
            async with (
                connect(server, stream.id, since=0) as anonymous,
                connect(server, stream.id, since=0, additional_headers=headers) as staff,
            ):
                async with asyncio.timeout(10):
                    while await _gauge(server, "livecommerce_relay_fast_path_viewers") != 2:
                        await asyncio.sleep(0.05)
                for _ in range(5):
                    await pin(server, stream, headers)
                public = await receive_types(anonymous, 5, "product.pinned")
                whole = await receive_types(staff, 5, "product.pinned")
            assert [m["seq"] for m in public] == list(range(1, len(public) + 1))
            assert [m["seq"] for m in whole] == [m["seq"] for m in public]
        finally:
            server.kill()


async def _gauge(server: ServerHandle, name: str) -> float | None:
    async with httpx.AsyncClient(base_url=server.url, timeout=3) as client:
        text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


class TestShutdown:
    async def test_sigterm_closes_viewers_with_going_away_and_exits_cleanly(self, settings: Settings, make: Factory, db: Database) -> None:
        server = start_server(server_env(settings, None))
        try:
            stream = await live_stream(make, db)
            async with connect(server, stream.id) as ws:
                await asyncio.sleep(0.2)
                server.process.send_signal(signal.SIGTERM)
                with pytest.raises(ConnectionClosed) as info:
                    async with asyncio.timeout(10):
                        while True:
                            await ws.recv()
            assert info.value.rcvd is not None and info.value.rcvd.code == 1001, server.log()
            # uvicorn re-raises the signal after a graceful shutdown, so exiting "by SIGTERM" is the clean end.
            assert await asyncio.to_thread(server.wait) in (0, -signal.SIGTERM), server.log()
            assert "Traceback" not in server.log() and "component_stop_failed" not in server.log(), server.log()
        finally:
            server.kill()
