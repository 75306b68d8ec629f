"""The in-process bus (embedded mode: one app instance, no Redis)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from streams.relay.bus import RESYNC, Envelope, Subscription


class MemoryBus:
    """Delivers envelopes to subscriptions of this process and keeps each stream's recent ones, per epoch."""

    name = "memory"

    def __init__(self, history_size: int = 1000) -> None:
        self.history_size = history_size
        self._subscriptions: set[Subscription] = set()
        self._recent: dict[tuple[int, str], dict[int, Envelope]] = {}

    async def start(self) -> None:
        """Nothing to connect."""

    async def close(self) -> None:
        """Drop every subscription."""
        for subscription in self._subscriptions:
            subscription.closed = True
        self._subscriptions.clear()

    async def publish(self, envelopes: Sequence[Envelope], epochs: Mapping[int, str] | None = None) -> set[int]:
        """Record and hand the envelopes to every subscription (never blocks); the streams whose history was stale."""
        stale: set[int] = set()
        for envelope in envelopes:
            stream_id = int(envelope["stream_id"])
            if not self._remember(envelope, (epochs or {}).get(stream_id, "")):
                stale.add(stream_id)
            for subscription in self._subscriptions:
                subscription.put(envelope)
        return stale

    async def subscribe(self) -> Subscription:
        """A new subscription, starting with RESYNC."""
        subscription = Subscription()
        subscription.put(RESYNC)
        self._subscriptions.add(subscription)
        return subscription

    async def unsubscribe(self, subscription: Subscription) -> None:
        """Stop feeding the subscription."""
        subscription.closed = True
        self._subscriptions.discard(subscription)

    async def history(self, stream_id: int, after_seq: int, limit: int = 500, epoch: str = "") -> list[Envelope]:
        """Remembered envelopes of the epoch with seq > after_seq, in seq order."""
        recent = self._recent.get((stream_id, epoch), {})
        return [recent[seq] for seq in sorted(s for s in recent if s > after_seq)[:limit]]

    async def readiness(self) -> str:
        """Always usable."""
        return "ok"

    def _remember(self, envelope: Envelope, epoch: str) -> bool:
        key = (int(envelope["stream_id"]), epoch)
        recent = self._recent.setdefault(key, {})
        seq = int(envelope["seq"])
        previous = recent.get(seq)
        fresh = previous is None or previous == envelope
        if not fresh:
            # Another event under a seq already held: the database was rewound. Keep none of the old ones.
            recent.clear()
        recent[seq] = envelope
        # Trim in batches so a busy stream does not sort on every publish.
        if len(recent) > self.history_size + self.history_size // 4:
            for old in sorted(recent)[: len(recent) - self.history_size]:
                del recent[old]
        return fresh
