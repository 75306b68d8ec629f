"""The bus interface: the same tests against the in-memory and the Redis implementation."""

from __future__ import annotations

import asyncio
from typing import Any

from livecommerce.kit.db import Database
from streams.relay.bus import RESYNC, EventBus, Subscription, contiguous_after
from streams.relay.outbox import EventSource, outbox_after, stream_heads, stream_positions
from tests.factories import Factory
from tests.streams.relay.conftest import append_events, live_stream


def envelope(stream_id: int, seq: int, **data: Any) -> dict[str, Any]:
    return {"seq": seq, "type": "product.pinned", "stream_id": stream_id, "ts": "2026-01-01T00:00:00+00:00", "data": data}


async def next_event(subscription: Subscription) -> dict[str, Any]:
    """The next envelope, skipping RESYNC markers."""
    async with asyncio.timeout(5):
        while True:
            item = await subscription.get()
            if item is not RESYNC:
                assert isinstance(item, dict)
                return item


class TestPublishSubscribe:
    async def test_a_subscription_starts_with_resync(self, bus: EventBus) -> None:
        subscription = await bus.subscribe()
        async with asyncio.timeout(5):
            assert await subscription.get() is RESYNC
        await bus.unsubscribe(subscription)

    async def test_published_envelopes_reach_every_subscription_in_order(self, bus: EventBus) -> None:
        first, second = await bus.subscribe(), await bus.subscribe()
        for subscription in (first, second):
            async with asyncio.timeout(5):
                assert await subscription.get() is RESYNC  # connected
        await bus.publish([envelope(1, 1), envelope(1, 2), envelope(2, 1)])
        for subscription in (first, second):
            got = [await next_event(subscription) for _ in range(3)]
            assert [(e["stream_id"], e["seq"]) for e in got] == [(1, 1), (1, 2), (2, 1)]
        await bus.unsubscribe(first)
        await bus.unsubscribe(second)

    async def test_unsubscribed_subscription_gets_nothing_more(self, bus: EventBus) -> None:
        subscription = await bus.subscribe()
        await bus.unsubscribe(subscription)
        await bus.publish([envelope(1, 1)])
        assert subscription.closed
        assert subscription._queue.qsize() <= 1  # at most the initial RESYNC

    async def test_readiness_is_ok_when_connected(self, bus: EventBus) -> None:
        subscription = await bus.subscribe()
        async with asyncio.timeout(5):
            assert await subscription.get() is RESYNC
        assert await bus.readiness() == "ok"
        await bus.unsubscribe(subscription)


class TestHistory:
    async def test_history_after_a_seq_is_in_seq_order_even_if_published_out_of_order(self, bus: EventBus) -> None:
        await bus.publish([envelope(7, 3), envelope(7, 1), envelope(7, 2), envelope(8, 1)])
        got = await bus.history(7, after_seq=1)
        assert [e["seq"] for e in got] == [2, 3]

    async def test_history_is_trimmed_to_its_size(self, bus: EventBus) -> None:
        await bus.publish([envelope(7, seq) for seq in range(1, 121)])
        got = await bus.history(7, after_seq=0, limit=1000)
        assert got[-1]["seq"] == 120
        assert len(got) <= 63  # history_size 50 (+25% slack in memory)
        assert got[0]["seq"] > 1

    async def test_history_respects_the_limit(self, bus: EventBus) -> None:
        await bus.publish([envelope(7, seq) for seq in range(1, 21)])
        got = await bus.history(7, after_seq=5, limit=3)
        assert [e["seq"] for e in got] == [6, 7, 8]

    async def test_history_of_an_unknown_stream_is_empty(self, bus: EventBus) -> None:
        assert await bus.history(12345, after_seq=0) == []


class TestSubscriptionOverflow:
    async def test_overflow_is_reported_as_resync_after_what_was_queued(self) -> None:
        subscription = Subscription(maxsize=2)
        subscription.put(envelope(1, 1))
        subscription.put(envelope(1, 2))
        subscription.put(envelope(1, 3))  # lost
        assert (await subscription.get())["seq"] == 1  # type: ignore[index]
        assert (await subscription.get())["seq"] == 2  # type: ignore[index]
        assert await subscription.get() is RESYNC


