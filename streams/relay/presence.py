"""Viewer counts per stream, across instances: people, not connections.

A signed-in user watching in two tabs (or reloading the page) is one viewer; each anonymous
connection is one, since nothing honest tells two anonymous tabs apart.

Each instance counts its own websockets. With Redis, it writes into the stream's hash a field
named after itself holding its anonymous count, and one field per signed-in user it serves
(`u<id>@<instance>`), each value "count:expires_ms", refreshed by a heartbeat: an instance that
dies stops refreshing and its viewers fall out of the total within the TTL. The total is the
anonymous counts plus the number of distinct users.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from typing import Protocol

import structlog
from redis.asyncio import Redis

log = structlog.get_logger(__name__)


class Presence(Protocol):
    """Join/leave bookkeeping for this instance and the total over all instances."""

    async def start(self) -> None:
        """Start background work."""

    async def stop(self) -> None:
        """Stop background work and withdraw this instance's counts."""

    def joined(self, stream_id: int, viewer_id: int | None = None) -> None:
        """A viewer of this instance started watching (`viewer_id`: the signed-in user, or None)."""

    def left(self, stream_id: int, viewer_id: int | None = None) -> None:
        """A viewer of this instance stopped watching."""

    async def count(self, stream_id: int) -> int:
        """Viewers of the stream over every instance."""


class MemoryPresence:
    """Counts of this process only (embedded mode)."""

    def __init__(self) -> None:
        self.local: Counter[int] = Counter()  # anonymous connections per stream
        self.users: dict[int, Counter[int]] = {}  # per stream, connections per signed-in user

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Forget the counts."""
        self.local.clear()
        self.users.clear()

    def joined(self, stream_id: int, viewer_id: int | None = None) -> None:
        """Count one more connection."""
        if viewer_id is None:
            self.local[stream_id] += 1
        else:
            self.users.setdefault(stream_id, Counter())[viewer_id] += 1

    def left(self, stream_id: int, viewer_id: int | None = None) -> None:
        """Count one connection less."""
        if viewer_id is None:
            self.local[stream_id] -= 1
            if self.local[stream_id] <= 0:
                del self.local[stream_id]
            return
        users = self.users.get(stream_id)
        if users is None:
            return
        users[viewer_id] -= 1
        if users[viewer_id] <= 0:
            del users[viewer_id]
        if not users:
            del self.users[stream_id]

    async def count(self, stream_id: int) -> int:
        """This process's viewers of the stream."""
        return self.local.get(stream_id, 0) + len(self.users.get(stream_id, ()))


class RedisPresence(MemoryPresence):
    """Per-instance counts in `{prefix}:presence:{stream_id}` (see the module's docstring for the fields)."""

    def __init__(self, client: Redis, prefix: str, instance_id: str, *, ttl_seconds: float = 15.0, flush_seconds: float = 0.25) -> None:
        super().__init__()
        self.client = client
        self.prefix = prefix
        self.instance_id = instance_id
        self.ttl_ms = int(ttl_seconds * 1000)
        self.heartbeat_seconds = ttl_seconds / 3
        self.flush_seconds = flush_seconds
        self._dirty: set[int] = set()
        self._written: dict[int, set[str]] = {}  # the fields this instance has in each stream's hash
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def key(self, stream_id: int) -> str:
        """The stream's presence hash."""
        return f"{self.prefix}:presence:{stream_id}"

    async def start(self) -> None:
        """Start the flush/heartbeat loop."""
        self._task = asyncio.create_task(self._run(), name="relay-presence")

    async def stop(self) -> None:
        """Stop the loop and remove this instance's fields."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                for stream_id, fields in self._written.items():
                    if fields:
                        await self.client.hdel(self.key(stream_id), *fields)
        self._written.clear()
        await super().stop()

    def joined(self, stream_id: int, viewer_id: int | None = None) -> None:
        """Count one more connection; written to Redis shortly."""
        super().joined(stream_id, viewer_id)
        self._dirty.add(stream_id)
        self._wake.set()

    def left(self, stream_id: int, viewer_id: int | None = None) -> None:
        """Count one connection less; written to Redis shortly."""
        super().left(stream_id, viewer_id)
        self._dirty.add(stream_id)
        self._wake.set()

    async def count(self, stream_id: int) -> int:
        """Anonymous viewers of every live instance plus distinct signed-in users (expired fields are removed)."""
        fields = await self.client.hgetall(self.key(stream_id))
        now_ms = int(time.time() * 1000)
        total = 0
        users: set[str] = set()
        expired: list[bytes | str] = []
        for field, value in fields.items():
            name = field.decode() if isinstance(field, bytes) else str(field)
            text = value.decode() if isinstance(value, bytes) else str(value)
            count, _, expires = text.partition(":")
            if int(expires or 0) < now_ms:
                expired.append(field)
            elif name.startswith("u") and "@" in name:
                users.add(name.partition("@")[0])
            else:
                total += int(count)
        if expired:
            await self.client.hdel(self.key(stream_id), *expired)
        return total + len(users)

    async def _run(self) -> None:
        last_heartbeat = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.heartbeat_seconds):
                    await self._wake.wait()
            await asyncio.sleep(self.flush_seconds)  # gather a burst of joins into one write
            self._wake.clear()
            now = time.monotonic()
            streams = set(self._dirty)
            if now - last_heartbeat >= self.heartbeat_seconds:
                streams |= set(self._written)
                last_heartbeat = now
            self._dirty.clear()
            try:
                async with asyncio.timeout(2):
                    await self._write(streams)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down or hung: keep counting locally, write again later
                self._dirty |= streams
                log.warning("relay_presence_write_failed", error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(1.0)

    def _fields(self, stream_id: int) -> dict[str, int]:
        fields = {f"u{user}@{self.instance_id}": n for user, n in self.users.get(stream_id, Counter()).items()}
        if self.local.get(stream_id, 0) > 0:
            fields[self.instance_id] = self.local[stream_id]
        return fields

    async def _write(self, streams: set[int]) -> None:
        if not streams:
            return
        expires = int(time.time() * 1000) + self.ttl_ms
        wanted = {stream_id: self._fields(stream_id) for stream_id in streams}
        async with self.client.pipeline(transaction=False) as pipe:
            for stream_id, fields in wanted.items():
                gone = self._written.get(stream_id, set()) - set(fields)
                if gone:
                    pipe.hdel(self.key(stream_id), *gone)
                if fields:
                    pipe.hset(self.key(stream_id), mapping={name: f"{n}:{expires}" for name, n in fields.items()})
                    pipe.pexpire(self.key(stream_id), self.ttl_ms * 4)
            await pipe.execute()
        for stream_id, fields in wanted.items():
            if fields:
                self._written[stream_id] = set(fields)
            else:
                self._written.pop(stream_id, None)
