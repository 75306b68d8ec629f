"""Coalesced `sales.updated` and `viewers.updated`: real outbox events, a few per second at most.

Every message carries a seq, so coalesced figures must be outbox events too. One coalescer
per deployment writes them (a second would double the events): in the embedded mode the one
process; at scale whichever instance holds a Redis lease (`SET NX PX`, renewed by its holder).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

import structlog
from redis.asyncio import Redis

from livecommerce.broadcasts.events import EventType, append_event, last_event_data
from livecommerce.broadcasts.service import live_stream_heads
from livecommerce.kit.db import Database
from livecommerce.ledger.service import stream_totals
from streams.relay.presence import Presence

log = structlog.get_logger(__name__)

PRESENCE_TIMEOUT_SECONDS = 0.5
LEASE_TIMEOUT_SECONDS = 1.0
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class Lease(Protocol):
    """The right to be the one writer of coalesced events."""

    async def hold(self) -> bool:
        """True while this instance holds the lease (acquiring or renewing it as needed)."""

    async def release(self) -> None:
        """Give the lease up."""


class LocalLease:
    """The embedded mode: one process, always the holder."""

    async def hold(self) -> bool:
        """Always held."""
        return True

    async def release(self) -> None:
        """Nothing to release."""


class RedisLease:
    """A lease on a Redis key: taken with SET NX PX, renewed only by its holder."""

    def __init__(self, client: Redis, key: str, holder: str, ttl_seconds: float = 5.0) -> None:
        self.client = client
        self.key = key
        self.holder = holder
        self.ttl_ms = int(ttl_seconds * 1000)
        self._valid_until = 0.0

    async def hold(self) -> bool:
        """Renew when a third of the TTL has passed; acquire when free. False on any doubt."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now < self._valid_until - 2 * self.ttl_ms / 3000:
            return True
        try:
            async with asyncio.timeout(LEASE_TIMEOUT_SECONDS):
                if now < self._valid_until and await self.client.eval(_RENEW, 1, self.key, self.holder, self.ttl_ms):  # type: ignore[misc]
                    self._valid_until = now + self.ttl_ms / 1000
                    return True
                if await self.client.set(self.key, self.holder, nx=True, px=self.ttl_ms):
                    log.info("relay_coalescer_lease_acquired", holder=self.holder)
                    self._valid_until = now + self.ttl_ms / 1000
                    return True
        except Exception as exc:  # Redis unreachable: not holding is the safe answer
            log.warning("relay_coalescer_lease_check_failed", error=type(exc).__name__)
        self._valid_until = 0.0
        return False

    async def release(self) -> None:
        """Delete the key if this instance still holds it."""
        self._valid_until = 0.0
        with contextlib.suppress(Exception):
            await self.client.eval(_RELEASE, 1, self.key, self.holder)  # type: ignore[misc]


class Coalescer:
    """Every interval, for each live stream with changes, appends sales.updated and viewers.updated."""

    def __init__(self, db: Database, presence: Presence, lease: Lease, *, interval: float = 0.4) -> None:
        self.db = db
        self.presence = presence
        self.lease = lease
        self.interval = interval
        self._heads: dict[int, int] = {}
        self._sales: dict[int, dict[str, Any]] = {}
        self._viewers: dict[int, int] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the loop."""
        self._task = asyncio.create_task(self._run(), name="relay-coalescer")

    async def stop(self) -> None:
        """Stop the loop and release the lease."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.lease.release()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                if await self.lease.hold():
                    await self.tick()
                else:
                    self._forget()  # another instance writes; its figures may differ from what we saw
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one failed tick must not stop the next
                log.warning("relay_coalescer_tick_failed", error=f"{type(exc).__name__}: {exc}")

    def _forget(self) -> None:
        self._heads.clear()
        self._sales.clear()
        self._viewers.clear()

    async def tick(self) -> None:
        """One pass over the live streams: emit what changed since the last emission."""
        live = await self._live_heads()
        for stream_id in [s for s in self._heads if s not in live]:
            self._heads.pop(stream_id, None)
            self._sales.pop(stream_id, None)
            self._viewers.pop(stream_id, None)
        for stream_id, head in live.items():
            if stream_id not in self._heads:
                await self._load_last_emitted(stream_id)
            if self._heads.get(stream_id) != head:
                self._heads[stream_id] = head
                await self._emit_sales(stream_id)
            await self._emit_viewers(stream_id)

    async def _live_heads(self) -> dict[int, int]:
        async with self.db.read_sessionmaker() as session:
            return await live_stream_heads(session)

    async def _load_last_emitted(self, stream_id: int) -> None:
        async with self.db.read_sessionmaker() as session:
            sales = await last_event_data(session, stream_id, EventType.sales_updated)
            viewers = await last_event_data(session, stream_id, EventType.viewers_updated)
        if sales is not None:
            self._sales[stream_id] = sales
        if viewers is not None:
            self._viewers[stream_id] = int(viewers.get("count") or 0)

    async def _emit_sales(self, stream_id: int) -> None:
        async with self.db.read_sessionmaker() as session:
            totals = await stream_totals(session, stream_id)
        figures = {"gmv_fen": totals.gmv_fen, "paid_orders": totals.paid_orders, "units": totals.units}
        previous = self._sales.get(stream_id)
        if previous == figures or (previous is None and totals.paid_orders == 0 and totals.gmv_fen == 0):
            return
        # A sale committed after the read above has a smaller seq than this event; its head
        # change makes the next tick read the totals again, so figures are never left stale.
        async with self.db.transaction() as session:
            await append_event(session, stream_id, EventType.sales_updated, figures)
        self._sales[stream_id] = figures

    async def _emit_viewers(self, stream_id: int) -> None:
        try:
            async with asyncio.timeout(PRESENCE_TIMEOUT_SECONDS):
                count = await self.presence.count(stream_id)
        except TimeoutError:  # a hung Redis: keep the last figure rather than stall the other streams
            return
        if self._viewers.get(stream_id, 0) == count:
            return
        async with self.db.transaction() as session:
            await append_event(session, stream_id, EventType.viewers_updated, {"count": count})
        self._viewers[stream_id] = count
