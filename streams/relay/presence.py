"""Viewer counts per stream, across instances.

Each instance counts its own websockets. With Redis, it writes its count per stream into a
hash field named after itself, with an expiry time in the value, refreshed by a heartbeat:
an instance that dies stops refreshing and its viewers fall out of the total within the TTL.
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

    def joined(self, stream_id: int) -> None:
        """A viewer of this instance started watching."""

    def left(self, stream_id: int) -> None:
        """A viewer of this instance stopped watching."""

    async def count(self, stream_id: int) -> int:
        """Viewers of the stream over every instance."""


class MemoryPresence:
    """Counts of this process only (embedded mode)."""

    def __init__(self) -> None:
        self.local: Counter[int] = Counter()

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Forget the counts."""
        self.local.clear()

    def joined(self, stream_id: int) -> None:
        """Count one more viewer."""
        self.local[stream_id] += 1

    def left(self, stream_id: int) -> None:
        """Count one viewer less."""
        self.local[stream_id] -= 1
        if self.local[stream_id] <= 0:
            del self.local[stream_id]

    async def count(self, stream_id: int) -> int:
        """This process's viewers of the stream."""
        return self.local.get(stream_id, 0)


class RedisPresence(MemoryPresence):
    """Per-instance counts in `{prefix}:presence:{stream_id}` (field = instance, value = "count:expires_ms")."""

    def __init__(self, client: Redis, prefix: str, instance_id: str, *, ttl_seconds: float = 15.0, flush_seconds: float = 0.25) -> None:
        super().__init__()
        self.client = client
        self.prefix = prefix
        self.instance_id = instance_id
        self.ttl_ms = int(ttl_seconds * 1000)
        self.heartbeat_seconds = ttl_seconds / 3
        self.flush_seconds = flush_seconds
        self._dirty: set[int] = set()
        self._written: set[int] = set()
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
                for stream_id in self._written:
                    await self.client.hdel(self.key(stream_id), self.instance_id)
        self.local.clear()

    def joined(self, stream_id: int) -> None:
        """Count one more viewer; written to Redis shortly."""
        super().joined(stream_id)
        self._dirty.add(stream_id)
        self._wake.set()

    def left(self, stream_id: int) -> None:
        """Count one viewer less; written to Redis shortly."""
        super().left(stream_id)
        self._dirty.add(stream_id)
        self._wake.set()

    async def count(self, stream_id: int) -> int:
        """The sum of every live instance's count (expired fields are removed)."""
        fields = await self.client.hgetall(self.key(stream_id))
        now_ms = int(time.time() * 1000)
        total = 0
        expired: list[bytes | str] = []
        for field, value in fields.items():
            text = value.decode() if isinstance(value, bytes) else str(value)
            count, _, expires = text.partition(":")
            if int(expires or 0) < now_ms:
                expired.append(field)
            else:
                total += int(count)
        if expired:
            await self.client.hdel(self.key(stream_id), *expired)
        return total

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
                streams |= self._written
                last_heartbeat = now
            self._dirty.clear()
            try:
                await self._write(streams)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down: keep counting locally, write again later
                self._dirty |= streams
                log.warning("relay_presence_write_failed", error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(1.0)

    async def _write(self, streams: set[int]) -> None:
        if not streams:
            return
        expires = int(time.time() * 1000) + self.ttl_ms
        async with self.client.pipeline(transaction=False) as pipe:
            for stream_id in streams:
                count = self.local.get(stream_id, 0)
                if count > 0:
                    pipe.hset(self.key(stream_id), self.instance_id, f"{count}:{expires}")
                    pipe.pexpire(self.key(stream_id), self.ttl_ms * 4)
                else:
                    pipe.hdel(self.key(stream_id), self.instance_id)
            await pipe.execute()
        for stream_id in streams:
            if self.local.get(stream_id, 0) > 0:
                self._written.add(stream_id)
            else:
                self._written.discard(stream_id)
