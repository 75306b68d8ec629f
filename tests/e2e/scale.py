"""Shared pieces of the scale tests: a cluster on private servers, seeded data, buyers and resuming viewers.

Every scale test runs on its own PostgreSQL and Redis (see `pgserver.py`, `redisserver.py`),
whatever LIVECOMMERCE_TEST_BACKEND says: these tests are about the PostgreSQL + Redis topology,
and they stop, cut off and restart servers, which the shared ones must never suffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import websockets
from websockets.asyncio.client import connect

from livecommerce.broadcasts import service as streams
from livecommerce.kit.clock import utcnow
from livecommerce.kit.db import Database, create_nullpool_engine
from livecommerce.kit.settings import Settings
from livecommerce.main.cluster import Cluster, FrontThread
from tests.conftest import TEST_SECRET
from tests.e2e.netutil import free_port
from tests.e2e.pgserver import PostgresServer
from tests.e2e.redisserver import RedisServer
from tests.factories import Factory
from tests.factories import TestUser as User

RETRYABLE_STATUS = {502, 503, 504}


@dataclass
class World:
    """A running cluster on private servers, with a live stream featuring one product."""

    cluster: Cluster
    front: FrontThread
    database_url: str
    redis: RedisServer | None
    staff: User
    buyers: list[User]
    stream_id: int
    product_id: int
    initial_stock: int
    price_fen: int


def cluster_env(database_url: str, redis_url: str | None, **extra: str) -> dict[str, str]:
    """The environment of every process of a test cluster."""
    return {
        "LIVECOMMERCE_DATABASE_URL": database_url,
        "LIVECOMMERCE_REDIS_URL": redis_url or "",
        "LIVECOMMERCE_SECRET_KEY": TEST_SECRET,
        "LIVECOMMERCE_ENV": "dev",
        "LIVECOMMERCE_RATE_LIMITS_ENABLED": "false",
        "LIVECOMMERCE_MAX_QUANTITY_PER_BUYER": "1000",
        "LIVECOMMERCE_LOG_JSON": "true",
        "LIVECOMMERCE_LOG_LEVEL": "INFO",
        "LIVECOMMERCE_REDIS_PREFIX": f"lcscale{uuid.uuid4().hex[:8]}",
        "LIVECOMMERCE_RELAY_POLL_INTERVAL_SECONDS": "0.5",
        "LIVECOMMERCE_DB_POOL_SIZE": "5",
        "LIVECOMMERCE_DB_MAX_OVERFLOW": "5",
        **extra,
    }


@contextlib.contextmanager
def running_cluster(
    database_url: str, redis: RedisServer | None, log_dir: Path, *, instances: int = 2, scheduler: bool = False, **extra_env: str
) -> Iterator[tuple[Cluster, FrontThread]]:
    """Migrate, start the instances (and the worker), and a front on a free port; stop everything afterwards."""
    env = cluster_env(database_url, redis.url if redis else None, **extra_env)
    cluster = Cluster(
        instances=instances, port=0, instance_ports=[free_port() for _ in range(instances)], env=env, log_dir=log_dir, scheduler=scheduler
    )
    front = FrontThread(cluster.front)
    try:
        cluster.start_processes()
        front.start()
        yield cluster, front
    finally:
        with contextlib.suppress(Exception):
            front.stop()
        cluster.stop_processes()


@dataclass
class Seeded:
    """What `seed` made."""

    staff: User
    buyers: list[User]
    stream_id: int
    product_ids: list[int]

    @property
    def product_id(self) -> int:
        """The first product."""
        return self.product_ids[0]


async def seed(database_url: str, *, buyers: int, stock: int, products: int = 1, price_fen: int = 1990) -> Seeded:
    """A county, products, a live stream featuring them, an admin and some buyers (through the services)."""
    settings = Settings(database_url=database_url, secret_key=TEST_SECRET, redis_url=None, run_scheduler=False)
    db = Database(create_nullpool_engine(database_url))
    try:
        make = Factory(db, settings)
        county = await make.county()
        anchor = await make.anchor(county.id)
        items = [await make.product(county.id, price_fen=price_fen, stock=stock) for _ in range(products)]
        staff = await make.user("admin")
        people = [await make.user("viewer") for _ in range(buyers)]
        now = utcnow()
        async with db.transaction() as session:
            stream = await streams.create_stream(
                session,
                title="Scale test",
                scheduled_start=now - timedelta(minutes=5),
                scheduled_end=now + timedelta(hours=2),
                anchor_ids=[anchor.id],
                product_ids=[p.id for p in items],
            )
            assert stream.id is not None
            await streams.start_stream(session, stream.id, now=now)
        return Seeded(staff, people, stream.id, [int(p.id) for p in items if p.id is not None])
    finally:
        await db.dispose()


def new_database(server: PostgresServer) -> str:
    """A fresh database on a private server."""
    return server.create_database(f"lc_scale_{uuid.uuid4().hex[:10]}")


@dataclass
class Outcome:
    """What a buyer's attempt at one purchase came to."""

    key: str
    quantity: int
    order_id: int | None = None
    status: str | None = None  # final HTTP outcome: "paid", "refused" (a 4xx), or None (gave up)
    attempts: int = 0
    errors: list[str] = field(default_factory=list)


