"""Chat messages of one stream that arrive together share a transaction (`kit.group_commit`).

A burst of chat is many small writes to one stream's log. Posted one transaction each, every
message took the stream's seq row and the database's write lock on its own, and order events of
the same stream queued behind them. Batched, a burst costs a few transactions a second whatever
its rate; each message is still decided on its own (`service.post_messages`), and one refused
never holds up the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from livecommerce.kit.clock import Clock
from livecommerce.kit.db import Database
from livecommerce.kit.group_commit import GroupCommit
from livecommerce.kit.principal import Principal
from streams.chat.models import ChatMessage
from streams.chat.service import ChatRules, Post, post_messages, screen

MAX_BATCH = 128


@dataclass
class _Pending:
    stream_id: int
    post: Post
    again: bool = False  # to be written alone after its batch (see `kit.group_commit`)


class ChatPoster:
    """Posts this instance's chat messages in shared transactions, one batch at a time per stream."""

    def __init__(self, db: Database, rules: ChatRules, clock: Clock, *, max_batch: int = MAX_BATCH) -> None:
        self.db = db
        self.rules = rules
        self.clock = clock
        self.batches = GroupCommit(self._write, max_batch=max_batch, name="chat")

    @property
    def batches_written(self) -> int:
        """How many transactions posted chat messages."""
        return self.batches.batches_written

    async def post(self, stream_id: int, principal: Principal | None, text: str) -> ChatMessage:
        """Post a message to a live stream, or raise ChatRefused (what needs no database is refused before any wait)."""
        text = screen(principal, text, self.rules)
        assert principal is not None  # screen refuses anonymous senders
        pending = _Pending(stream_id, Post(principal, text))
        await self.batches.submit(f"stream:{stream_id}", pending)
        if pending.post.refusal is not None:
            raise pending.post.refusal
        assert pending.post.message is not None
        return pending.post.message

    async def _write(self, batch: list[_Pending]) -> None:
        for pending in batch:
            pending.post.message, pending.post.refusal = None, None
        now: datetime = self.clock.now()
        async with self.db.transaction() as session:
            await post_messages(session, batch[0].stream_id, [p.post for p in batch], rules=self.rules, now=now)
