"""Property: the running rows the review reads (sales per minute, viewer counts per minute, peaks, unique viewers,
buyers) always equal a recount from the raw rows (the journal, the event log, the viewer records, the orders),
whatever sequence of orders, payments, cancellations, refunds, viewer counts and visits two streams went through.

Everything goes through the paths production uses: orders over HTTP, viewer counts appended to the log (some
in one batch, some with times out of order), visits recorded as the websocket handler records them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import distinct, func, select

from livecommerce.broadcasts import audience
from livecommerce.broadcasts.events import EventType, append_events
from livecommerce.kit.clock import FrozenClock
from livecommerce.kit.principal import Role
from livecommerce.ledger import review as ledger_review
from livecommerce.orders import repository as orders
from livecommerce.orders.models import Order
from tests.factories import Factory
from tests.livecommerce.review.support import Shop, at, go_live, new_stream, watched

# Each op first moves the clock on by 0-45 s (orders are paid well within their reservation).
ORDER = st.tuples(st.just("order"), st.integers(0, 1), st.integers(0, 3), st.integers(0, 1), st.integers(1, 3))
PAY = st.tuples(st.just("pay"), st.integers(0, 50))
CANCEL = st.tuples(st.just("cancel"), st.integers(0, 50))
REFUND = st.tuples(st.just("refund"), st.integers(0, 50))
# Counts at any second of the first three minutes (out of order against each other), one to three in one append.
VIEWERS = st.tuples(
    st.just("viewers"), st.integers(0, 1), st.lists(st.tuples(st.integers(0, 50), st.integers(0, 179)), min_size=1, max_size=3)
)
WATCH = st.tuples(st.just("watch"), st.integers(0, 1), st.integers(0, 3))
SCRIPT = st.lists(st.tuples(st.integers(0, 45), st.one_of(ORDER, PAY, PAY, CANCEL, REFUND, VIEWERS, WATCH)), min_size=1, max_size=16)


class TestRunningRowsEqualARecount:
    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(ops=SCRIPT)
    # A minute's later, lower count leaves its peak; an earlier time appended later is still the minute's last.
    @example(ops=[(0, ("viewers", 0, [(50, 10)])), (0, ("viewers", 0, [(3, 20), (7, 5)])), (0, ("viewers", 1, [(9, 70)]))])
    # A buyer's second order, paid after the first was refunded; another buyer's order cancelled.
    @example(
        ops=[
            (1, ("order", 0, 0, 0, 1)),
            (1, ("pay", 0)),
            (1, ("refund", 0)),
            (1, ("order", 0, 0, 1, 2)),
            (1, ("order", 0, 1, 1, 1)),
            (1, ("cancel", 1)),
            (1, ("pay", 0)),
            (1, ("watch", 0, 2)),
            (1, ("watch", 0, 2)),
        ]
    )
    async def test_after_any_sequence(self, client: httpx.AsyncClient, make: Factory, clock: FrozenClock, ops: list[Any]) -> None:
        county = await make.county()
        anchor = await make.anchor(county.id)
        products = [await make.product(county.id, price_fen=p, stock=100_000) for p in (1990, 3000)]
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        buyers = [await make.user(Role.viewer) for _ in range(4)]
        streams = [await new_stream(make, county.id, anchor.id, [p.id for p in products]) for _ in range(2)]
        for stream_id in streams:
            await go_live(make.db, stream_id, at(0))
        shops = [Shop(client, clock, s) for s in streams]

        now = at(0, 1)
        pending: list[tuple[int, int]] = []  # (order id, buyer index)
        paid: list[int] = []
        for step, (wait, op) in enumerate(ops):
            now += timedelta(seconds=wait)
            kind = op[0]
            if kind == "order":
                _, s, b, p, q = op
                placed = await shops[s].order(buyers[b], [(products[p].id, q)], now)
                pending.append((placed["id"], b))
            elif kind in ("pay", "cancel") and pending:
                order_id, b = pending.pop(op[1] % len(pending))
                if kind == "pay":
                    await shops[0].pay(buyers[b], order_id, now)
                    paid.append(order_id)
                else:
                    await shops[0].cancel(buyers[b], order_id, now)
            elif kind == "refund" and paid:
                await shops[0].refund(organizer, paid.pop(op[1] % len(paid)), now)
            elif kind == "viewers":
                _, s, counts = op
                async with make.db.transaction() as session:
                    for count, second in counts:  # each its own append, at its own (maybe earlier) time
                        await append_events(session, streams[s], [(EventType.viewers_updated, {"count": count})], ts=at(0, second))
                    if len(counts) > 1:  # and all of them again as one batch, at one time
                        batch = [(EventType.viewers_updated, {"count": c}) for c, _ in counts]
                        await append_events(session, streams[s], batch, ts=at(0, counts[0][1]))
            elif kind == "watch":
                _, s, b = op
                await watched(make.db, streams[s], buyers[b], now + timedelta(milliseconds=step))

        async with make.db.transaction() as session:
            for stream_id in streams:
                assert await ledger_review.sales_by_minute(session, stream_id) == await ledger_review.recount_sales_by_minute(
                    session, stream_id
                )
                assert await audience.viewers_by_minute(session, stream_id) == await audience.recount_viewers_by_minute(session, stream_id)
            assert await audience.peak_viewers(session, streams) == await audience.recount_peak_viewers(session, streams)
            assert await audience.unique_viewers(session, streams) == await audience.recount_unique_viewers(session, streams)
            assert await orders.buyers_of_streams(session, streams) == await orders.recount_buyers_of_streams(session, streams)
            paying = select(func.count(distinct(Order.buyer_id))).where(Order.stream_id.in_(streams), Order.paid_at.is_not(None))  # type: ignore[union-attr,attr-defined]
            assert await orders.distinct_paying_buyers(session, streams) == int(await session.scalar(paying) or 0)
