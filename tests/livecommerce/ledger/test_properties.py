"""Property: over any mix of stream orders, subscriptions, station sales and refunds, the books
balance, every party holds exactly its shares of net sales, and the reports equal a from-scratch
recomputation from the entries."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from livecommerce.kit.db import Database
from livecommerce.kit.principal import Principal, Role
from livecommerce.ledger import books as ledger_books
from livecommerce.ledger import reports
from livecommerce.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from livecommerce.ledger.service import reverse_sale
from livecommerce.orders.availability import Availability
from livecommerce.orders.desk import OrderDesk
from livecommerce.orders.schemas import OrderItemIn, StationSaleCreate, SubscriptionCreate
from tests.factories import Factory
from tests.livecommerce.ledger.support import EPOCH, pay

SPLIT_SHAPES = [
    [3333, 3333, 3334],
    [7000, 2000, 1000],
    [1, 9998, 1],
    [5000, 2500, 2500],
    [9999, 1],
    [10000],
]


def reference_shares(amount: int, splits: list[tuple[str, int]]) -> dict[str, int]:
    """Largest remainder computed with exact fractions, written independently of the app's code."""
    exact = {p: Fraction(amount * bp, 10000) for p, bp in splits}
    shares = {p: int(v) for p, v in exact.items()}
    leftover = amount - sum(shares.values())
    for party in sorted(exact, key=lambda p: (-(exact[p] - shares[p]), p))[:leftover]:
        shares[party] += 1
    return shares


items_strategy = st.lists(st.tuples(st.integers(0, 2), st.integers(1, 5)), min_size=1, max_size=3, unique_by=lambda t: t[0])
operations = st.lists(
    st.one_of(
        st.tuples(st.just("stream"), items_strategy),
        st.tuples(st.just("subscription"), items_strategy),
        st.tuples(st.just("station"), items_strategy),
        st.tuples(st.just("refund"), st.integers(0, 50)),
    ),
    min_size=1,
    max_size=10,
)
world_strategy = st.tuples(
    st.lists(st.integers(1, 99_991), min_size=3, max_size=3), st.lists(st.sampled_from(range(len(SPLIT_SHAPES))), min_size=3, max_size=3)
)


async def _build_world(make: Factory, db: Database, prices: list[int], shapes: list[int]) -> dict[str, Any]:
    county = await make.county()
    households = [await make.household(county.id) for _ in range(2)]
    station = await make.station(county.id)
    pool = [f"household:{households[0].id}", f"station:{station.id}", f"county:{county.id}", f"household:{households[1].id}", "platform"]
    products = []
    for i, (price, shape) in enumerate(zip(prices, shapes, strict=True)):
        bps = SPLIT_SHAPES[shape]
        parties = pool[i : i + len(bps)] if i + len(bps) <= len(pool) else pool[-len(bps) :]
        splits = list(zip(parties, bps, strict=True))
        product = await make.product(county.id, splits=splits, price_fen=price, stock=10_000)
        products.append((product.id, price, splits))
    from tests.livecommerce.ledger.support import make_stream

    stream_id = await make_stream(db, [p[0] for p in products])
    admin = await make.user(Role.admin)
    return {"county": county.id, "station": station.id, "parties": pool, "products": products, "stream": stream_id, "admin": admin.id}


async def _entries_by_tx(db: Database) -> tuple[dict[int, Any], list[Any]]:
    async with db.transaction() as session:
        txs = {t.id: t for t in (await session.scalars(select(LedgerTransaction))).all()}
        rows = (
            await session.execute(
                select(
                    LedgerEntry.transaction_id,
                    LedgerAccount.party,
                    LedgerEntry.direction,
                    LedgerEntry.amount_fen,
                    LedgerEntry.product_id,
                    LedgerEntry.county_id,
                    LedgerEntry.quantity,
                ).join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
            )
        ).all()
    return txs, list(rows)


