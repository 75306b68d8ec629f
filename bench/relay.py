"""Relay fan-out benchmark: N websocket viewers on one app instance, events at a fixed rate, against a yardstick.

Ours: this process appends events to the outbox (a SQLite file) in their own transactions; the
after-commit publisher sends them to Redis; one `livecommerce serve` instance relays them to the
viewers. Yardstick: a bare `websockets` server relaying Redis pub/sub with `websockets.broadcast()`
(the floor of what Python does here), fed envelopes of the same shape straight to Redis.

Both servers run for the whole benchmark. Each round connects the same viewer processes (the same
client code) to one server, then to the other (the order alternates between rounds), and steps
through the rates; figures are medians over the rounds, so both sides see the same machine load.
Viewers are raw-socket clients in separate processes that parse no more than they must. Latency runs
from the `sent` stamp the producer puts in each event (before the commit, for ours) to its arrival.

    python -m bench.relay            # full run, writes bench/results/relay.json
    python -m bench.relay --quick    # about 3 minutes
    python -m bench.relay --quick --no-fast-path   # ours through the per-client ASGI send
    python -m bench.relay --scale    # 10,000 viewers at 5 events/s, with resident memory per connection
                                     # (writes bench/results/relay-scale.json); --viewers 2000 for a smoke
    python -m bench.relay --instances 2   # the same over two app instances through Redis, viewers split
                                          # evenly, each against a yardstick process (relay-scale-2.json)
    python -m bench.relay --chat-burst    # 5,000 viewers, order-path events at 5/s and 200 chat messages/s
                                          # from 600 signed-in senders (relay-chat-burst.json)

The scale modes' goal is p99 < 200 ms (issue #12). Viewer processes open at most 200 handshakes at a
time each. In --chat-burst the senders post `chat.send` over their own websockets (they are viewers
too) within the deployment's default limits, and the order-path events are `stock.changed` as the
catalog emits them for an order; the yardstick gets the same chat messages published to Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "relay.json"
REDIS_URL = os.environ.get("LIVECOMMERCE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
EVENT_TYPE = "stock.changed"
GOAL_P99_MS = 100.0
SCALE_GOAL_P99_MS = 200.0  # issue #12's "Scale" goals: 10,000 viewers, two instances, a chat burst
CHAT_RATE = 200.0  # chat messages/s of --chat-burst
CHAT_BURST_EVENT_RATE = 5  # order-path events/s beside the chat burst
# Senders at 200/s over 600 users post one message each 3 s: under the default per-user limit (5 per 10 s)
# and the websocket's (60 a minute), so the burst runs with the deployment's own limits.
CHAT_SENDERS = 600
GOAL_RATIO = 0.9
DRAIN_SECONDS = 5.0  # how long a step waits for late deliveries after the last event
QUIET_SECONDS = 0.25  # a step starts once the viewers have received nothing for this long (the last step's backlog is gone)
SATURATED_P99_MS = 1000.0  # a server this far behind (or losing events) is not stepped up further in that round
TYPE_MARK = f'"type":"{EVENT_TYPE}"'.encode()
CHAT_MARK = b'"type":"chat.message"'
CONNECT_WAVE = 200  # handshakes a viewer process has under way at once (10,000 at once time out)
CONNECT_SECONDS = 180.0  # how long a viewer process may take to open all its connections


# --- viewers (separate processes) --------------------------------------------------------------


class Viewer(asyncio.Protocol):
    """A websocket client reduced to what the benchmark needs: handshake, text frames, pongs."""

    def __init__(self, path: str, host: str, pool: ViewerPool) -> None:
        self.path, self.host, self.pool = path, host, pool
        self.buffer = b""
        self.open = False
        self.count = 0
        self.last_seq = 0
        self.gaps = 0
        self.chats = 0
        self.transport: asyncio.Transport | None = None

    def send_text(self, text: str) -> None:
        """Send a masked text frame (what a client sends)."""
        assert self.transport is not None
        payload = text.encode()
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        length = len(payload)
        head = bytes([0x81, 0x80 | length]) if length < 126 else bytes([0x81, 0x80 | 126]) + length.to_bytes(2, "big")
        self.transport.write(head + mask + masked)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport is not an asyncio.Transport subclass
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(  # type: ignore[union-attr]
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if self.open and not self.pool.closing:
            self.pool.lost += 1
        elif not self.open:
            self.pool.handshake_failed()

    def data_received(self, data: bytes) -> None:
        self.pool.last_data = time.monotonic()
        if self.buffer:
            data = self.buffer + data
            self.buffer = b""
        if not self.open:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = data
                return
            if not data.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(data[:200])
            data = data[end + 4 :]
            self.open = True
            self.pool.opened()
        self._frames(data)

    def _frames(self, buf: bytes) -> None:
        pos, size = 0, len(buf)
        pool = self.pool
        while size - pos >= 2:
            opcode = buf[pos] & 0x0F
            length = buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            start, end = pos + head, pos + head + length
            if end > size:
                break
            pos = end
            if opcode == 1:
                if not buf.startswith(b'{"seq":', start):
                    # Not part of the log: a refused chat message comes back to its sender alone.
                    if buf.find(b'"chat.refused"', start, end) >= 0:
                        pool.refused += 1
                    continue
                # The envelope begins {"seq":N,"type":"..." (ours and the yardstick's alike).
                comma = buf.find(b",", start + 7, end)
                seq = int(buf[start + 7 : comma])
                if self.last_seq and seq != self.last_seq + 1:
                    self.gaps += 1
                self.last_seq = seq
                if buf.startswith(TYPE_MARK, comma + 1):
                    # ...,"phase":P,"sent":T}} ends the bench's events.
                    sent_at = buf.rfind(b'"sent":', start, end)
                    phase_at = buf.rfind(b'"phase":', start, sent_at)
                    if int(buf[phase_at + 8 : sent_at - 1]) == pool.phase:
                        self.count += 1
                        pool.arrived(float(buf[sent_at + 7 : end - 2]))
                elif buf.startswith(CHAT_MARK, comma + 1):
                    # ...,"text":"bench P T"}} ends a bench sender's message.
                    text_at = buf.rfind(b'"text":"bench ', start, end)
                    if text_at >= 0:
                        phase, sent = buf[text_at + 14 : end - 3].split(b" ")
                        if int(phase) == pool.phase:
                            self.chats += 1
                            pool.chat_arrived(float(sent))
            elif opcode == 9 and self.transport is not None:  # ping → masked pong
                payload = buf[start:end]
                mask = os.urandom(4)
                masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + mask + masked)
            elif opcode == 8:
                pool.closed_by_server += 1
        if pos < size:
            self.buffer = buf[pos:]


@dataclass
class ViewerPool:
    """The viewers of one process and what they saw during the current phase."""

    total: int
    phase: int = -1
    open: int = 0
    lost: int = 0
    failed: int = 0  # connections that closed before their handshake completed
    closed_by_server: int = 0
    refused: int = 0  # chat.refused answers to this process's senders
    closing: bool = False
    histogram: Counter[int] = field(default_factory=Counter)  # latency in units of 0.1 ms
    chat_histogram: Counter[int] = field(default_factory=Counter)
    last_arrival: float = 0.0
    last_data: float = 0.0
    all_open: asyncio.Event = field(default_factory=asyncio.Event)
    handshakes: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(CONNECT_WAVE))

    def opened(self) -> None:
        self.open += 1
        self.handshakes.release()
        if self.open + self.failed == self.total:
            self.all_open.set()

    def handshake_failed(self) -> None:
        self.failed += 1
        self.handshakes.release()
        if self.open + self.failed == self.total:
            self.all_open.set()

    def arrived(self, sent: float) -> None:
        now = time.time()
        self.histogram[int((now - sent) * 10_000)] += 1
        self.last_arrival = now

    def chat_arrived(self, sent: float) -> None:
        now = time.time()
        self.chat_histogram[int((now - sent) * 10_000)] += 1
        self.last_arrival = now


async def _connect_all(loop: asyncio.AbstractEventLoop, viewers: list[Viewer], pool: ViewerPool, host: str, port: int) -> None:
    """Open every connection, at most CONNECT_WAVE handshakes at a time, retrying refused connects."""
    for viewer in viewers:
        await pool.handshakes.acquire()
        for attempt in range(50):
            try:
                await loop.create_connection(lambda v=viewer: v, host, port)  # type: ignore[misc]
                break
            except OSError:  # the listen backlog overflowed: try again shortly
                if attempt == 49:
                    raise
                await asyncio.sleep(0.1)
    await asyncio.wait_for(pool.all_open.wait(), CONNECT_SECONDS)


async def _send_chat(senders: list[Viewer], phase: int, rate: float, count: int) -> int:
    """Post `count` chat messages at `rate`, the senders taking turns; the messages carry the phase and when they were sent."""
    started = time.monotonic()
    for i in range(count):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        text = f"bench {phase} {time.time():.6f}"
        senders[i % len(senders)].send_text(json.dumps({"type": "chat.send", "text": text}, separators=(",", ":")))
    return count


async def run_viewers(url: str, n: int, tokens: list[str] | None = None) -> None:
    """Connect n viewers (signed in with `tokens`, one each, if given), then obey commands on stdin.

    `go <phase>`, `chat <phase> <rate> <count>` (senders only), `sent` (wait for the chat to be sent
    and refusals to come back), `stop <events> <chats>`, `quit`; one JSON reply line each.
    """
    loop = asyncio.get_running_loop()
    host_port, _, path = url.removeprefix("ws://").partition("/")
    host, port = host_port.split(":")
    if tokens:
        n = len(tokens)
    pool = ViewerPool(n)
    paths = [f"/{path}?token={token}" for token in tokens] if tokens else ["/" + path] * n
    viewers = [Viewer(p, host_port, pool) for p in paths]
    connect_started = time.monotonic()
    await _connect_all(loop, viewers, pool, host, int(port))
    _reply({"ready": True, "connect_seconds": round(time.monotonic() - connect_started, 2), "handshakes_failed": pool.failed})
    chat: asyncio.Task[int] | None = None
    while True:
        command = (await loop.run_in_executor(None, sys.stdin.readline)).split()
        if not command or command[0] == "quit":
            break
        if command[0] == "go":
            deadline = time.monotonic() + 10
            while time.monotonic() - pool.last_data < QUIET_SECONDS and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            pool.phase = int(command[1])
            pool.histogram.clear()
            pool.chat_histogram.clear()
            pool.last_arrival = 0.0
            pool.refused = 0
            for viewer in viewers:
                viewer.count = viewer.chats = 0
            _reply({"ok": True})
        elif command[0] == "chat":
            chat = asyncio.create_task(_send_chat(viewers, int(command[1]), float(command[2]), int(command[3])))
            _reply({"ok": True})
        elif command[0] == "sent":
            sent = await chat if chat is not None else 0
            chat = None
            await asyncio.sleep(1.0)  # refusals on their way back
            _reply({"sent": sent, "refused": pool.refused})
        elif command[0] == "stop":
            events, chats = int(command[1]), int(command[2]) if len(command) > 2 else 0
            deadline = time.monotonic() + DRAIN_SECONDS
            while time.monotonic() < deadline and (min(v.count for v in viewers) < events or min(v.chats for v in viewers) < chats):
                await asyncio.sleep(0.02)
            _reply(
                {
                    "deliveries": sum(v.count for v in viewers),
                    "min_per_viewer": min(v.count for v in viewers),
                    "chat_deliveries": sum(v.chats for v in viewers),
                    "min_chats_per_viewer": min(v.chats for v in viewers),
                    "gaps": sum(v.gaps for v in viewers),
                    "lost_connections": pool.lost,
                    "closed_by_server": pool.closed_by_server,
                    "last_arrival": pool.last_arrival,
                    "histogram": dict(pool.histogram),
                    "chat_histogram": dict(pool.chat_histogram),
                }
            )
    pool.closing = True
    for viewer in viewers:
        if viewer.transport is not None:
            viewer.transport.close()


def _reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


# --- the yardstick server (separate process) ---------------------------------------------------


async def run_yardstick(port: int, redis_url: str, channel: str) -> None:
    """A bare websockets server broadcasting every Redis pub/sub message to all its clients."""
    import websockets
    from redis.asyncio import Redis

    clients: set[Any] = set()

    async def handler(ws: Any) -> None:
        clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    async with websockets.serve(handler, "127.0.0.1", port, compression=None):
        client = Redis.from_url(redis_url)
        pubsub = client.pubsub()
        await pubsub.subscribe(channel)
        async for message in pubsub.listen():
            if message["type"] == "message":
                websockets.broadcast(clients, message["data"].decode())


# --- orchestration -----------------------------------------------------------------------------


def _spawn(*args: str, stdin: int | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.relay", *args], cwd=ROOT, stdin=stdin, stdout=subprocess.PIPE, text=True, bufsize=1
    )


class Clients:
    """Viewer processes connected to a server's instances (split evenly), and optionally chat senders."""

    def __init__(self, urls: list[str], viewers: int, processes: int, senders: list[tuple[int, Path | None]] = ()) -> None:
        # Each instance gets the same number of processes, each process its share of that instance's viewers.
        self.instance_of: list[int] = []
        self.processes: list[subprocess.Popen[str]] = []
        per_instance = max(1, processes // len(urls))
        for index, (url, count) in enumerate(zip(urls, _shares(viewers, len(urls)), strict=True)):
            for n in _shares(count, per_instance):
                self.processes.append(_spawn("viewers", "--url", url, "--n", str(n), stdin=subprocess.PIPE))
                self.instance_of.append(index)
        # Senders are viewers too (they get every event); with tokens they post chat, else they only watch.
        self.senders: list[subprocess.Popen[str]] = []
        for index, (n, tokens) in enumerate(senders):
            args = ["--tokens", str(tokens)] if tokens is not None else []
            process = _spawn("viewers", "--url", urls[index % len(urls)], "--n", str(n), *args, stdin=subprocess.PIPE)
            self.processes.append(process)
            self.senders.append(process)
            self.instance_of.append(index % len(urls))

    async def ask(
        self, command: str | None, timeout: float = 90.0, only: list[subprocess.Popen[str]] | None = None
    ) -> list[dict[str, Any]]:
        """Send a command line to every process (None: just read); one JSON reply from each."""
        processes = self.processes if only is None else only
        for process in processes:
            if command is not None:
                assert process.stdin is not None
                process.stdin.write(command + "\n")
                process.stdin.flush()
        return [await asyncio.wait_for(asyncio.to_thread(_read_reply, p), timeout) for p in processes]

    def close(self) -> None:
        for process in self.processes:
            with contextlib.suppress(Exception):
                assert process.stdin is not None
                process.stdin.write("quit\n")
                process.stdin.flush()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def _shares(total: int, parts: int) -> list[int]:
    """`total` split into `parts` as evenly as whole numbers allow."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _read_reply(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"viewer process exited with {process.wait()}")
    reply: dict[str, Any] = json.loads(line)
    return reply


Produce = Callable[[int, int], Awaitable[None]]


@dataclass
class Chat:
    """How a server gets its chat burst: posted by signed-in senders (ours), or published to Redis (the yardstick)."""

    senders: list[tuple[int, Path | None]]  # per sender process: how many, and their tokens (None: they only watch)
    publish: Callable[[int, float], Awaitable[None]] | None = None  # (phase, sent) -> one message, when not posted


@dataclass
class Target:
    """A server under test (one or more instances): where viewers connect and how an event is produced."""

    name: str
    urls: list[str]
    produce: Produce
    stop: Callable[[], Awaitable[None]]
    pids: list[int] = field(default_factory=list)  # the server processes, for their resident memory
    chat: Chat | None = None


async def _step(
    clients: Clients, target: Target, phase: int, viewers: int, rate: int, duration: float, chat_rate: float = 0.0
) -> dict[str, Any]:
    """One load step on already connected viewers: produce at `rate` (and chat at `chat_rate`) for `duration`, collect."""
    await clients.ask(f"go {phase}")
    total = int(rate * duration)
    chat_total = int(chat_rate * duration)
    chat_task: asyncio.Task[None] | None = None
    if chat_total and target.chat is not None:
        if target.chat.publish is None:
            for process, count in zip(clients.senders, _shares(chat_total, len(clients.senders)), strict=True):
                await clients.ask(f"chat {phase} {chat_rate / len(clients.senders)} {count}", only=[process])
        else:
            chat_task = asyncio.create_task(_publish_chat(target.chat.publish, phase, chat_rate, chat_total))
    started_wall = time.time()
    started = time.monotonic()
    for sent in range(total):
        delay = started + sent / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await target.produce(phase, sent)
    chats_sent = refused = 0
    if chat_task is not None:
        await chat_task
        chats_sent = chat_total
    elif chat_total and target.chat is not None:
        for reply in await clients.ask("sent", only=clients.senders):
            chats_sent += reply["sent"]
            refused += reply["refused"]
    replies = await clients.ask(f"stop {total} {chats_sent - refused}")
    step = {
        "viewers": viewers,
        "events_per_second": rate,
        "events": total,
        **_stats(replies, total, started_wall, duration),
    }
    if chat_total:
        histogram: Counter[int] = Counter()
        for reply in replies:
            histogram.update({int(k): v for k, v in reply["chat_histogram"].items()})
        step["chat"] = {
            "messages_per_second": chat_rate,
            "sent": chats_sent,
            "refused": refused,
            "min_per_viewer": min(r["min_chats_per_viewer"] for r in replies),
            "every_message_delivered": min(r["min_chats_per_viewer"] for r in replies) == chats_sent - refused and refused == 0,
            "p50_ms": _percentile(histogram, 0.50),
            "p99_ms": _percentile(histogram, 0.99),
            "max_ms": _percentile(histogram, 1.0),
        }
    if len(target.urls) > 1:
        step["instances"] = [
            _stats([r for r, i in zip(replies, clients.instance_of, strict=True) if i == index], total, started_wall, duration)
            for index in range(len(target.urls))
        ]
    return step


async def _publish_chat(publish: Callable[[int, float], Awaitable[None]], phase: int, rate: float, count: int) -> None:
    started = time.monotonic()
    for i in range(count):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await publish(phase, time.time())


def _stats(replies: list[dict[str, Any]], total: int, started_wall: float, duration: float) -> dict[str, Any]:
    """Deliveries, loss and latency of the order-path events over some viewer processes' replies."""
    histogram: Counter[int] = Counter()
    for reply in replies:
        histogram.update({int(k): v for k, v in reply["histogram"].items()})
    deliveries = sum(r["deliveries"] for r in replies)
    span = max(r["last_arrival"] for r in replies) - started_wall
    return {
        "deliveries": deliveries,
        # Over the time from the first event sent to the last one delivered: falling behind lowers it.
        "deliveries_per_second": round(deliveries / max(span, duration)),
        "min_per_viewer": min(r["min_per_viewer"] for r in replies),
        "gaps": sum(r["gaps"] for r in replies),
        "lost_connections": sum(r["lost_connections"] + r["closed_by_server"] for r in replies),
        "every_event_delivered": min(r["min_per_viewer"] for r in replies) == total and sum(r["gaps"] for r in replies) == 0,
        "p50_ms": _percentile(histogram, 0.50),
        "p99_ms": _percentile(histogram, 0.99),
        "max_ms": _percentile(histogram, 1.0),
    }


def _percentile(histogram: Counter[int], q: float) -> float | None:
    count = sum(histogram.values())
    if not count:
        return None
    rank = max(1, round(q * count))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket / 10
    return None


async def _ours(fast_path: bool, instances: int = 1, senders: int = 0, sender_processes: int = 2) -> Target:
    """`livecommerce serve` x instances on one database and one Redis namespace; `senders` signed-in users to chat."""
    from livecommerce.accounts.models import Role, User
    from livecommerce.accounts.service import issue_tokens
    from livecommerce.broadcasts import service as streams
    from livecommerce.broadcasts.events import append_event
    from livecommerce.kit.db import Database, create_engine
    from livecommerce.kit.settings import Settings
    from livecommerce.main.migrate import upgrade
    from livecommerce.main.registry import load_models
    from streams.relay.namespace import redis_namespace
    from streams.relay.publisher import Publisher
    from streams.relay.redis import RedisBus, connect_redis
    from tests.e2e.servers import start_server

    prefix = f"lcbench{uuid.uuid4().hex[:6]}"
    workdir = Path(tempfile.mkdtemp(prefix="lc-bench-db-"))
    url = f"sqlite:///{workdir}/bench.db"
    upgrade(url)
    load_models()
    settings = Settings(database_url=url, redis_url=REDIS_URL, redis_prefix=prefix)
    db = Database(create_engine(settings))
    redis = connect_redis(REDIS_URL)
    # The servers listen under the deployment's namespace (the prefix and the id its database holds).
    publisher = Publisher(RedisBus(redis, await redis_namespace(db, settings)), db)
    db.on_commit(publisher.on_commit)
    await publisher.start()
    now = datetime.now(UTC)
    async with db.transaction() as session:
        stream = await streams.create_stream(
            session, title="bench", scheduled_start=now, scheduled_end=now + timedelta(hours=1), anchor_ids=[], product_ids=[]
        )
        assert stream.id is not None
        await streams.start_stream(session, stream.id, now=now)
        users = [User(username=f"bench{i}", password_hash="!", role=Role.viewer, display_name=f"观众{i}") for i in range(senders)]
        session.add_all(users)
        await session.flush()
    stream_id = stream.id
    # Chat senders are signed-in viewers with tokens of their own, split over a few processes.
    token_files: list[tuple[int, Path | None]] = []
    for index in range(sender_processes if senders else 0):
        mine = users[index::sender_processes]
        path = workdir / f"tokens-{index}.txt"
        path.write_text("\n".join(issue_tokens(u.id or 0, u.token_version, settings, now).access_token for u in mine) + "\n")
        token_files.append((len(mine), path))
    env = {
        "LIVECOMMERCE_DATABASE_URL": url,
        "LIVECOMMERCE_REDIS_URL": REDIS_URL,
        "LIVECOMMERCE_REDIS_PREFIX": prefix,
        "LIVECOMMERCE_RUN_SCHEDULER": "false",
        "LIVECOMMERCE_RATE_LIMITS_ENABLED": "false",
        "LIVECOMMERCE_LOG_LEVEL": "WARNING",
        "LIVECOMMERCE_RELAY_FAST_PATH": "true" if fast_path else "false",
        "LIVECOMMERCE_RELAY_VIEWER_BUFFER": "4096",
        "LIVECOMMERCE_SECRET_KEY": settings.secret_key,
    }
    servers = [await asyncio.to_thread(start_server, env) for _ in range(instances)]

    async def produce(phase: int, i: int) -> None:
        async with db.transaction() as session:
            await append_event(session, stream_id, EVENT_TYPE, {"product_id": 1, "stock": i, "phase": phase, "sent": time.time()})

    async def stop() -> None:
        for server in servers:
            await asyncio.to_thread(server.stop)
        await publisher.stop()
        await db.dispose()
        keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()

    return Target(
        "ours",
        [f"{server.ws_url}/ws/streams/{stream_id}" for server in servers],
        produce,
        stop,
        [server.process.pid for server in servers],
        Chat(token_files) if senders else None,
    )


async def _yardstick(instances: int = 1, senders: int = 0, sender_processes: int = 2) -> Target:
    from redis.asyncio import Redis

    from tests.e2e.servers import free_port

    channel = f"lcbench-yardstick-{uuid.uuid4().hex[:6]}"
    ports = [free_port() for _ in range(instances)]
    servers = [_spawn("yardstick", "--port", str(port), "--channel", channel) for port in ports]
    redis = Redis.from_url(REDIS_URL)
    seq = 0
    deadline = time.monotonic() + 20
    while await redis.pubsub_numsub(channel) != [(channel.encode(), instances)]:  # all subscribed: ready
        if time.monotonic() > deadline or any(server.poll() is not None for server in servers):
            raise RuntimeError("the yardstick server did not start")
        await asyncio.sleep(0.1)

    async def publish(event_type: str, data: dict[str, Any]) -> None:
        nonlocal seq
        seq += 1
        envelope = {"seq": seq, "type": event_type, "stream_id": 1, "ts": datetime.now(UTC).isoformat(), "data": data}
        await redis.publish(channel, json.dumps(envelope, separators=(",", ":"), ensure_ascii=False))

    async def produce(phase: int, i: int) -> None:
        await publish(EVENT_TYPE, {"product_id": 1, "stock": i, "phase": phase, "sent": time.time()})

    async def chat(phase: int, sent: float) -> None:
        # What ours sends its public viewers for a chat message, posted straight to Redis.
        await publish("chat.message", {"message_id": seq + 1, "author": "观*", "text": f"bench {phase} {sent:.6f}"})

    async def stop() -> None:
        for server in servers:
            server.kill()
            server.wait(10)
        await redis.aclose()

    share = _shares(senders, sender_processes)
    return Target(
        "yardstick",
        [f"ws://127.0.0.1:{port}/" for port in ports],
        produce,
        stop,
        [server.pid for server in servers],
        Chat([(n, None) for n in share], chat) if senders else None,
    )


async def _rounds(
    viewers: int,
    rates: list[int],
    duration: float,
    rounds: int,
    processes: int,
    fast_path: bool,
    instances: int = 1,
    senders: int = 0,
    chat_rate: float = 0.0,
) -> dict[str, list[Any]]:
    # Senders are among the viewers: the rest are anonymous watchers.
    targets = [await _ours(fast_path, instances, senders), await _yardstick(instances, senders)]
    steps: dict[str, list[Any]] = {t.name: [[] for _ in rates] for t in targets}
    memory: dict[str, list[float]] = {}
    connect: dict[str, list[float]] = {}
    phase = 0
    try:
        for round_no in range(rounds):
            for target in targets if round_no % 2 == 0 else targets[::-1]:
                clients = Clients(target.urls, viewers - senders, processes, target.chat.senders if target.chat else [])
                idle = [_resident_kib(pid) for pid in target.pids]
                try:
                    ready = await clients.ask(None, timeout=CONNECT_SECONDS + 30)  # every viewer connected
                    failed = sum(r["handshakes_failed"] for r in ready)
                    if failed:
                        raise RuntimeError(f"{failed} viewers of {target.name} could not connect")
                    connect.setdefault(target.name, []).append(max(r["connect_seconds"] for r in ready))
                    await asyncio.sleep(1.0)  # presence and coalesced events settle
                    connected = [_resident_kib(pid) for pid in target.pids]
                    if None not in idle and None not in connected:
                        memory.setdefault(target.name, []).append((sum(connected) - sum(idle)) / viewers)  # type: ignore[arg-type]
                    for i, rate in enumerate(rates):
                        phase += 1
                        step = await _step(clients, target, phase, viewers, rate, duration, chat_rate)
                        step["round"] = round_no
                        steps[target.name][i].append(step)
                        print(_line(target.name, step), file=sys.stderr, flush=True)
                        if not step["every_event_delivered"] or (step["p99_ms"] or 0) > SATURATED_P99_MS:
                            break  # saturated: higher rates would only measure the backlog
                finally:
                    await asyncio.to_thread(clients.close)
    finally:
        for target in targets:
            with contextlib.suppress(Exception):
                await target.stop()
    steps["resident_kib_per_connection"] = [{name: statistics.median(values) for name, values in memory.items()}]
    steps["connect_seconds"] = [{name: statistics.median(values) for name, values in connect.items()}]
    return steps


def _resident_kib(pid: int | None) -> int | None:
    """The resident set size of a process in KiB (Linux), None when unknown."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _median_step(viewers: int, rate: int, runs: list[dict[str, Any]], rounds: int) -> dict[str, Any]:
    """Medians over the rounds; a round that saturated at a lower rate (not run here) counts as an infinite latency."""

    def median(key: str, saturated: float | None) -> float | None:
        values = [r[key] for r in runs if r[key] is not None]
        if saturated is not None:
            values += [saturated] * (rounds - len(runs))
        value = statistics.median(values) if values else None
        return None if value is None or value == math.inf else round(value, 1)

    return {
        "viewers": viewers,
        "events_per_second": rate,
        "offered_deliveries_per_second": viewers * rate,
        "rounds_run": len(runs),
        # Over the rounds that ran this step: the others had already fallen behind.
        "deliveries_per_second": median("deliveries_per_second", None),
        "p50_ms": median("p50_ms", math.inf),
        "p99_ms": median("p99_ms", math.inf),
        "max_ms": median("max_ms", math.inf),
        "every_event_delivered": len(runs) == rounds and all(r["every_event_delivered"] for r in runs),
        "rounds_with_loss": sum(not r["every_event_delivered"] for r in runs),
        "lost_connections": sum(r["lost_connections"] for r in runs),
        **_median_extras(runs, rounds),
    }


def _median_extras(runs: list[dict[str, Any]], rounds: int) -> dict[str, Any]:
    """Medians of the per-instance figures and of the chat messages, when the steps have them."""
    extras: dict[str, Any] = {}

    def median(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return round(statistics.median(known), 1) if known else None

    with_instances = [r["instances"] for r in runs if "instances" in r]
    if with_instances:
        extras["instances"] = [
            {
                "deliveries_per_second": median([i[index]["deliveries_per_second"] for i in with_instances]),
                "p99_ms": median([i[index]["p99_ms"] for i in with_instances]),
                "every_event_delivered": len(with_instances) == rounds and all(i[index]["every_event_delivered"] for i in with_instances),
            }
            for index in range(len(with_instances[0]))
        ]
    chats = [r["chat"] for r in runs if "chat" in r]
    if chats:
        extras["chat"] = {
            "messages_per_second": chats[0]["messages_per_second"],
            "sent": sum(c["sent"] for c in chats),
            "refused": sum(c["refused"] for c in chats),
            "p50_ms": median([c["p50_ms"] for c in chats]),
            "p99_ms": median([c["p99_ms"] for c in chats]),
            "every_message_delivered": len(chats) == rounds and all(c["every_message_delivered"] for c in chats),
        }
    return extras


def _knee(steps: list[dict[str, Any]], goal_p99_ms: float = GOAL_P99_MS) -> int | None:
    """The first offered load (deliveries/s) whose median p99 passed the goal or that lost an event."""
    for step in steps:
        if step["p99_ms"] is None or step["p99_ms"] > goal_p99_ms or not step["every_event_delivered"]:
            return int(step["offered_deliveries_per_second"])
    return None


def _ratio(value: float | None, yardstick: float | None) -> float | None:
    return round(value / yardstick, 3) if value is not None and yardstick else None


def _row(
    metric: str,
    value: Any,
    unit: str | None,
    yardstick: Any,
    *,
    ratio: float | None = None,
    goal: str | None = None,
    met: bool | None = None,
) -> dict[str, Any]:
    """One row of the summary table."""
    return {"metric": metric, "value": value, "unit": unit, "yardstick": yardstick, "ratio": ratio, "goal": goal, "met": met}


def _compared(metric: str, mine: dict[str, Any], theirs: dict[str, Any], key: str, unit: str) -> dict[str, Any]:
    """A row of one figure beside the yardstick's, with their ratio and no goal."""
    return _row(metric, mine[key], unit, theirs[key], ratio=_ratio(mine[key], theirs[key]))


def _summary(
    ours: list[dict[str, Any]], yardstick: list[dict[str, Any]], knees: dict[str, int | None], goal_p99_ms: float = GOAL_P99_MS
) -> list[dict[str, Any]]:
    goal, yard = ours[0], yardstick[0]
    load = f"{goal['viewers']}x{goal['events_per_second']}/s"
    ratio = _ratio(goal["deliveries_per_second"], yard["deliveries_per_second"])
    p99_met = goal["p99_ms"] is not None and goal["p99_ms"] < goal_p99_ms
    rows = [
        _row(
            f"deliveries/s at {load}",
            goal["deliveries_per_second"],
            "msg/s",
            yard["deliveries_per_second"],
            ratio=ratio,
            goal=f">= {GOAL_RATIO:.0%} of yardstick",
            met=ratio is not None and ratio >= GOAL_RATIO,
        ),
        _compared(f"p50 latency at {load}", goal, yard, "p50_ms", "ms"),
        {**_compared(f"p99 latency at {load}", goal, yard, "p99_ms", "ms"), "goal": f"< {goal_p99_ms:.0f} ms", "met": p99_met},
        _row(
            f"every event delivered at {load}",
            goal["every_event_delivered"],
            None,
            yard["every_event_delivered"],
            goal="all rounds",
            met=goal["every_event_delivered"],
        ),
        _row(
            f"knee (offered deliveries/s where p99 > {goal_p99_ms:.0f} ms)",
            knees["ours"],
            "msg/s",
            knees["yardstick"],
            ratio=_ratio(knees["ours"], knees["yardstick"]),
        ),
    ]
    for index, (mine, theirs) in enumerate(zip(goal.get("instances", []), yard.get("instances", []), strict=True)):
        ratio = _ratio(mine["deliveries_per_second"], theirs["deliveries_per_second"])
        rows.append(
            {
                **_compared(f"instance {index + 1}: deliveries/s at {load}", mine, theirs, "deliveries_per_second", "msg/s"),
                "goal": f">= {GOAL_RATIO:.0%} of yardstick process {index + 1}",
                "met": ratio is not None and ratio >= GOAL_RATIO,
            }
        )
        rows.append(
            {
                **_compared(f"instance {index + 1}: p99 latency at {load}", mine, theirs, "p99_ms", "ms"),
                "goal": f"< {goal_p99_ms:.0f} ms, every event delivered",
                "met": mine["p99_ms"] is not None and mine["p99_ms"] < goal_p99_ms and mine["every_event_delivered"],
            }
        )
    if "chat" in goal and "chat" in yard:
        mine, theirs = goal["chat"], yard["chat"]
        rows.append(_compared(f"chat p99 at {mine['messages_per_second']:g} messages/s", mine, theirs, "p99_ms", "ms"))
        rows.append(
            _row("chat: every message delivered, none refused", mine["every_message_delivered"], None, theirs["every_message_delivered"])
        )
    for mine, theirs in zip(ours[1:], yardstick[1:], strict=True):
        at = f"{mine['viewers']}x{mine['events_per_second']}/s"
        rows.append(_compared(f"p99 latency at {at}", mine, theirs, "p99_ms", "ms"))
        rows.append(_compared(f"deliveries/s at {at}", mine, theirs, "deliveries_per_second", "msg/s"))
    return rows


def run(
    quick: bool,
    fast_path: bool = True,
    scale: bool = False,
    viewers: int | None = None,
    instances: int = 1,
    chat_burst: bool = False,
    senders: int = CHAT_SENDERS,
) -> dict[str, Any]:
    """Run the benchmark and return its figures (written to bench/results/relay.json, relay-scale*.json or relay-chat-burst.json)."""
    chat_rate = CHAT_RATE if chat_burst else 0.0
    scale = scale or instances > 1
    if chat_burst:
        viewers = viewers or 5000
        rates, rounds, goal_p99 = [CHAT_BURST_EVENT_RATE], 2, SCALE_GOAL_P99_MS
    elif scale:
        viewers = viewers or 10_000
        rates, rounds, goal_p99 = [5], 2, SCALE_GOAL_P99_MS
    else:
        viewers = viewers or 1000
        rates = [50, 100, 150, 200] if quick else [50, 75, 100, 150, 200, 300]
        rounds, goal_p99 = (3 if quick else 4), GOAL_P99_MS
    senders = senders if chat_burst else 0
    duration = 5.0 if chat_burst else 3.0 if quick or scale else 5.0
    processes = 4 if scale or chat_burst else 2
    steps = asyncio.run(_rounds(viewers, rates, duration, rounds, processes, fast_path, instances, senders, chat_rate))
    memory = steps.pop("resident_kib_per_connection")[0]
    connect = steps.pop("connect_seconds")[0]
    result = summarize(steps, viewers=viewers, rates=rates, rounds=rounds, goal_p99_ms=goal_p99)
    result["resident_kib_per_connection"] = memory
    result["connect_seconds"] = connect
    result.update(
        {
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "load_average": os.getloadavg()},
            "instances": instances,
            "chat_senders": senders,
            "chat_messages_per_second": chat_rate,
            "viewer_processes": processes,
            "duration_seconds_per_step": duration,
            "fast_path": fast_path,
        }
    )
    if chat_burst:
        out = RESULTS.with_name("relay-chat-burst.json")
    elif scale:
        out = RESULTS.with_name("relay-scale.json" if instances == 1 else f"relay-scale-{instances}.json")
    else:
        out = RESULTS
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    return result


