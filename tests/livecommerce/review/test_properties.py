"""Property: whatever is paid and refunded when, the review's totals equal the stream report's and the ledger's,
and its timeline puts every sale in the minute it was paid."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from livecommerce.kit.principal import Role
from livecommerce.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from livecommerce.ledger.service import reverse_sale
from tests.factories import Factory
from tests.livecommerce.ledger.support import mark_refunded, pay
from tests.livecommerce.review.support import at, go_live, new_stream

# (seconds after going live, buyer index, [(product index, quantity)]) or ("refund", pick)
sale = st.tuples(
    st.integers(0, 600),
    st.integers(0, 3),
    st.lists(st.tuples(st.integers(0, 2), st.integers(1, 4)), min_size=1, max_size=3, unique_by=lambda t: t[0]),
)
script = st.lists(st.one_of(sale, st.tuples(st.just("refund"), st.integers(0, 100), st.integers(0, 600))), min_size=1, max_size=12)


async def _ledger_totals(make: Factory, stream_id: int) -> tuple[int, int, int]:
    """Gross, refunds and paid orders of the stream, summed from its clearing entries."""
    async with make.db.transaction() as session:
        rows = await session.execute(
            select(LedgerTransaction.kind, LedgerEntry.amount_fen, LedgerTransaction.id)
            .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
            .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
            .where(LedgerTransaction.stream_id == stream_id, LedgerAccount.party == "clearing")
        )
        gross = refunds = 0
        sales: set[int] = set()
        for kind, amount, tx_id in rows.all():
            if kind == "sale":
                gross += amount
                sales.add(tx_id)
            else:
                refunds += amount
    return gross, refunds, len(sales)


class TestReviewTotals:
    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(prices=st.lists(st.integers(1, 99_999), min_size=3, max_size=3), start_second=st.integers(0, 59), ops=script)
    async def test_totals_equal_the_report_and_the_ledger(
        self, client: httpx.AsyncClient, make: Factory, prices: list[int], start_second: int, ops: list[Any]
    ) -> None:
        county = await make.county()
        anchor = await make.anchor(county.id)
        products = [await make.product(county.id, price_fen=p, stock=100_000) for p in prices]
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        buyers = [await make.user(Role.viewer) for _ in range(4)]
        stream_id = await new_stream(make, county.id, anchor.id, [p.id for p in products])
        started = at(0, start_second)
        await go_live(make.db, stream_id, started)

        paid: list[int] = []
        refunded: set[int] = set()
        per_minute: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for op in ops:
            if op[0] == "refund":
                candidates = [o for o in paid if o not in refunded]
                if not candidates:
                    continue
                order_id = candidates[op[1] % len(candidates)]
                when = started + timedelta(seconds=op[2])
                async with make.db.transaction() as session:
                    await mark_refunded(session, order_id, when)
                    await reverse_sale(session, order_id, now=when)
                refunded.add(order_id)
                continue
            offset, buyer, lines = op
            when = started + timedelta(seconds=offset)
            items = [(products[i].id, q) for i, q in lines]
            paid.append(await pay(make.db, buyers[buyer].id, items, stream_id=stream_id, now=when))
            minute = int((when - at(0)).total_seconds()) // 60
            per_minute[minute][0] += sum(prices[i] * q for i, q in lines)
            per_minute[minute][1] += 1

        review = (await client.get(f"/api/streams/{stream_id}/review", headers=organizer.headers)).json()
        report = (await client.get(f"/api/streams/{stream_id}/report", headers=organizer.headers)).json()
        gross, refunds, orders = await _ledger_totals(make, stream_id)

        for key in ("gmv_fen", "refunded_fen", "net_fen", "paid_orders", "units"):
            assert review[key] == report[key], key
        assert (review["gmv_fen"], review["refunded_fen"], review["paid_orders"]) == (gross, refunds, orders)
        assert review["net_fen"] == gross - refunds
        assert sum(m["gmv_fen"] for m in review["timeline"]) == review["gmv_fen"]
        assert sum(m["paid_orders"] for m in review["timeline"]) == review["paid_orders"]
        assert {m["minute"]: [m["gmv_fen"], m["paid_orders"]] for m in review["timeline"] if m["paid_orders"]} == dict(per_minute)
        assert sum(p["gmv_fen"] for p in review["top_products"]) == review["gmv_fen"]
        assert sum(p["refunded_fen"] for p in review["top_products"]) == review["refunded_fen"]
        assert review["buyers"] == len({op[1] for op in ops if op[0] != "refund"})
