"""The stream reads other modules use, and the event log's reads, on real streams."""

from __future__ import annotations

from datetime import timedelta

from livecommerce.broadcasts import events, repository
from livecommerce.broadcasts import service as broadcasts
from livecommerce.broadcasts.events import EventType
from livecommerce.broadcasts.schemas import StreamStatus
from livecommerce.kit.clock import utcnow
from livecommerce.kit.db import Database
from tests.factories import Factory


async def new_stream(db: Database, anchor_ids: list[int], product_ids: list[int], *, hours_from_now: float = 0, live: bool = False) -> int:
    start = utcnow() + timedelta(hours=hours_from_now)
    async with db.transaction() as session:
        stream = await broadcasts.create_stream(
            session,
            title="佛冈好物",
            scheduled_start=start,
            scheduled_end=start + timedelta(hours=2),
            anchor_ids=anchor_ids,
            product_ids=product_ids,
        )
        assert stream.id is not None
        if live:
            await broadcasts.start_stream(session, stream.id, now=utcnow())
        return stream.id


class TestStreams:
    async def test_stream_exists_only_for_a_real_id(self, make: Factory, db: Database) -> None:
        county = await make.county()
        anchor = await make.anchor(county.id)
        stream_id = await new_stream(db, [anchor.id], [])
        async with db.sessionmaker() as session:
            assert await repository.stream_exists(session, stream_id)
            assert not await repository.stream_exists(session, stream_id + 1000)

    async def test_hosts_by_stream_include_streams_without_hosts(self, make: Factory, db: Database) -> None:
        county = await make.county()
        first, second = await make.anchor(county.id), await make.anchor(county.id)
        hosted = await new_stream(db, [second.id, first.id], [])
        lonely = await new_stream(db, [], [])
        async with db.sessionmaker() as session:
            assert await repository.host_ids_by_stream(session, [hosted, lonely]) == {hosted: [first.id, second.id], lonely: []}

    async def test_live_and_upcoming_streams_are_told_apart(self, make: Factory, db: Database) -> None:
        county = await make.county()
        anchor = await make.anchor(county.id)
        live = await new_stream(db, [anchor.id], [], live=True)
        later = await new_stream(db, [anchor.id], [], hours_from_now=5)
        sooner = await new_stream(db, [anchor.id], [], hours_from_now=1)
        async with db.sessionmaker() as session:
            assert [s.id for s in await repository.live_streams(session, 10)] == [live]
            assert [s.id for s in await repository.upcoming_streams(session, utcnow(), 10)] == [sooner, later]
            assert [s.id for s in await repository.streams_in_states(session, [StreamStatus.live], 10)] == [live]

    async def test_an_anchors_streams_leave_out_cancelled_ones(self, make: Factory, db: Database) -> None:
        county = await make.county()
        anchor, other = await make.anchor(county.id), await make.anchor(county.id)
        kept = await new_stream(db, [anchor.id], [], hours_from_now=1)
        dropped = await new_stream(db, [anchor.id], [], hours_from_now=2)
        await new_stream(db, [other.id], [], hours_from_now=1)
        async with db.transaction() as session:
            assert await broadcasts.cancel_stream(session, dropped)
        now = utcnow()
        async with db.sessionmaker() as session:
            assert [s.id for s in await repository.streams_hosted_by(session, anchor.id, now, now + timedelta(days=1))] == [kept]

    async def test_the_offer_prices_only_featured_products(self, make: Factory, db: Database) -> None:
        county = await make.county()
        anchor = await make.anchor(county.id)
        featured = await make.product(county.id, price_fen=1990)
        elsewhere = await make.product(county.id, price_fen=990)
        stream_id = await new_stream(db, [anchor.id], [featured.id], live=True)
        async with db.sessionmaker() as session:
            offer = await broadcasts.stream_offer(session, stream_id, [featured.id, elsewhere.id])
            assert offer is not None
            assert (offer.status, offer.prices) == (StreamStatus.live, {featured.id: 1990})
            assert await broadcasts.stream_offer(session, stream_id + 1000, [featured.id]) is None


class TestEventLog:
    async def test_last_seq_and_latest_events_follow_the_log(self, make: Factory, db: Database) -> None:
        county = await make.county()
        anchor = await make.anchor(county.id)
        stream_id = await new_stream(db, [anchor.id], [], live=True)  # stream.started is seq 1
        async with db.transaction() as session:
            for n in range(3):
                await events.append_event(session, stream_id, EventType.order_paid, {"n": n})
            await events.append_event(session, stream_id, EventType.sales_updated, {"gmv_fen": 100})
        async with db.sessionmaker() as session:
            assert await events.last_seq(session, stream_id) == 5
            assert await events.latest_event_data(session, stream_id, EventType.sales_updated) == {"gmv_fen": 100}
            assert await events.latest_event_data(session, stream_id, EventType.viewers_updated) is None
            latest = await events.latest_envelopes(session, stream_id, [EventType.order_paid], 2)
            assert [(e["seq"], e["data"]) for e in latest] == [(3, {"n": 1}), (4, {"n": 2})]
            assert len(await events.event_times(session, stream_id, EventType.order_paid, utcnow() - timedelta(minutes=1))) == 3