def summarize(
    steps: dict[str, list[Any]], *, viewers: int, rates: list[int], rounds: int, goal_p99_ms: float = GOAL_P99_MS
) -> dict[str, Any]:
    """Medians, knees and the summary rows from every round's steps."""
    ours = [_median_step(viewers, rate, r, rounds) for rate, r in zip(rates, steps["ours"], strict=True)]
    yardstick = [_median_step(viewers, rate, r, rounds) for rate, r in zip(rates, steps["yardstick"], strict=True)]
    knees = {"ours": _knee(ours, goal_p99_ms), "yardstick": _knee(yardstick, goal_p99_ms)}
    return {
        "viewers": viewers,
        "rounds": rounds,
        "goal_p99_ms": goal_p99_ms,
        "summary": _summary(ours, yardstick, knees, goal_p99_ms),
        "ours": ours,
        "yardstick": yardstick,
        "knee_offered_deliveries_per_second": knees,
        "rounds_raw": steps,
        "notes": (
            f"medians over interleaved rounds; knee = first offered load (viewers x events/s) whose median p99 passed "
            f"{goal_p99_ms:.0f} ms or that lost an event, None = not reached in the steps run; deliveries/s = deliveries over the time "
            "from the first event sent to the last delivered; a server that lost events or passed 1 s p99 is not stepped "
            "up further in that round, and counts as infinitely late at the rates above (None: saturated); with several "
            "instances, each instance's figures are over the viewers connected to it, against the yardstick process with "
            "as many; chat latency runs from the sender's write of chat.send (ours) or the publish (yardstick) to arrival"
        ),
    }


