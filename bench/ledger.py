"""Ledger postings per second against plain inserts of the same rows, and stream-report latency.

Run with `python -m bench.ledger [--quick]`; writes `bench/results/ledger.json`.

Postings: paid orders of three to five split parties (hot `platform` and `clearing` in
every one) credited through `credit_sale`, one transaction per posting (sequential and with
four concurrent workers) and 100 per transaction. The yardstick writes the same journal
transactions and entries with plain INSERTs (no balances, no aggregates) at the same commit
granularity. Report latency: streams of 1,000, 10,000 and 100,000 paid orders seeded in
bulk (orders, lines, journal transactions, entries and the aggregates, all consistent),
then `stream_report` timed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import insert, select

from livecommerce.accounts.models import User
from livecommerce.broadcasts.models import Stream
from livecommerce.catalog.models import County, Household, Product, ProductSplit, Station
from livecommerce.kit.db import Database, create_nullpool_engine
from livecommerce.kit.principal import Principal, Role
from livecommerce.ledger import reports
from livecommerce.ledger.service import (
    AGGREGATES,
    ENTRIES,
    SALE_COUNTERS,
    TRANSACTIONS,
    Sale,
    SaleLine,
    credit_sale,
    sale_legs,
    stream_aggregate_rows,
)
from livecommerce.main.migrate import upgrade
from livecommerce.orders.models import Order, OrderLine

RESULTS = Path(__file__).parent / "results"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CHUNK = 2000


class World:
    """Seeded master data: products with 3-5 split parties, one buyer, streams."""

    def __init__(self) -> None:
        self.products: list[tuple[int, int, int, tuple[tuple[str, int], ...]]] = []  # id, county, price, splits
        self.buyer_id = 0
        self.next_order = 1
        self.next_line = 1


async def _seed_world(db: Database, rng: random.Random) -> World:
    world = World()
    async with db.transaction() as s:
        county = County(name="Bench", code=f"B{uuid.uuid4().hex[:6]}", city="Qingyuan", province="Guangdong")
        s.add(county)
        await s.flush()
        assert county.id is not None
        households = [Household(county_id=county.id, name=f"户{i}", village="V", registration_no=f"R{i}") for i in range(40)]
        stations = [Station(county_id=county.id, name=f"S{i}", village="V") for i in range(5)]
        s.add_all([*households, *stations])
        user = User(username=f"bench{uuid.uuid4().hex[:6]}", password_hash="!", role=Role.viewer, display_name="Bench")
        s.add(user)
        await s.flush()
        world.buyer_id = user.id  # type: ignore[assignment]
        for i in range(20):
            n = 3 + i % 3  # three to five parties
            a, b = rng.sample(households, 2)
            station = f"station:{rng.choice(stations).id}"
            parties = {
                3: [f"household:{a.id}", station, "platform"],
                4: [f"household:{a.id}", f"household:{b.id}", station, "platform"],
                5: [f"household:{a.id}", f"household:{b.id}", station, f"county:{county.id}", "platform"],
            }[n]
            bps = [10000 // n] * (n - 1)
            bps.append(10000 - sum(bps))
            price = rng.randint(1, 99_999)
            product = Product(name=f"P{i}", county_id=county.id, unit="box", price_fen=price, stock=10**8)
            s.add(product)
            await s.flush()
            assert product.id is not None
            for party, bp in zip(parties, bps, strict=True):
                s.add(ProductSplit(product_id=product.id, party=party, bp=bp))
            world.products.append((product.id, county.id, price, tuple(zip(parties, bps, strict=True))))
    return world


async def _new_stream(db: Database) -> int:
    async with db.transaction() as s:
        now = _now()
        stream = Stream(title="bench", scheduled_start=now, scheduled_end=now)
        s.add(stream)
        await s.flush()
        assert stream.id is not None
        return stream.id


def _now() -> Any:
    from livecommerce.kit.clock import utcnow

    return utcnow()


async def _seed_orders(db: Database, world: World, n: int, stream_id: int | None, rng: random.Random) -> list[Sale]:
    """Paid orders and their lines in bulk; the sales the ledger will see."""
    sales: list[Sale] = []
    orders: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    now = _now()
    async with db.transaction() as s:
        start = int(await s.scalar(select(Order.id).order_by(Order.id.desc()).limit(1)) or 0) + 1  # type: ignore[union-attr]
        line_start = int(await s.scalar(select(OrderLine.id).order_by(OrderLine.id.desc()).limit(1)) or 0) + 1  # type: ignore[union-attr]
    line_id = line_start
    for order_id in range(start, start + n):
        picked = rng.sample(world.products, rng.randint(1, 2))
        sale_lines = []
        for pid, county_id, price, splits in picked:
            q = rng.randint(1, 4)
            lines.append(
                {"id": line_id, "order_id": order_id, "product_id": pid, "quantity": q, "unit_price_fen": price, "amount_fen": q * price}
            )
            sale_lines.append(SaleLine(line_id, pid, county_id, q, q * price, splits))
            line_id += 1
        total = sum(ln.amount_fen for ln in sale_lines)
        orders.append(
            {
                "id": order_id,
                "buyer_id": world.buyer_id,
                "stream_id": stream_id,
                "channel": "live",
                "status": "paid",
                "idempotency_key": uuid.uuid4().hex,
                "request_hash": "0" * 64,
                "total_fen": total,
                "created_at": now,
                "paid_at": now,
            }
        )
        sales.append(Sale(order_id=order_id, channel="live", stream_id=stream_id, lines=tuple(sale_lines), total_fen=total))
    async with db.transaction() as s:
        for i in range(0, len(orders), CHUNK):
            await s.execute(insert(Order.__table__), orders[i : i + CHUNK])  # type: ignore[attr-defined]
        for i in range(0, len(lines), CHUNK):
            await s.execute(insert(OrderLine.__table__), lines[i : i + CHUNK])  # type: ignore[attr-defined]
    if db.engine.url.get_backend_name() == "postgresql":
        async with db.transaction() as s:
            from sqlalchemy import text

            for table in ("orders", "order_lines"):
                await s.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
    return sales


async def _post(db: Database, sales: list[Sale], per_tx: int, workers: int) -> float:
    """Postings per second through `credit_sale`."""
    batches = [sales[i : i + per_tx] for i in range(0, len(sales), per_tx)]
    queue: asyncio.Queue[list[Sale]] = asyncio.Queue()
    for b in batches:
        queue.put_nowait(b)

    async def worker() -> None:
        while not queue.empty():
            batch = queue.get_nowait()
            async with db.transaction() as s:
                for sale in batch:
                    await credit_sale(s, sale, now=_now())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return len(sales) / (time.perf_counter() - started)


async def _plain(db: Database, sales: list[Sale], per_tx: int, account_ids: dict[str, int]) -> float:
    """The same journal rows written with plain INSERTs (no balances, no aggregates, no idempotency)."""
    started = time.perf_counter()
    for i in range(0, len(sales), per_tx):
        async with db.transaction() as s:
            for sale in sales[i : i + per_tx]:
                tx_id = (
                    await s.execute(
                        insert(TRANSACTIONS)
                        .values(kind="plain", order_id=sale.order_id, channel=sale.channel, stream_id=sale.stream_id, created_at=_now())
                        .returning(TRANSACTIONS.c.id)
                    )
                ).scalar_one()
                now = _now()
                rows = [
                    {
                        "transaction_id": tx_id,
                        "account_id": account_ids[leg.party],
                        "direction": leg.direction,
                        "bucket": leg.bucket,
                        "amount_fen": leg.amount_fen,
                        "order_line_id": leg.order_line_id,
                        "product_id": leg.product_id,
                        "county_id": leg.county_id,
                        "quantity": leg.quantity,
                        "created_at": now,
                    }
                    for leg in sale_legs(sale)
                ]
                await s.execute(insert(ENTRIES), rows)
    return len(sales) / (time.perf_counter() - started)


async def _open_accounts(db: Database, world: World) -> dict[str, int]:
    """Every party's account, opened up front so the plain inserts have ids to refer to."""
    from livecommerce.ledger.service import ACCOUNTS, account_kind

    parties = sorted({p for *_, splits in world.products for p, _ in splits} | {"clearing"})
    async with db.transaction() as s:
        await s.execute(insert(ACCOUNTS), [{"party": p, "kind": account_kind(p), "balance_fen": 0, "created_at": _now()} for p in parties])
    return await _account_ids(db)


