"""The after-commit hook that hands committed outbox envelopes to the bus.

The hook only enqueues (a request never waits on Redis, and a Redis outage never turns a
committed change into an error); a task publishes in batches. Anything dropped here is still
in the outbox, where the relays' poll finds it.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.broadcasts.events import pending_events
from livecommerce.kit.metrics import EVENTS_PUBLISHED
from streams.relay.bus import Envelope, EventBus

log = structlog.get_logger(__name__)


class Publisher:
    """Queues envelopes from each commit and publishes them to the bus in commit order."""

    def __init__(self, bus: EventBus, maxsize: int = 10_000) -> None:
        self.bus = bus
        self._queue: asyncio.Queue[Envelope] = asyncio.Queue(maxsize)
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def on_commit(self, session: AsyncSession) -> None:
        """After-commit hook: enqueue what the transaction appended to the outbox."""
        if self._stopped:
            return
        for envelope in pending_events(session):
            try:
                self._queue.put_nowait(envelope)
            except asyncio.QueueFull:
                log.warning("relay_publish_queue_full", stream_id=envelope.get("stream_id"), seq=envelope.get("seq"))

    async def start(self) -> None:
        """Start the publishing task."""
        self._task = asyncio.create_task(self._run(), name="relay-publisher")

    async def stop(self) -> None:
        """Publish what is queued (briefly), then stop."""
        self._stopped = True
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 500:
                batch.append(self._queue.get_nowait())
            try:
                await self.bus.publish(batch)
                EVENTS_PUBLISHED.inc(len(batch))
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the bus is down: these events reach viewers through the outbox poll
                log.warning("relay_publish_failed", events=len(batch), error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                for _ in batch:
                    self._queue.task_done()
