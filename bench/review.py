"""Post-stream review latency beside the stream report's, and the campaign review's.

Run with `python -m bench.review [--quick]`; writes `bench/results/review.json`.

Streams of 1,000, 10,000 and 100,000 paid orders spread over a two-hour broadcast, with
20,000 signed-in viewers, a `viewers.updated` every two seconds and the order events in
the log, are seeded in bulk (orders, journal transactions and entries, aggregates, events
and viewer records all consistent); then `stream_review` and `stream_report` are timed.
A campaign of 50 and 500 streams (50 orders and 40 viewers each) times `campaign_review`.
The running rows the review reads are seeded too, and checked against a recount from the raw
rows before timing; the summary gives p50/p95 beside the stream report's and the growth
from the second-largest to the largest size (linear growth is a ratio of at most 1.0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, insert, select

from livecommerce.accounts.models import User
from livecommerce.broadcasts import audience
from livecommerce.broadcasts.audience import StreamViewer
from livecommerce.broadcasts.events import OutboxEvent, StreamSequence
from livecommerce.broadcasts.models import AudienceMinute, Stream, StreamAudience, StreamHost, StreamProduct
from livecommerce.catalog.models import Anchor, County, Household, Product
from livecommerce.kit.db import Database, create_nullpool_engine
from livecommerce.kit.principal import Principal, Role
from livecommerce.ledger import reports
from livecommerce.ledger import review as ledger_review
from livecommerce.ledger.service import ACCOUNTS, AGGREGATES, ENTRIES, MINUTES, TRANSACTIONS, floor_minute
from livecommerce.main.migrate import upgrade
from livecommerce.orders import repository as orders
from livecommerce.orders.models import Order, StreamBuyer
from livecommerce.review import service as review
from schedulers.models import Booking, Campaign, Slot, Studio

RESULTS = Path(__file__).parent / "results"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CHUNK = 5000
START = datetime(2026, 6, 1, 11, 0, tzinfo=UTC)
ADMIN = Principal(id=0, username="bench", role=Role.admin, display_name="bench")


class World:
    """Master data the streams share."""

    county_id = 0
    anchor_id = 0
    household_id = 0
    products: list[tuple[int, int]]  # id, price
    users: list[int]

    def __init__(self) -> None:
        self.products = []
        self.users = []


async def _chunks(db: Database, table: Any, rows: list[dict[str, Any]]) -> None:
    async with db.transaction() as s:
        for i in range(0, len(rows), CHUNK):
            await s.execute(insert(table), rows[i : i + CHUNK])


async def _seed_world(db: Database, viewers: int) -> World:
    world = World()
    async with db.transaction() as s:
        county = County(name="Bench", code=f"B{uuid.uuid4().hex[:6]}", city="Qingyuan", province="Guangdong")
        s.add(county)
        await s.flush()
        assert county.id is not None
        anchor = Anchor(name="Li Ming", title="County head", county_id=county.id)
        household = Household(county_id=county.id, name="陈家", village="V", registration_no=f"R{uuid.uuid4().hex[:8]}")
        s.add_all([anchor, household])
        await s.flush()
        assert anchor.id is not None and household.id is not None
        world.county_id, world.anchor_id, world.household_id = county.id, anchor.id, household.id
        for i in range(8):
            product = Product(name=f"Product {i}", county_id=county.id, unit="box", price_fen=1000 + 250 * i, stock=10**8)
            s.add(product)
            await s.flush()
            assert product.id is not None
            world.products.append((product.id, product.price_fen))
        for party in ("clearing", f"household:{household.id}"):
            await s.execute(insert(ACCOUNTS).values(party=party, kind=party.split(":")[0], balance_fen=0, created_at=START))
    users = [
        {"username": f"v{uuid.uuid4().hex[:10]}", "password_hash": "!", "role": "viewer", "display_name": f"V{i}", "created_at": START}
        for i in range(viewers)
    ]
    await _chunks(db, User.__table__, users)  # type: ignore[attr-defined]
    async with db.transaction() as s:
        world.users = [int(u) for u in (await s.scalars(select(User.id).order_by(User.id))).all() if u is not None]  # type: ignore[arg-type]
    return world


async def _seed_stream(db: Database, world: World, orders: int, viewers: int, *, minutes: int = 120, title: str = "bench") -> int:
    """An ended stream with `orders` paid orders over `minutes`, `viewers` signed-in viewers, and its event log."""
    async with db.transaction() as s:
        stream = Stream(
            title=title,
            status="ended",
            scheduled_start=START,
            scheduled_end=START + timedelta(minutes=minutes),
            started_at=START,
            ended_at=START + timedelta(minutes=minutes),
        )
        s.add(stream)
        await s.flush()
        assert stream.id is not None
        stream_id = stream.id
        s.add(StreamHost(stream_id=stream_id, anchor_id=world.anchor_id))
        s.add_all([StreamProduct(stream_id=stream_id, product_id=pid) for pid, _ in world.products])
        accounts = dict((await s.execute(select(ACCOUNTS.c.party, ACCOUNTS.c.id))).all())
        first_order = int(await s.scalar(select(func.max(Order.id))) or 0) + 1  # type: ignore[arg-type]
    span = minutes * 60
    order_rows, tx_rows, paid_at = [], [], []
    per_product: dict[int, list[int]] = {pid: [0, 0, 0] for pid, _ in world.products}
    for i in range(orders):
        pid, price = world.products[i % len(world.products)]
        quantity = 1 + i % 3
        at = START + timedelta(seconds=(i * span) / max(orders, 1))
        order_rows.append(
            {
                "id": first_order + i,
                "buyer_id": world.users[i % len(world.users)],
                "stream_id": stream_id,
                "channel": "live",
                "status": "paid",
                "idempotency_key": uuid.uuid4().hex,
                "request_hash": "0" * 64,
                "total_fen": price * quantity,
                "created_at": at,
                "paid_at": at,
            }
        )
        tx_rows.append({"kind": "sale", "order_id": first_order + i, "channel": "live", "stream_id": stream_id, "created_at": at})
        paid_at.append((pid, price, quantity, at))
        per_product[pid][0] += 1
        per_product[pid][1] += quantity
        per_product[pid][2] += price * quantity
    await _chunks(db, Order.__table__, order_rows)  # type: ignore[attr-defined]
    async with db.transaction() as s:
        tx_ids: list[int] = []
        for i in range(0, len(tx_rows), CHUNK):
            stmt = insert(TRANSACTIONS).returning(TRANSACTIONS.c.id, sort_by_parameter_order=True)
            tx_ids += list((await s.execute(stmt, tx_rows[i : i + CHUNK])).scalars().all())
    household = f"household:{world.household_id}"
    entries = []
    for tx_id, (pid, price, quantity, at) in zip(tx_ids, paid_at, strict=True):
        base = {"transaction_id": tx_id, "product_id": pid, "county_id": world.county_id, "created_at": at, "order_line_id": None}
        base["bucket"] = "pending"
        entries.append(
            {**base, "account_id": accounts["clearing"], "direction": "debit", "amount_fen": price * quantity, "quantity": quantity}
        )
        entries.append({**base, "account_id": accounts[household], "direction": "credit", "amount_fen": price * quantity, "quantity": None})
    await _chunks(db, ENTRIES, entries)
    aggregates = [_aggregate(stream_id, 0, "", 0, orders, sum(p[1] for p in per_product.values()), sum(p[2] for p in per_product.values()))]
    for pid, (n, units, gross) in per_product.items():
        if n:
            aggregates.append(_aggregate(stream_id, pid, "", world.county_id, n, units, gross))
            aggregates.append(_aggregate(stream_id, pid, household, world.county_id, 0, 0, gross))
    await _chunks(db, AGGREGATES, aggregates)
    # The running rows the ledger, the log and the orders keep as the same facts are written.
    minutes: dict[datetime, list[int]] = {}
    for _pid, price, quantity, at in paid_at:
        bucket = minutes.setdefault(floor_minute(at), [0, 0])
        bucket[0] += 1
        bucket[1] += price * quantity
    minute_rows = [
        {"stream_id": stream_id, "minute": m, "paid_orders": n, "gmv_fen": g, "refunded_orders": 0, "refunded_fen": 0}
        for m, (n, g) in sorted(minutes.items())
    ]
    await _chunks(db, MINUTES, minute_rows)
    buyers = sorted({row["buyer_id"] for row in order_rows})
    await _chunks(db, StreamBuyer.__table__, [{"stream_id": stream_id, "buyer_id": b, "paid": True} for b in buyers])  # type: ignore[attr-defined]
    peak = await _seed_log(db, stream_id, paid_at, span, viewers)
    await _chunks(db, StreamViewer.__table__, [{"stream_id": stream_id, "user_id": u, "first_seen": START} for u in world.users[:viewers]])  # type: ignore[attr-defined]
    audience = {"stream_id": stream_id, "peak_viewers": peak, "unique_viewers": len(world.users[:viewers])}
    await _chunks(db, StreamAudience.__table__, [audience])  # type: ignore[attr-defined]
    return stream_id


def _aggregate(stream_id: int, product_id: int, party: str, county_id: int, orders: int, units: int, gross: int) -> dict[str, Any]:
    return {
        "stream_id": stream_id,
        "product_id": product_id,
        "party": party,
        "county_id": county_id,
        "orders": orders,
        "units": units,
        "gross_fen": gross,
        "refunded_orders": 0,
        "refunded_units": 0,
        "refunded_fen": 0,
    }


async def _seed_log(db: Database, stream_id: int, paid: list[tuple[int, int, int, datetime]], span: int, viewers: int) -> int:
    """The event log as a broadcast leaves it: viewer counts every 2 s, a pin every 10 minutes, order.paid and stock.changed per order.

    Also the per-minute viewer rows its appends keep; returns the peak count.
    """
    events: list[tuple[datetime, str, dict[str, Any]]] = []
    for second in range(0, span, 2):
        count = min(viewers, int(viewers * (0.2 + 0.8 * min(1.0, second / (span / 2)))))
        events.append((START + timedelta(seconds=second), "viewers.updated", {"count": count}))
    for minute in range(0, span // 60, 10):
        events.append((START + timedelta(minutes=minute, seconds=5), "product.pinned", {"product_id": paid[0][0] if paid else None}))
    for n, (pid, price, quantity, at) in enumerate(paid):
        events.append((at, "order.paid", {"order_id": n, "buyer": "*", "total_fen": price * quantity}))
        events.append((at, "stock.changed", {"product_id": pid, "stock": 1}))
    events.sort(key=lambda e: e[0])
    rows = [{"stream_id": stream_id, "seq": i + 1, "type": t, "ts": ts, "data": d} for i, (ts, t, d) in enumerate(events)]
    await _chunks(db, OutboxEvent.__table__, rows)  # type: ignore[attr-defined]
    await _chunks(db, StreamSequence.__table__, [{"stream_id": stream_id, "last_seq": len(rows)}])  # type: ignore[attr-defined]
    audience: dict[datetime, dict[str, Any]] = {}
    for row in rows:
        if row["type"] == "viewers.updated":
            m = floor_minute(row["ts"])
            entry = audience.setdefault(m, {"stream_id": stream_id, "minute": m, "peak": 0, "last": 0, "last_seq": 0})
            entry["peak"] = max(entry["peak"], row["data"]["count"])
            entry["last"], entry["last_seq"] = row["data"]["count"], row["seq"]
    await _chunks(db, AudienceMinute.__table__, [audience[m] for m in sorted(audience)])  # type: ignore[attr-defined]
    return max((a["peak"] for a in audience.values()), default=0)


async def _campaign(db: Database, world: World, streams: int) -> int:
    """A campaign of `streams` ended streams, 50 orders and 40 viewers each."""
    ids = [await _seed_stream(db, world, 50, 40, minutes=60, title=f"Campaign stream {n}") for n in range(streams)]
    async with db.transaction() as s:
        campaign = Campaign(name="Bench month", starts_at=START, ends_at=START + timedelta(days=30))
        studio = Studio(name="Bench studio", platform="douyin")
        s.add_all([campaign, studio])
        await s.flush()
        assert campaign.id is not None and studio.id is not None
        for n, stream_id in enumerate(ids):
            slot = Slot(
                studio_id=studio.id,
                campaign_id=campaign.id,
                starts_at=START + timedelta(hours=n),
                ends_at=START + timedelta(hours=n, minutes=60),
            )
            s.add(slot)
            await s.flush()
            assert slot.id is not None
            s.add(Booking(slot_id=slot.id, stream_id=stream_id, status="ended", starts_at=slot.starts_at, ends_at=slot.ends_at))
        return campaign.id


async def _check_running_rows(db: Database, stream_id: int) -> None:
    """The seeded running rows say what a recount from the raw rows says (else the figures would time the wrong thing)."""
    async with db.read_sessionmaker() as s:
        assert await ledger_review.sales_by_minute(s, stream_id) == await ledger_review.recount_sales_by_minute(s, stream_id)
        assert await audience.viewers_by_minute(s, stream_id) == await audience.recount_viewers_by_minute(s, stream_id)
        assert await audience.peak_viewers(s, [stream_id]) == await audience.recount_peak_viewers(s, [stream_id])
        assert await audience.unique_viewers(s, [stream_id]) == await audience.recount_unique_viewers(s, [stream_id])
        assert await orders.buyers_of_streams(s, [stream_id]) == await orders.recount_buyers_of_streams(s, [stream_id])


async def _latency(db: Database, call: Callable[[Any], Awaitable[Any]], runs: int) -> dict[str, float]:
    timings = []
    for _ in range(runs + 2):
        async with db.read_sessionmaker() as s:
            started = time.perf_counter()
            await call(s)
            timings.append((time.perf_counter() - started) * 1000)
    timings = sorted(timings[2:])  # the first two warm the caches
    return {"p50_ms": round(statistics.median(timings), 2), "p95_ms": round(timings[int(0.95 * (len(timings) - 1))], 2)}


async def _bench_backend(url: str, quick: bool) -> dict[str, Any]:
    upgrade(url)
    db = Database(create_nullpool_engine(url) if url.startswith("sqlite") else _pooled(url))
    viewers = 2_000 if quick else 20_000
    runs = 10 if quick else 30
    try:
        world = await _seed_world(db, viewers)
        result: dict[str, Any] = {"stream": {}, "campaign": {}}
        for size in [1_000, 10_000] if quick else [1_000, 10_000, 100_000]:
            stream_id = await _seed_stream(db, world, size, viewers)
            await _check_running_rows(db, stream_id)
            result["stream"][str(size)] = {
                "review": await _latency(db, lambda s, sid=stream_id: review.stream_review(s, ADMIN, sid, now=START), runs),
                "report": await _latency(db, lambda s, sid=stream_id: reports.stream_report(s, ADMIN, sid), runs),
            }
        for streams in [5, 50] if quick else [50, 500]:
            campaign_id = await _campaign(db, world, streams)
            result["campaign"][str(streams)] = await _latency(db, lambda s, cid=campaign_id: review.campaign_review(s, ADMIN, cid), runs)
        return result
    finally:
        await db.dispose()


def _pooled(url: str) -> Any:
    from livecommerce.kit.db import create_engine
    from livecommerce.kit.settings import Settings

    return create_engine(Settings(database_url=url))


def _summary(name: str, r: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for size, lat in r["stream"].items():
        rows.append(
            {
                "metric": f"{name} review at {size} orders",
                "p50": lat["review"]["p50_ms"],
                "value": lat["review"]["p95_ms"],
                "unit": "ms",
                "report_p50": lat["report"]["p50_ms"],
                "yardstick": lat["report"]["p95_ms"],
                "ratio": round(lat["review"]["p95_ms"] / lat["report"]["p95_ms"], 1) if lat["report"]["p95_ms"] else 0.0,
                "goal": "< 100 ms",
                "met": lat["review"]["p95_ms"] < 100,
            }
        )
    for streams, lat in r["campaign"].items():
        rows.append(
            {
                "metric": f"{name} campaign review at {streams} streams",
                "p50": lat["p50_ms"],
                "value": lat["p95_ms"],
                "unit": "ms",
                "goal": "< 500 ms",
                "met": lat["p95_ms"] < 500,
            }
        )
    rows += [_growth(f"{name} review growth", r["stream"], lambda lat: lat["review"]["p95_ms"])]
    rows += [_growth(f"{name} campaign growth", r["campaign"], lambda lat: lat["p95_ms"])]
    return rows


def _growth(metric: str, by_size: dict[str, Any], p95: Callable[[Any], float]) -> dict[str, Any]:
    """p95 at the largest size over p95 at the next one, against the sizes' own ratio (linear growth is at most 1.0 of it)."""
    sizes = sorted(by_size, key=int)[-2:]
    small, large = sizes
    times = p95(by_size[large]) / p95(by_size[small]) if p95(by_size[small]) else 0.0
    scale = int(large) / int(small)
    return {
        "metric": f"{metric} {small} -> {large}",
        "value": round(times, 2),
        "unit": "x",
        "yardstick": scale,
        "ratio": round(times / scale, 2),
        "goal": "<= linear",
        "met": times <= scale,
    }


def run(quick: bool) -> dict[str, Any]:
    """Run on SQLite and PostgreSQL; write and return the figures (yardstick: the stream report's p95)."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = asyncio.run(_bench_backend(f"sqlite:///{tmp}/bench.db", quick))
    dbname = f"lc_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    try:
        results["postgresql"] = asyncio.run(_bench_backend(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{dbname}", quick))
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    results["summary"] = _summary("sqlite", results["sqlite"]) + _summary("postgresql", results["postgresql"])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "review.json").write_text(json.dumps(results, indent=2))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    results = run(quick=args.quick)
    print(f"{'metric':<46} {'p50':>8} {'p95':>8}  {'report p50':>10} {'report p95':>10} {'ratio':>6}  goal")
    for row in results["summary"]:
        p50, report_p50, report = row.get("p50", ""), row.get("report_p50", ""), row.get("yardstick", "")
        goal = f"{row['goal']} {'met' if row['met'] else 'NOT MET'}"
        print(f"{row['metric']:<46} {p50:>8} {row['value']:>8}  {report_p50:>10} {report:>10} {row.get('ratio', ''):>6}  {goal}")


if __name__ == "__main__":
    main()