async def _account_ids(db: Database) -> dict[str, int]:
    from livecommerce.ledger.service import ACCOUNTS

    async with db.transaction() as s:
        return {party: account_id for account_id, party in (await s.execute(select(ACCOUNTS.c.id, ACCOUNTS.c.party))).all()}


async def _seed_stream_in_bulk(db: Database, world: World, n: int, rng: random.Random) -> int:
    """A stream of `n` paid orders: orders, lines, transactions, entries and aggregates, in bulk."""
    stream_id = await _new_stream(db)
    sales = await _seed_orders(db, world, n, stream_id, rng)
    account_ids = await _account_ids(db)
    totals: dict[tuple[int, str], dict[str, Any]] = {}
    now = _now()
    async with db.transaction() as s:
        for i in range(0, len(sales), CHUNK):
            chunk = sales[i : i + CHUNK]
            tx_ids = (
                (
                    await s.execute(
                        insert(TRANSACTIONS).returning(TRANSACTIONS.c.id, sort_by_parameter_order=True),
                        [
                            {"kind": "sale", "order_id": x.order_id, "channel": "live", "stream_id": stream_id, "created_at": now}
                            for x in chunk
                        ],
                    )
                )
                .scalars()
                .all()
            )
            entries = []
            for tx_id, sale in zip(tx_ids, chunk, strict=True):
                legs = sale_legs(sale)
                for leg in legs:
                    entries.append(
                        {
                            "transaction_id": tx_id,
                            "account_id": account_ids[leg.party],
                            "direction": leg.direction,
                            "bucket": leg.bucket,
                            "amount_fen": leg.amount_fen,
                            "order_line_id": leg.order_line_id,
                            "product_id": leg.product_id,
                            "county_id": leg.county_id,
                            "quantity": leg.quantity,
                            "created_at": now,
                        }
                    )
                for row in stream_aggregate_rows(stream_id, legs, refund=False):
                    key = (row["product_id"], row["party"])
                    if key in totals:
                        for c in SALE_COUNTERS:
                            totals[key][c] += row[c]
                    else:
                        totals[key] = row
            await s.execute(insert(ENTRIES), entries)
        await s.execute(insert(AGGREGATES), list(totals.values()))
    return stream_id


