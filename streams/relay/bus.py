"""The fan-out bus interface shared by the in-memory and the Redis backends.

A bus carries committed outbox envelopes between app instances. It is a fast path, never
the truth: a subscriber may miss messages (a Redis outage, a full queue), and is then told
so with `RESYNC`, after which it fills the gap from the outbox table.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Final, Protocol

Envelope = dict[str, Any]


class StaleHistory(Exception):
    """The bus's copy of a stream's history disagrees with itself or with the outbox (the database was rewound)."""


class _Resync:
    """Marker: messages may have been lost before this point; catch up from the outbox."""

    def __repr__(self) -> str:
        return "RESYNC"


RESYNC: Final = _Resync()
BusItem = Envelope | _Resync


class Subscription:
    """A bounded queue of bus items; overflowing it loses messages and yields RESYNC instead."""

    def __init__(self, maxsize: int = 10_000) -> None:
        self._queue: asyncio.Queue[BusItem] = asyncio.Queue(maxsize)
        self._lost = False
        self.closed = False

    def put(self, item: BusItem) -> None:
        """Enqueue without blocking; on overflow remember the loss (reported as RESYNC)."""
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._lost = True

    async def get(self) -> BusItem:
        """The next item (RESYNC first if anything was dropped since the last one)."""
        if self._lost and self._queue.empty():
            self._lost = False
            return RESYNC
        item = await self._queue.get()
        if self._lost and self._queue.empty():
            # Everything queued before the loss has been handed out; tell the reader now.
            self._lost = False
            self.put(RESYNC)
        return item

    def __aiter__(self) -> AsyncIterator[BusItem]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[BusItem]:
        while not self.closed:
            yield await self.get()


class EventBus(Protocol):
    """Publish committed envelopes, subscribe to every stream's, read recent history by seq."""

    name: str

    async def start(self) -> None:
        """Connect and start background work."""

    async def close(self) -> None:
        """Stop background work and release connections."""

    async def publish(self, envelopes: Sequence[Envelope], epochs: Mapping[int, str] | None = None) -> set[int]:
        """Send envelopes (already committed to the outbox) to every subscriber and keep them as history under each
        stream's epoch; return the streams whose history held a different event at one of these seqs (now dropped)."""

    async def subscribe(self) -> Subscription:
        """A new subscription to every stream's envelopes; starts with RESYNC."""

    async def unsubscribe(self, subscription: Subscription) -> None:
        """Stop feeding a subscription."""

    async def history(self, stream_id: int, after_seq: int, limit: int = 500, epoch: str = "") -> list[Envelope]:
        """Recent envelopes of a stream's epoch with seq > after_seq, in seq order; may have holes or be trimmed.

        Raises StaleHistory when two different envelopes share a seq.
        """

    async def readiness(self) -> str:
        """ "ok", or why the bus is not usable right now."""


def contiguous_after(envelopes: Sequence[Envelope], after_seq: int, until: int | None = None) -> list[Envelope]:
    """The run of envelopes with seq after_seq+1, after_seq+2, ... (up to `until`), stopping at the first hole."""
    by_seq = {int(e["seq"]): e for e in envelopes}
    run: list[Envelope] = []
    seq = after_seq + 1
    while seq in by_seq and (until is None or seq <= until):
        run.append(by_seq[seq])
        seq += 1
    return run