class TestLedgerProperties:
    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(world=world_strategy, ops=operations)
    async def test_books_balances_and_reports_agree(
        self, db: Database, make: Factory, world: tuple[list[int], list[int]], ops: list[tuple[str, Any]]
    ) -> None:
        w = await _build_world(make, db, *world)
        admin = Principal(id=w["admin"], username="admin", role=Role.admin, display_name="Admin")
        desk = OrderDesk(db, make.settings, Availability())
        products = w["products"]
        expected: dict[str, int] = defaultdict(int)
        orders: list[tuple[int, list[tuple[int, int]]]] = []
        refunded: set[int] = set()
        now = EPOCH
        for kind, arg in ops:
            now += timedelta(seconds=1)
            if kind == "refund":
                live = [o for o in orders if o[0] not in refunded]
                if not live:
                    continue
                order_id, lines = live[arg % len(live)]
                async with db.transaction() as session:
                    await reverse_sale(session, order_id, now=now)
                refunded.add(order_id)
                sign = -1
            else:
                lines = [(products[i][0], q) for i, q in arg]
                items = [OrderItemIn(product_id=pid, quantity=q) for pid, q in lines]
                if kind == "stream":
                    order_id = await pay(db, w["admin"], lines, stream_id=w["stream"], now=now)
                elif kind == "subscription":
                    data = SubscriptionCreate(unit_name="Unit", unit_type="enterprise", items=items)
                    order_id = (await desk.subscribe(admin, data, key=None, now=now)).id
                else:
                    order_id = (await desk.sell_at_station(admin, w["station"], StationSaleCreate(items=items), key=None, now=now)).id
                orders.append((order_id, lines))
                sign = 1
            for pid, q in lines:
                _, price, splits = next(p for p in products if p[0] == pid)
                for party, share in reference_shares(price * q, splits).items():
                    expected[party] += sign * share

        async with db.transaction() as session:
            check = await ledger_books.check_books(session)
            assert check.balanced, check
            for party in w["parties"]:
                if party == "platform":
                    continue
                balance = (await ledger_books.account_balance(session, party)).balance_fen
                assert balance == expected.get(party, 0), party
            report = await reports.stream_report(session, admin, w["stream"])
            stats = await reports.consumption_stats(session, EPOCH.date(), EPOCH.date() + timedelta(days=1), "channel")

        txs, entries = await _entries_by_tx(db)
        # The stream report, recomputed from the entries of the stream's transactions.
        gross = refunds = units = refunded_units = 0
        per_product: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
        per_household: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for tx_id, party, _direction, amount, product_id, _county, qty in entries:
            tx = txs[tx_id]
            if tx.stream_id != w["stream"]:
                continue
            is_sale = tx.kind == "sale"
            if party == "clearing":
                per_product[product_id][0 if is_sale else 1] += amount
                per_product[product_id][2] += qty if is_sale else -qty
                if is_sale:
                    gross, units = gross + amount, units + qty
                else:
                    refunds, refunded_units = refunds + amount, refunded_units + qty
            elif party.startswith("household:"):
                per_household[party][0 if is_sale else 1] += amount
        stream_sales = [t for t in txs.values() if t.stream_id == w["stream"]]
        assert report.gmv_fen == gross and report.refunded_fen == refunds and report.net_fen == gross - refunds
        assert report.units == units and report.refunded_units == refunded_units
        assert report.paid_orders == sum(1 for t in stream_sales if t.kind == "sale")
        assert report.refunded_orders == sum(1 for t in stream_sales if t.kind == "reversal")
        assert {p.product_id: [p.gross_fen, p.refunded_fen, p.net_units] for p in report.by_product} == dict(per_product)
        assert {h.party: [h.credited_fen, h.reversed_fen] for h in report.by_household} == dict(per_household)
        assert sum(c.net_fen for c in report.by_county) == report.net_fen

        # The consumption statistics (all examples so far, all on one day), recomputed from every entry.
        by_channel: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for tx_id, party, _direction, amount, *_ in entries:
            if party == "clearing":
                by_channel[txs[tx_id].channel][0 if txs[tx_id].kind == "sale" else 1] += amount
        assert {g.channel: [g.gross_fen, g.refunded_fen] for g in stats.items if g.gross_fen or g.refunded_fen} == dict(by_channel)