async def _report_latency(db: Database, stream_id: int, repeats: int) -> dict[str, float]:
    principal = Principal(id=0, username="bench", role=Role.admin, display_name="bench")
    timings = []
    for _ in range(repeats):
        async with db.transaction() as s:
            started = time.perf_counter()
            await reports.stream_report(s, principal, stream_id)
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {"median_ms": round(statistics.median(timings), 2), "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 2)}


async def _bench_backend(url: str, quick: bool) -> dict[str, Any]:
    upgrade(url)
    db = Database(create_nullpool_engine(url) if url.startswith("sqlite") else _pooled(url))
    rng = random.Random(7)
    try:
        world = await _seed_world(db, rng)
        n = 300 if quick else 2000
        result: dict[str, Any] = {}
        ids = await _open_accounts(db, world)
        result["postings_per_s_tx_each"] = round(await _post(db, await _seed_orders(db, world, n, None, rng), 1, 1))
        result["plain_per_s_tx_each"] = round(await _plain(db, await _seed_orders(db, world, n, None, rng), 1, ids))
        result["postings_per_s_tx_each_4_workers"] = round(await _post(db, await _seed_orders(db, world, n, None, rng), 1, 4))
        result["postings_per_s_100_per_tx"] = round(await _post(db, await _seed_orders(db, world, n, None, rng), 100, 1))
        result["plain_per_s_100_per_tx"] = round(await _plain(db, await _seed_orders(db, world, n, None, rng), 100, ids))
        sizes = [1_000, 10_000] if quick else [1_000, 10_000, 100_000]
        result["report"] = {}
        for size in sizes:
            stream_id = await _seed_stream_in_bulk(db, world, size, rng)
            result["report"][str(size)] = await _report_latency(db, stream_id, 20 if quick else 50)
        return result
    finally:
        await db.dispose()


def _pooled(url: str) -> Any:
    from livecommerce.kit.db import create_engine
    from livecommerce.kit.settings import Settings

    return create_engine(Settings(database_url=url))


def _summary(name: str, r: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for mode, plain in (("tx_each", "plain_per_s_tx_each"), ("100_per_tx", "plain_per_s_100_per_tx")):
        value, yard = r[f"postings_per_s_{mode}"], r[plain]
        ratio = value / yard if yard else 0.0
        rows.append(
            {
                "metric": f"{name} postings/s ({mode})",
                "value": value,
                "unit": "postings/s",
                "yardstick": yard,
                "ratio": round(ratio, 2),
                "goal": ">= 0.5 of plain insert",
                "met": ratio >= 0.5,
            }
        )
    rows.append({"metric": f"{name} postings/s (tx_each, 4 workers)", "value": r["postings_per_s_tx_each_4_workers"], "unit": "postings/s"})
    for size, lat in r["report"].items():
        rows.append(
            {
                "metric": f"{name} report p95 at {size} orders",
                "value": lat["p95_ms"],
                "unit": "ms",
                "goal": "< 50 ms",
                "met": lat["p95_ms"] < 50,
            }
        )
    return rows


def run(quick: bool) -> dict[str, Any]:
    """Run on SQLite and PostgreSQL; write and return the figures."""
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
    (RESULTS / "ledger.json").write_text(json.dumps(results, indent=2))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    results = run(quick=args.quick)
    for row in results["summary"]:
        extras = " ".join(str(row.get(k, "")) for k in ("yardstick", "ratio", "met"))
        print(f"{row['metric']:<45} {row['value']:>10} {row.get('unit', '')}  {extras}")


if __name__ == "__main__":
    main()
