"""The after-commit hook that hands committed outbox envelopes to the bus.

The hook only enqueues (a request never waits on Redis, and a Redis outage never turns a
committed change into an error); a task publishes in batches, each bounded by the bus's short
timeout. Anything dropped here is still in the outbox, where the relays' poll finds it. The app
and the scheduler worker both run one, so nothing waits for the poll.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.broadcasts.events import pending_epochs, pending_events
from livecommerce.kit.db import Database
from livecommerce.kit.metrics import EVENTS_PUBLISHED
from streams.relay.bus import Envelope, EventBus
from streams.relay.outbox import renew_epoch

log = structlog.get_logger(__name__)


class Publisher:
    """Queues envelopes from each commit and publishes them to the bus in commit order."""

    def __init__(self, bus: EventBus, db: Database | None = None, maxsize: int = 10_000) -> None:
        self.bus = bus
        self.db = db  # where a stale history's epoch is renewed
        self._queue: asyncio.Queue[tuple[Envelope, str]] = asyncio.Queue(maxsize)
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def on_commit(self, session: AsyncSession) -> None:
        """After-commit hook: enqueue what the transaction appended to the outbox."""
        if self._stopped:
            return
        epochs = pending_epochs(session)
        for envelope in pending_events(session):
            try:
                self._queue.put_nowait((envelope, epochs.get(int(envelope["stream_id"]), "")))
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
                epochs = {int(envelope["stream_id"]): epoch for envelope, epoch in batch}
                stale = await self.bus.publish([envelope for envelope, _ in batch], epochs)
                EVENTS_PUBLISHED.inc(len(batch))
                backoff = 0.05
                if self.db is not None:
                    for stream_id in sorted(stale):
                        await renew_epoch(self.db, stream_id, epochs[stream_id])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the bus is down: these events reach viewers through the outbox poll
                log.warning("relay_publish_failed", events=len(batch), error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                for _ in batch:
                    self._queue.task_done()
