"""Relay fan-out benchmark: N websocket viewers on one app instance, events at a fixed rate.

Our path: this process appends events to the outbox (SQLite file) in their own transactions;
the after-commit publisher sends them to Redis; one `livecommerce serve` instance relays them
to N viewers. Yardstick: a bare `websockets` server relaying Redis pub/sub with
`websockets.broadcast()`, fed the same envelopes directly (no database).

Viewers run in a separate process, on raw sockets with a minimal frame parser, so that the
client side costs as little CPU as possible (the machine has 2 cores). Latency is measured
from the envelope's `ts` (stamped just before the commit, or the publish for the yardstick)
to its arrival at the viewer.

    python -m bench.relay            # full run, writes bench/results/relay.json
    python -m bench.relay --quick    # shorter
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "relay.json"
REDIS_URL = os.environ.get("LIVECOMMERCE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
EVENT_TYPE = "stock.changed"


# --- viewers (separate process) ----------------------------------------------------------------


class Viewer(asyncio.Protocol):
    """A websocket client reduced to what the benchmark needs: handshake, text frames, pongs."""

    def __init__(self, path: str, host: str, stats: dict[str, Any], connected: asyncio.Event, total: int) -> None:
        self.path, self.host, self.stats, self.connected, self.total = path, host, stats, connected, total
        self.buffer = b""
        self.open = False
        self.count = 0
        self.last_seq = 0
        self.gaps = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(  # type: ignore[union-attr]
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.open:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(self.buffer[:200])
            self.buffer = self.buffer[end + 4 :]
            self.open = True
            self.stats["open"] += 1
            if self.stats["open"] == self.total:
                self.connected.set()
        self._frames()

    def _frames(self) -> None:
        buf = self.buffer
        pos = 0
        now = time.time()
        latencies = self.stats["latencies"]
        while len(buf) - pos >= 2:
            opcode = buf[pos] & 0x0F
            length = buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if len(buf) - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if len(buf) - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            if len(buf) - pos < head + length:
                break
            payload = buf[pos + head : pos + head + length]
            pos += head + length
            if opcode == 1:
                message = json.loads(payload)
                if message.get("type") == EVENT_TYPE:
                    self.count += 1
                    latencies.append(now - message["data"]["sent"])
                seq = message.get("seq")
                if seq is not None:
                    if self.last_seq and seq != self.last_seq + 1:
                        self.gaps += 1
                    self.last_seq = seq
            elif opcode == 9 and self.transport is not None:  # ping → masked pong
                mask = os.urandom(4)
                masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + mask + masked)
        self.buffer = buf[pos:]


async def run_viewers(url: str, n: int, ready_file: str, go_file: str, duration: float) -> dict[str, Any]:
    """Connect n viewers, signal readiness, collect until `duration` after the go signal."""
    loop = asyncio.get_running_loop()
    host_port, _, path = url.removeprefix("ws://").partition("/")
    host, port = host_port.split(":")
    stats: dict[str, Any] = {"open": 0, "latencies": []}
    connected = asyncio.Event()
    viewers: list[Viewer] = []
    for _ in range(n):
        viewer = Viewer("/" + path, host_port, stats, connected, n)
        viewers.append(viewer)
        await loop.create_connection(lambda v=viewer: v, host, int(port))  # type: ignore[misc]
    await asyncio.wait_for(connected.wait(), 60)
    Path(ready_file).write_text("ready")
    while not Path(go_file).exists():
        await asyncio.sleep(0.01)
    stats["latencies"].clear()
    for viewer in viewers:
        viewer.count = 0
    await asyncio.sleep(duration)
    for viewer in viewers:
        if viewer.transport is not None:
            viewer.transport.close()
    latencies = sorted(stats["latencies"])
    return {
        "deliveries": len(latencies),
        "min_per_viewer": min(v.count for v in viewers),
        "gaps": sum(v.gaps for v in viewers),
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else None,
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else None,
        "max_ms": 1000 * latencies[-1] if latencies else None,
    }


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


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bench.relay", *args], cwd=ROOT, stdout=subprocess.PIPE)


async def _drive(url: str, viewers: int, rate: int, duration: float, produce: Any) -> dict[str, Any]:
    """One load step: start the viewer process, produce at `rate` for `duration`, collect."""
    work = Path(tempfile.mkdtemp(prefix="lc-bench-"))
    ready, go = work / "ready", work / "go"
    process = _spawn("viewers", "--url", url, "--n", str(viewers), "--ready", str(ready), "--go", str(go), "--duration", str(duration + 2))
    try:
        while not ready.exists():
            if process.poll() is not None:
                raise RuntimeError("viewer process died")
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # let presence and coalesced events settle
        go.write_text("go")
        await asyncio.sleep(0.2)  # the viewers notice `go` (and reset their counters) before the first event
        started = time.monotonic()
        sent = 0
        total = int(rate * duration)
        while sent < total:
            due = started + sent / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await produce(sent)
            sent += 1
        out, _ = await asyncio.to_thread(process.communicate, timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    result = json.loads(out)
    result.update(
        {
            "viewers": viewers,
            "events_per_second": rate,
            "events": total,
            "deliveries_per_second": round(result["deliveries"] / duration),
            "every_event_delivered": result["min_per_viewer"] == total and result["gaps"] == 0,
        }
    )
    return result


async def _ours(viewers: int, rates: list[int], duration: float) -> list[dict[str, Any]]:
    from livecommerce.db import Database, create_engine
    from livecommerce.events import append_event
    from livecommerce.migrate import upgrade
    from livecommerce.registry import load_models
    from livecommerce.settings import Settings
    from streams import service as streams
    from streams.relay.publisher import Publisher
    from streams.relay.redis import RedisBus, connect_redis
    from tests.e2e.servers import start_server

    prefix = f"lcbench{uuid.uuid4().hex[:6]}"
    url = f"sqlite:///{tempfile.mkdtemp(prefix='lc-bench-db-')}/bench.db"
    upgrade(url)
    load_models()
    settings = Settings(database_url=url, redis_url=REDIS_URL, redis_prefix=prefix)
    db = Database(create_engine(settings))
    redis = connect_redis(REDIS_URL)
    publisher = Publisher(RedisBus(redis, prefix))
    db.on_commit(publisher.on_commit)
    await publisher.start()
    now = datetime.now(UTC)
    async with db.transaction() as session:
        stream = await streams.create_stream(
            session, title="bench", scheduled_start=now, scheduled_end=now + timedelta(hours=1), anchor_ids=[], product_ids=[]
        )
        assert stream.id is not None
        await streams.start_stream(session, stream.id, now=now)
    server = start_server(
        {
            "LIVECOMMERCE_DATABASE_URL": url,
            "LIVECOMMERCE_REDIS_URL": REDIS_URL,
            "LIVECOMMERCE_REDIS_PREFIX": prefix,
            "LIVECOMMERCE_RUN_SCHEDULER": "false",
            "LIVECOMMERCE_LOG_LEVEL": "WARNING",
            "LIVECOMMERCE_RELAY_VIEWER_BUFFER": "4096",
        }
    )

    async def produce(i: int) -> None:
        async with db.transaction() as session:
            await append_event(session, stream.id, EVENT_TYPE, {"product_id": 1, "stock": i, "sent": time.time()})

    try:
        return [await _drive(f"{server.ws_url}/ws/streams/{stream.id}", viewers, rate, duration, produce) for rate in rates]
    finally:
        server.stop()
        await publisher.stop()
        await db.dispose()
        keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def _yardstick(viewers: int, rates: list[int], duration: float) -> list[dict[str, Any]]:
    from redis.asyncio import Redis

    from tests.e2e.servers import free_port

    channel = f"lcbench-yardstick-{uuid.uuid4().hex[:6]}"
    port = free_port()
    server = _spawn("yardstick", "--port", str(port), "--channel", channel)
    redis = Redis.from_url(REDIS_URL)
    await asyncio.sleep(1.5)
    seq = 0

    async def produce(i: int) -> None:
        nonlocal seq
        seq += 1
        envelope = {
            "seq": seq,
            "type": EVENT_TYPE,
            "stream_id": 1,
            "ts": datetime.now(UTC).isoformat(),
            "data": {"product_id": 1, "stock": i, "sent": time.time()},
        }
        await redis.publish(channel, json.dumps(envelope, separators=(",", ":")))

    try:
        results = []
        for rate in rates:
            seq_before = seq
            result = await _drive(f"ws://127.0.0.1:{port}/", viewers, rate, duration, produce)
            result["first_seq"] = seq_before + 1
            results.append(result)
        return results
    finally:
        server.kill()
        await redis.aclose()


def _knee(steps: list[dict[str, Any]]) -> int | None:
    for step in steps:
        if step["p99_ms"] is None or step["p99_ms"] > 100 or not step["every_event_delivered"]:
            return int(step["events_per_second"] * step["viewers"])
    return None


def run(quick: bool) -> dict[str, Any]:
    """Run the benchmark and return its figures (also written to bench/results/relay.json)."""
    viewers = 1000
    duration = 3.0 if quick else 6.0
    rates = [50, 100, 200] if quick else [50, 100, 200, 400]

    async def both() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        ours = await _ours(viewers, rates, duration)
        yardstick = await _yardstick(viewers, rates, duration)
        return ours, yardstick

    ours, yardstick = asyncio.run(both())
    goal_ours, goal_yard = ours[0], yardstick[0]
    result = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "viewers": viewers,
        "duration_seconds_per_step": duration,
        "ours": ours,
        "yardstick": yardstick,
        "goal_1000x50": {
            "every_event_delivered": goal_ours["every_event_delivered"],
            "p99_ms": goal_ours["p99_ms"],
            "p99_under_100ms": goal_ours["p99_ms"] is not None and goal_ours["p99_ms"] < 100,
            "deliveries_ratio_to_yardstick": round(goal_ours["deliveries_per_second"] / max(1, goal_yard["deliveries_per_second"]), 3),
        },
        "knee_deliveries_per_second": {"ours": _knee(ours), "yardstick": _knee(yardstick)},
        "notes": "knee = first load (viewers x events/s) whose p99 passed 100 ms or lost an event; None = not reached in the steps run",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    viewers = sub.add_parser("viewers")
    viewers.add_argument("--url", required=True)
    viewers.add_argument("--n", type=int, required=True)
    viewers.add_argument("--ready", required=True)
    viewers.add_argument("--go", required=True)
    viewers.add_argument("--duration", type=float, required=True)
    yardstick = sub.add_parser("yardstick")
    yardstick.add_argument("--port", type=int, required=True)
    yardstick.add_argument("--channel", required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    # 1,000 sockets per process need more than the usual 1,024 descriptors; children inherit this.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    if args.command == "viewers":
        print(json.dumps(asyncio.run(run_viewers(args.url, args.n, args.ready, args.go, args.duration))))
    elif args.command == "yardstick":
        asyncio.run(run_yardstick(args.port, REDIS_URL, args.channel))
    else:
        result = run(args.quick)
        print(json.dumps({k: result[k] for k in ("goal_1000x50", "knee_deliveries_per_second")}, indent=2))
        for name in ("ours", "yardstick"):
            for step in result[name]:
                print(
                    f"{name:10} {step['viewers']}x{step['events_per_second']}/s: {step['deliveries_per_second']} deliveries/s, "
                    f"p50 {step['p50_ms']:.1f} ms, p99 {step['p99_ms']:.1f} ms, all delivered: {step['every_event_delivered']}"
                )


if __name__ == "__main__":
    main()