async def buy(
    clients: list[httpx.AsyncClient], buyer: User, stream_id: int, product_id: int, quantity: int, *, start: int = 0, deadline: float = 60.0
) -> Outcome:
    """Place and pay one order, retrying a failed request with the same Idempotency-Key on the next instance."""
    outcome = Outcome(key=str(uuid.uuid4()), quantity=quantity)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + deadline
    turn = start
    body = {"items": [{"product_id": product_id, "quantity": quantity}]}
    headers = {**buyer.headers, "Idempotency-Key": outcome.key}
    while outcome.order_id is None:
        response = await _attempt(
            clients[turn % len(clients)], "POST", f"/api/streams/{stream_id}/orders", outcome, json=body, headers=headers
        )
        turn += 1
        if response is not None and response.status_code in (200, 201):
            outcome.order_id = int(response.json()["id"])
        elif response is not None and response.status_code < 500:
            outcome.status = "refused"
            outcome.errors.append(response.text[:200])
            return outcome
        elif loop.time() > give_up:
            return outcome
        else:
            await asyncio.sleep(0.2)
    while True:
        response = await _attempt(
            clients[turn % len(clients)], "POST", f"/api/orders/{outcome.order_id}/pay", outcome, headers=buyer.headers
        )
        turn += 1
        if response is not None and response.status_code == 200:
            outcome.status = "paid"
            return outcome
        if response is not None and response.status_code < 500:
            outcome.status = "refused"
            outcome.errors.append(response.text[:200])
            return outcome
        if loop.time() > give_up:
            return outcome
        await asyncio.sleep(0.2)


async def _attempt(client: httpx.AsyncClient, method: str, path: str, outcome: Outcome, **kwargs: Any) -> httpx.Response | None:
    outcome.attempts += 1
    try:
        response = await client.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        outcome.errors.append(f"{type(exc).__name__}")
        return None
    if response.status_code >= 500:
        outcome.errors.append(f"{response.status_code} {response.headers.get('content-type')}")
        assert response.status_code in RETRYABLE_STATUS, f"{method} {path} answered {response.status_code}: {response.text[:300]}"
    return response


class ResumingViewer:
    """A websocket viewer that, whenever its connection ends, reconnects with `since=<last seq>`."""

    def __init__(self, first_url: str, resume_url: str, stream_id: int, token: str | None = None) -> None:
        self.first_url = first_url.replace("http://", "ws://")
        self.resume_url = resume_url.replace("http://", "ws://")
        self.stream_id = stream_id
        self.token = token
        self.events: list[dict[str, Any]] = []
        self.close_codes: list[int | None] = []
        self.connections = 0
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def last_seq(self) -> int:
        """The last seq received (0 before any)."""
        return int(self.events[-1]["seq"]) if self.events else 0

    def start(self) -> None:
        """Start watching in the background."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop watching."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_for_seq(self, seq: int, timeout: float = 30.0) -> None:
        """Wait until the event with `seq` has arrived."""
        async with asyncio.timeout(timeout):
            while self.last_seq < seq:
                await asyncio.sleep(0.05)

    def assert_complete(self, head: int) -> None:
        """Every event from 1 up to at least `head` arrived exactly once, in order."""
        seqs = [int(e["seq"]) for e in self.events]
        assert len(seqs) == len(set(seqs)), f"duplicates: {sorted({s for s in seqs if seqs.count(s) > 1})}"
        assert seqs == list(range(1, len(seqs) + 1)), f"gap or disorder: missing {sorted(set(range(1, max(seqs, default=0))) - set(seqs))}"
        assert len(seqs) >= head, f"only {len(seqs)} of {head} events arrived"
        assert all(e["stream_id"] == self.stream_id for e in self.events)

    async def _run(self) -> None:
        url = self.first_url
        while True:
            query = f"?since={self.last_seq}" + (f"&token={self.token}" if self.token else "")
            try:
                async with connect(f"{url}/ws/streams/{self.stream_id}{query}", open_timeout=5, close_timeout=2) as ws:
                    self.connections += 1
                    self.connected.set()
                    with contextlib.suppress(websockets.ConnectionClosed):
                        async for message in ws:
                            self.events.append(json.loads(message))
                    self.close_codes.append(ws.close_code)
            except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.ConnectionClosed):
                self.close_codes.append(None)
            url = self.resume_url
            await asyncio.sleep(0.1)


def stream_head(database_url: str, stream_id: int) -> int:
    """The last committed seq of a stream, read straight from the database."""
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        row = conn.execute("SELECT last_seq FROM stream_sequences WHERE stream_id = %s", (stream_id,)).fetchone()
    return int(row[0]) if row else 0


def query(database_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of a query, read straight from the database."""
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        return list(conn.execute(sql, params).fetchall())


@contextlib.asynccontextmanager
async def instance_clients(cluster: Cluster) -> AsyncIterator[list[httpx.AsyncClient]]:
    """One HTTP client per instance (direct, not through the front)."""
    clients = [httpx.AsyncClient(base_url=cluster.instance_url(i), timeout=20) for i in range(len(cluster.instances))]
    try:
        yield clients
    finally:
        for client in clients:
            await client.aclose()
