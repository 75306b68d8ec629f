"""Reading the outbox, the truth the relay falls back on: by (stream_id, seq), never a scan."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import col, select

from livecommerce.broadcasts.models import OutboxEvent, StreamSequence
from livecommerce.kit.db import Database
from streams.relay.bus import Envelope, EventBus, contiguous_after

PAGE = 500


async def stream_heads(db: Database, stream_ids: Iterable[int]) -> dict[int, int]:
    """The last committed seq of each stream (0 for a stream without events)."""
    ids = list(stream_ids)
    if not ids:
        return {}
    async with db.read_sessionmaker() as session:
        rows = await session.execute(
            select(col(StreamSequence.stream_id), col(StreamSequence.last_seq)).where(col(StreamSequence.stream_id).in_(ids))
        )
        heads = {int(stream_id): int(last_seq) for stream_id, last_seq in rows.all()}
    return {stream_id: heads.get(stream_id, 0) for stream_id in ids}


async def outbox_after(db: Database, stream_id: int, after_seq: int, until: int | None = None, limit: int = PAGE) -> list[Envelope]:
    """Committed envelopes of a stream with after_seq < seq <= until, in seq order."""
    stmt = select(OutboxEvent).where(col(OutboxEvent.stream_id) == stream_id, col(OutboxEvent.seq) > after_seq)
    if until is not None:
        stmt = stmt.where(col(OutboxEvent.seq) <= until)
    async with db.read_sessionmaker() as session:
        rows = (await session.scalars(stmt.order_by(col(OutboxEvent.seq)).limit(limit))).all()
    return [row.envelope() for row in rows]


class EventSource:
    """Events after a seq: from the bus's recent history when it is complete, else from the outbox."""

    def __init__(self, db: Database, bus: EventBus) -> None:
        self.db = db
        self.bus = bus

    async def after(self, stream_id: int, after_seq: int, until: int, limit: int = PAGE) -> list[Envelope]:
        """Up to `limit` consecutive envelopes from after_seq+1 towards `until` (empty when none exist)."""
        if until <= after_seq:
            return []
        want = min(until, after_seq + limit)
        try:
            recent = contiguous_after(await self.bus.history(stream_id, after_seq, limit=want - after_seq), after_seq, want)
        except Exception:  # the bus is a cache; the outbox answers when it cannot
            recent = []
        if recent and int(recent[-1]["seq"]) == want:
            return recent
        start = int(recent[-1]["seq"]) if recent else after_seq
        return recent + await outbox_after(self.db, stream_id, start, want, limit=want - start)