class TestContiguousAfter:
    def test_stops_at_the_first_hole(self) -> None:
        run = contiguous_after([envelope(1, 4), envelope(1, 2), envelope(1, 3), envelope(1, 6)], 1)
        assert [e["seq"] for e in run] == [2, 3, 4]

    def test_nothing_when_the_next_seq_is_missing(self) -> None:
        assert contiguous_after([envelope(1, 5)], 3) == []

    def test_stops_at_until(self) -> None:
        assert [e["seq"] for e in contiguous_after([envelope(1, s) for s in range(1, 10)], 0, until=3)] == [1, 2, 3]


class TestEventSource:
    async def test_falls_back_to_the_outbox_where_the_bus_has_a_hole(self, bus: EventBus, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        await append_events(db, stream.id, 9)  # seqs 2..10 in the outbox
        rows = await outbox_after(db, stream.id, 0)
        await bus.publish([rows[0], rows[1], rows[4]])  # the bus holds 1, 2 and 5 only
        got = await EventSource(db, bus).after(stream.id, 0, until=10)
        assert [e["seq"] for e in got] == list(range(1, 11))
        assert got == rows

    async def test_reads_pages_no_larger_than_the_limit(self, bus: EventBus, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        await append_events(db, stream.id, 9)
        got = await EventSource(db, bus).after(stream.id, 2, until=10, limit=4)
        assert [e["seq"] for e in got] == [3, 4, 5, 6]

    async def test_heads_are_zero_for_streams_without_events(self, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        assert await stream_heads(db, [stream.id, 424242]) == {stream.id: 1, 424242: 0}


class TestStaleHistory:
    async def test_an_other_event_under_a_held_seq_is_reported_and_the_old_history_dropped(self, bus: EventBus) -> None:
        await bus.publish([envelope(7, seq, timeline="old") for seq in range(1, 6)], {7: "e1"})
        stale = await bus.publish([envelope(7, 3, timeline="new")], {7: "e1"})
        assert stale == {7}
        assert [(e["seq"], e["data"]["timeline"]) for e in await bus.history(7, 0, epoch="e1")] == [(3, "new")]

    async def test_publishing_the_same_event_twice_is_not_stale(self, bus: EventBus) -> None:
        await bus.publish([envelope(7, 1), envelope(7, 2)], {7: "e1"})
        assert await bus.publish([envelope(7, 2)], {7: "e1"}) == set()
        assert [e["seq"] for e in await bus.history(7, 0, epoch="e1")] == [1, 2]

    async def test_each_epoch_keeps_its_own_history(self, bus: EventBus) -> None:
        await bus.publish([envelope(7, 1, timeline="old")], {7: "e1"})
        await bus.publish([envelope(7, 1, timeline="new")], {7: "e2"})
        assert [e["data"]["timeline"] for e in await bus.history(7, 0, epoch="e1")] == ["old"]
        assert [e["data"]["timeline"] for e in await bus.history(7, 0, epoch="e2")] == ["new"]


class TestEventSourceVerification:
    async def test_history_that_disagrees_with_the_outbox_is_not_served_and_the_epoch_is_renewed(
        self, bus: EventBus, make: Factory, db: Database
    ) -> None:
        stream = await live_stream(make, db)
        await append_events(db, stream.id, 4)  # seqs 2..5
        (head, epoch) = (await stream_positions(db, [stream.id]))[stream.id]
        rows = await outbox_after(db, stream.id, 0)
        forged = [{**row, "data": {"timeline": "old"}} if row["seq"] > 3 else row for row in rows]
        await bus.publish(forged, {stream.id: epoch})
        source = EventSource(db, bus)
        source.epochs[stream.id] = epoch
        got = await source.after(stream.id, 0, until=head)
        assert got == rows
        assert (await stream_positions(db, [stream.id]))[stream.id][1] != epoch
        assert source.epochs[stream.id] != epoch

    async def test_history_that_agrees_with_the_outbox_is_served(self, bus: EventBus, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        await append_events(db, stream.id, 4)
        (head, epoch) = (await stream_positions(db, [stream.id]))[stream.id]
        rows = await outbox_after(db, stream.id, 0)
        await bus.publish(rows, {stream.id: epoch})
        source = EventSource(db, bus)
        source.epochs[stream.id] = epoch
        assert await source.after(stream.id, 1, until=head) == rows[1:]
        assert (await stream_positions(db, [stream.id]))[stream.id][1] == epoch