def _line(name: str, step: dict[str, Any]) -> str:
    p50, p99 = step["p50_ms"], step["p99_ms"]
    return (
        f"{name:10} {step['viewers']}x{step['events_per_second']}/s: {step['deliveries_per_second']} deliveries/s, "
        f"p50 {p50 if p50 is None else f'{p50:.1f}'} ms, p99 {p99 if p99 is None else f'{p99:.1f}'} ms, "
        f"all delivered: {step['every_event_delivered']}"
        + "".join(
            f"; instance {i + 1}: p99 {part['p99_ms']} ms, {part['deliveries_per_second']}/s"
            for i, part in enumerate(step.get("instances", []))
        )
        + (f"; chat p99 {step['chat']['p99_ms']} ms, refused {step['chat']['refused']}" if "chat" in step else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    viewers = sub.add_parser("viewers")
    viewers.add_argument("--url", required=True)
    viewers.add_argument("--n", type=int, required=True)
    viewers.add_argument("--tokens", type=Path, default=None, help="a file of access tokens, one a line: signed-in chat senders")
    yardstick = sub.add_parser("yardstick")
    yardstick.add_argument("--port", type=int, required=True)
    yardstick.add_argument("--channel", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-fast-path", action="store_true", help="ours through the per-client ASGI send")
    parser.add_argument("--scale", action="store_true", help="10,000 viewers at 5 events/s, resident memory per connection")
    parser.add_argument("--viewers", type=int, default=None, help="how many viewers instead (a smoke run of --scale, say)")
    parser.add_argument("--instances", type=int, default=1, help="app instances through Redis (implies --scale), viewers split evenly")
    parser.add_argument("--chat-burst", action="store_true", help="5,000 viewers, order events at 5/s plus 200 chat messages/s")
    parser.add_argument("--senders", type=int, default=CHAT_SENDERS, help="signed-in chat senders of --chat-burst (among the viewers)")
    args = parser.parse_args()
    # 1,000 sockets per process need more than the usual 1,024 descriptors; children inherit this.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    if args.command == "viewers":
        tokens = args.tokens.read_text().split() if args.tokens else None
        asyncio.run(run_viewers(args.url, args.n, tokens))
    elif args.command == "yardstick":
        asyncio.run(run_yardstick(args.port, REDIS_URL, args.channel))
    else:
        result = run(
            args.quick,
            fast_path=not args.no_fast_path,
            scale=args.scale,
            viewers=args.viewers,
            instances=args.instances,
            chat_burst=args.chat_burst,
            senders=args.senders,
        )
        print(f"resident KiB per connection: {result['resident_kib_per_connection']}")
        print(f"seconds to connect every viewer: {result['connect_seconds']}; load average {result['machine']['load_average']}")
        for row in result["summary"]:
            print(
                f"{row['metric']:48} {row['value']!s:>8} {row['unit'] or '':6} yardstick {row['yardstick']!s:>8}  "
                f"ratio {row['ratio']!s:>6}  goal {row['goal'] or '-'}  met {row['met']}"
            )
        for name in ("ours", "yardstick"):
            for step in result[name]:
                print(_line(name, step))


if __name__ == "__main__":
    main()
