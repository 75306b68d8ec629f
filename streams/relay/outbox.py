"""Reading the outbox, the truth the relay falls back on: by (stream_id, seq), never a scan.

The relay reads the broadcasts' event log only through `livecommerce.broadcasts.events`.
The bus's history is a cache of it, and a cache that can outlive its database (a restore, a
failover that loses the last transactions): a history run is served only when its last event
is the outbox's event under that seq; otherwise the stream's epoch is renewed (the stale copy
is never read again) and the outbox answers.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog

from livecommerce.broadcasts import events
from livecommerce.kit.db import Database
from streams.relay.bus import Envelope, EventBus, StaleHistory, contiguous_after

log = structlog.get_logger(__name__)

PAGE = 500


async def stream_positions(db: Database, stream_ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    """The last committed seq and the history epoch of each stream ((0, "") for a stream without a counter)."""
    ids = list(stream_ids)
    if not ids:
        return {}
    async with db.read_sessionmaker() as session:
        heads = await events.stream_heads(session, ids)
    return {stream_id: heads.get(stream_id, (0, "")) for stream_id in ids}


async def stream_heads(db: Database, stream_ids: Iterable[int]) -> dict[int, int]:
    """The last committed seq of each stream (0 for a stream without events)."""
    return {stream_id: head for stream_id, (head, _) in (await stream_positions(db, stream_ids)).items()}


async def outbox_after(db: Database, stream_id: int, after_seq: int, until: int | None = None, limit: int = PAGE) -> list[Envelope]:
    """Committed envelopes of a stream with after_seq < seq <= until, in seq order."""
    async with db.read_sessionmaker() as session:
        return await events.events_after(session, stream_id, after_seq, until, limit)


async def renew_epoch(db: Database, stream_id: int, stale: str) -> str:
    """Give a stream's history a new epoch (its bus copy under `stale` disagreed with the outbox); the new one."""
    async with db.transaction() as session:
        epoch = await events.rotate_epoch(session, stream_id, stale)
    log.warning("relay_history_epoch_renewed", stream_id=stream_id, stale=stale, epoch=epoch)
    return epoch


class EventSource:
    """Events after a seq: from the bus's recent history when it is complete and verified, else from the outbox."""

    def __init__(self, db: Database, bus: EventBus) -> None:
        self.db = db
        self.bus = bus
        self.epochs: dict[int, str] = {}  # each stream's epoch as last read from the database
        self._verified: dict[tuple[int, str], int] = {}  # the highest seq checked against the outbox, per epoch

    async def after(self, stream_id: int, after_seq: int, until: int, limit: int = PAGE) -> list[Envelope]:
        """Up to `limit` consecutive envelopes from after_seq+1 towards `until` (empty when none exist)."""
        if until <= after_seq:
            return []
        want = min(until, after_seq + limit)
        epoch = self.epochs.get(stream_id)
        recent: list[Envelope] = []
        if epoch is not None:
            try:
                recent = contiguous_after(
                    await self.bus.history(stream_id, after_seq, limit=want - after_seq, epoch=epoch), after_seq, want
                )
                if recent and not await self._matches_outbox(stream_id, epoch, recent[-1]):
                    recent = []
            except StaleHistory:
                await self._renew(stream_id, epoch)
                recent = []
            except Exception:  # the bus is a cache; the outbox answers when it cannot
                recent = []
        if recent and int(recent[-1]["seq"]) == want:
            return recent
        start = int(recent[-1]["seq"]) if recent else after_seq
        return recent + await outbox_after(self.db, stream_id, start, want, limit=want - start)

    async def _matches_outbox(self, stream_id: int, epoch: str, envelope: Envelope) -> bool:
        seq = int(envelope["seq"])
        if self._verified.get((stream_id, epoch), 0) >= seq:
            return True
        async with self.db.read_sessionmaker() as session:
            truth = await events.event_at(session, stream_id, seq)
        if truth != envelope:
            await self._renew(stream_id, epoch)
            return False
        self._verified[(stream_id, epoch)] = seq
        return True

    async def _renew(self, stream_id: int, epoch: str) -> None:
        self._verified.pop((stream_id, epoch), None)
        self.epochs[stream_id] = await renew_epoch(self.db, stream_id, epoch)
