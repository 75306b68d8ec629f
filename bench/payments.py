"""Payments confirmed and posted end to end against a bare double-entry transfer on the same PostgreSQL.

Run with `python -m bench.payments [--quick] [--baseline]`; prints a table and writes `bench/results/payments.json`.
With `--baseline` the same app with the cashier's group commit turned off
(`LIVECOMMERCE_PAYMENT_BATCH_MAX=1`: each payment in its own transaction) pays its own share
of the orders in the same run, the two apps and the bare transfer taking turns in rounds.

A fresh PostgreSQL database with one live stream featuring one product whose splits credit four
parties (two households, the county, the platform: the last two hot in every sale) and a few
hundred buyers with unpaid orders. Eight concurrent payers then pay them through the app (its
ASGI interface in this process: auth, middleware, the request's transaction and commit, the
after-commit hooks), once through the sandbox (`POST /api/orders/{id}/pay`) and once through the
signed webhook (`POST /api/payments/webhook`). The yardstick runs in the same benchmark on the
same server: a bare transfer (two balance updates and two entry inserts per transaction, hot
accounts among ten, balances moved in id order) by eight asyncpg connections, as pgbench would.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psycopg

from livecommerce.accounts.models import User
from livecommerce.accounts.security import create_access_token
from livecommerce.broadcasts import service as streams_service
from livecommerce.catalog import service as catalog
from livecommerce.catalog.schemas import AnchorCreate, CountyCreate, HouseholdCreate, ProductCreate, Split
from livecommerce.kit.clock import utcnow
from livecommerce.kit.db import Database, create_nullpool_engine
from livecommerce.kit.logging import configure_logging
from livecommerce.kit.principal import Principal, Role
from livecommerce.kit.settings import Settings
from livecommerce.main.app import create_app
from livecommerce.main.migrate import upgrade
from livecommerce.orders.models import Channel
from livecommerce.orders.placement import Ask, Item, Placer, Scope
from livecommerce.payments.webhook import sign

RESULTS = Path(__file__).parent / "results"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "bench-secret-key-not-for-production"
WEBHOOK_SECRET = "bench-webhook-secret"
ROOT = Principal(id=0, username="bench", role=Role.admin, display_name="bench")
CONCURRENCY = 8
GOAL_RATIO = 0.30
GOAL_P99_MS = 50.0


async def seed(url: str, buyers: int, orders_per_buyer: int) -> dict[str, Any]:
    """The stream, its four-party product, the buyers' tokens and their unpaid orders (id, buyer index, total)."""
    db = Database(create_nullpool_engine(url))
    now = utcnow()
    try:
        async with db.transaction() as session:
            county = await catalog.create_county(session, CountyCreate(name="Yingde", code="PAYB", city="Qingyuan", province="Guangdong"))
            assert county.id is not None
            homes = [
                await catalog.create_household(
                    session, ROOT, HouseholdCreate(county_id=county.id, name=n, village="Shiling", registration_no=r)
                )
                for n, r in (("陈家", "R1"), ("李家", "R2"))
            ]
            splits = [
                Split(party=f"household:{homes[0].id}", bp=4000),
                Split(party=f"household:{homes[1].id}", bp=3000),
                Split(party=f"county:{county.id}", bp=2000),
                Split(party="platform", bp=1000),
            ]
            product = await catalog.create_product(
                session,
                ROOT,
                ProductCreate(name="Yingde black tea", county_id=county.id, unit="box", price_fen=6800, stock=100_000_000, splits=splits),
                now,
            )
            anchor = await catalog.create_anchor(session, ROOT, AnchorCreate(name="Host", title="County head", county_id=county.id))
            assert product.id is not None and anchor.id is not None
            stream = await streams_service.create_stream(
                session,
                title="bench",
                scheduled_start=now,
                scheduled_end=now + timedelta(hours=4),
                anchor_ids=[anchor.id],
                product_ids=[product.id],
            )
            assert stream.id is not None
            await streams_service.start_stream(session, stream.id, now=now)
            users = [User(username=f"payer{i}", password_hash="!", role=Role.viewer, display_name=f"买家{i}") for i in range(buyers)]
            session.add_all(users)
            await session.flush()
        tokens = [create_access_token(user_id=u.id or 0, token_version=0, secret=SECRET, now=now, ttl_seconds=4 * 3600) for u in users]
        # Every order is one unit; a buyer's orders stay far below the per-buyer cap.
        settings = Settings(database_url=url, secret_key=SECRET, max_quantity_per_buyer=1000)
        placer = Placer(db, settings)
        buyers_ = [Principal(id=u.id or 0, username=u.username, role=Role.viewer, display_name=u.display_name) for u in users]
        scope, items = Scope(Channel.live, stream_id=stream.id), (Item(product.id, 1),)
        placed: list[tuple[int, int, int]] = []
        for round_ in range(orders_per_buyer):
            asks = [Ask(buyer=b, scope=scope, items=items, key=f"k{round_}-{i}", now=utcnow()) for i, b in enumerate(buyers_)]
            for i, p in enumerate(await asyncio.gather(*(placer.place(a) for a in asks))):
                placed.append((p.id, i, p.total_fen))
        return {"tokens": tokens, "orders": placed}
    finally:
        await db.dispose()


async def pay_all(client: httpx.AsyncClient, tokens: list[str], work: list[tuple[int, int, int]], mode: str) -> dict[str, Any]:
    """Pay every order with CONCURRENCY payers; throughput and latency percentiles."""
    queue: asyncio.Queue[tuple[int, int, int]] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def payer() -> None:
        while not queue.empty():
            order_id, buyer, total = queue.get_nowait()
            started = time.perf_counter()
            if mode == "sandbox":
                r = await client.post(f"/api/orders/{order_id}/pay", headers={"Authorization": f"Bearer {tokens[buyer]}"})
            else:
                content = json.dumps(
                    {"provider": "bench", "provider_txn_id": uuid.uuid4().hex, "order_id": order_id, "amount_fen": total, "status": "paid"}
                ).encode()
                headers = {"X-Signature": sign(WEBHOOK_SECRET, content), "Content-Type": "application/json"}
                r = await client.post("/api/payments/webhook", content=content, headers=headers)
            latencies.append(time.perf_counter() - started)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(payer() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "per_s": round(len(work) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": _p99_ms(ordered),
        "statuses": {str(k): v for k, v in statuses.items()},
        "latencies": latencies,
    }


def _p99_ms(ordered: list[float]) -> float:
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2)


async def bare_setup(dsn: str) -> None:
    """The yardstick's ten accounts and its entries table."""
    setup = await asyncpg.connect(dsn)
    await setup.execute("CREATE TABLE bare_accounts (id int PRIMARY KEY, balance bigint NOT NULL)")
    await setup.execute(
        "CREATE TABLE bare_entries (id bigserial PRIMARY KEY, account_id int NOT NULL REFERENCES bare_accounts, amount bigint NOT NULL)"
    )
    await setup.execute("INSERT INTO bare_accounts SELECT g, 0 FROM generate_series(1, 10) g")
    await setup.close()


async def bare_transfers(dsn: str, n: int, seed_: int = 11) -> dict[str, Any]:
    """Two balance updates and two entry inserts per transaction, among ten accounts, by CONCURRENCY connections."""
    rng = random.Random(seed_)
    pairs = [tuple(sorted(rng.sample(range(1, 11), 2))) for _ in range(n)]
    latencies: list[float] = []

    async def client(slice_: list[tuple[int, ...]]) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            for a, b in slice_:
                started = time.perf_counter()
                async with conn.transaction():
                    await conn.execute("UPDATE bare_accounts SET balance = balance - 100 WHERE id = $1", a)
                    await conn.execute("UPDATE bare_accounts SET balance = balance + 100 WHERE id = $1", b)
                    await conn.execute("INSERT INTO bare_entries (account_id, amount) VALUES ($1, -100), ($2, 100)", a, b)
                latencies.append(time.perf_counter() - started)
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(pairs[i::CONCURRENCY]) for i in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    return {"per_s": round(n / elapsed, 1), "p99_ms": _p99_ms(sorted(latencies)), "latencies": latencies}


def app_settings(url: str, batch_max: int) -> Settings:
    """The app's settings, its cashier batching up to `batch_max` payments per transaction."""
    return Settings(
        database_url=url,
        secret_key=SECRET,
        payment_webhook_secret=WEBHOOK_SECRET,
        payment_batch_max=batch_max,
        run_scheduler=False,
        rate_limits_enabled=False,
        log_level="WARNING",
    )


async def paid_and_balanced(url: str) -> dict[str, Any]:
    """What the run left: orders paid, payments, and whether every balance equals its entries (the ledger's check)."""
    conn = await asyncpg.connect(url)
    try:
        paid = await conn.fetchval("SELECT count(*) FROM orders WHERE status = 'paid'")
        payments = await conn.fetchval("SELECT count(*) FROM payments")
        mismatched = await conn.fetchval(
            "SELECT count(*) FROM ledger_accounts a LEFT JOIN (SELECT account_id, sum(CASE WHEN (direction = 'debit') ="
            " (a2.party = 'clearing') THEN amount_fen ELSE -amount_fen END) AS total FROM ledger_entries e"
            " JOIN ledger_accounts a2 ON a2.id = e.account_id GROUP BY account_id) s ON s.account_id = a.id"
            " WHERE a.balance_fen <> coalesce(s.total, 0)"
        )
    finally:
        await conn.close()
    return {"orders_paid": paid, "payments": payments, "accounts_off_their_entries": mismatched}


async def bench(url: str, quick: bool, baseline: bool) -> dict[str, Any]:
    """Rounds of: each app variant paying its share (sandbox, then webhook), then the bare transfer.

    The machine is shared and its load drifts, so the variants and the yardstick take turns
    in every round; throughput is the median over rounds, p99 is over every payment of a kind.
    """
    buyers, rounds = (200, 3) if quick else (400, 5)
    variants = [("baseline", 1), ("cashier", 64)] if baseline else [("cashier", 64)]
    world = await seed(url, buyers, 4)
    warm = 16  # per variant and kind, unmeasured: pools, statement caches, the first batches
    chunk = (len(world["orders"]) - warm * len(variants) * 2) // (rounds * len(variants) * 2)
    sizes = [warm] * (len(variants) * 2) + [chunk] * (rounds * len(variants) * 2)
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    work = iter(world["orders"][start : start + size] for start, size in zip(starts, sizes, strict=True))
    await bare_setup(url)
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {name: {"sandbox": [], "webhook": []} for name, _ in variants}
    bare: list[dict[str, Any]] = []
    apps = {name: create_app(app_settings(url, batch_max), migrate=False) for name, batch_max in variants}
    async with contextlib.AsyncExitStack() as stack:
        clients = {}
        for name, app in apps.items():
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            clients[name] = await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://bench"))
        for name, _ in variants:
            for mode in ("sandbox", "webhook"):
                await pay_all(clients[name], world["tokens"], next(work), mode)
        for r in range(rounds):
            for name, _ in variants:
                for mode in ("sandbox", "webhook"):
                    runs[name][mode].append(await pay_all(clients[name], world["tokens"], next(work), mode))
            bare.append(await bare_transfers(url, (2000 if quick else 10000) // rounds, seed_=r))
        transactions = {name: app.state.cashier.batches.batches_written for name, app in apps.items()}
    result: dict[str, Any] = {"rounds": rounds, "orders_per_round_and_kind": chunk}
    for name, _ in variants:
        result[name] = {mode: _over_rounds(runs[name][mode]) for mode in ("sandbox", "webhook")}
        result[name]["transactions"] = transactions[name]
    result["bare_transfer"] = _over_rounds(bare)
    result["after"] = await paid_and_balanced(url)
    return result


def _over_rounds(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median throughput of the rounds and the p99 of every latency in them."""
    statuses: dict[str, int] = {}
    for run_ in runs:
        for k, v in run_.get("statuses", {}).items():
            statuses[k] = statuses.get(k, 0) + v
    every = sorted(x for run_ in runs for x in run_["latencies"])
    figures = {"per_s": statistics.median(r["per_s"] for r in runs), "p99_ms": _p99_ms(every), "per_round": [r["per_s"] for r in runs]}
    if statuses:
        figures["statuses"] = statuses
    return figures


def summary(r: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    bare = r["bare_transfer"]["per_s"]
    for name, mode in ((name, mode) for name in ("baseline", "cashier") if name in r for mode in ("sandbox", "webhook")):
        value = r[name][mode]["per_s"]
        ratio = round(value / bare, 3) if bare else 0.0
        rows.append(
            {
                "metric": f"postgresql payments/s ({mode}, {CONCURRENCY} payers, {name})",
                "value": value,
                "unit": "payments/s",
                "yardstick": bare,
                "ratio": ratio,
                "goal": f">= {GOAL_RATIO} of a bare transfer",
                "met": ratio >= GOAL_RATIO,
            }
        )
        p99 = r[name][mode]["p99_ms"]
        rows.append(
            {
                "metric": f"postgresql payment p99 ({mode}, {name})",
                "value": p99,
                "unit": "ms",
                "goal": f"< {GOAL_P99_MS} ms",
                "met": p99 < GOAL_P99_MS,
            }
        )
    rows.append({"metric": "postgresql bare transfer p99", "value": r["bare_transfer"]["p99_ms"], "unit": "ms"})
    return rows


def run(quick: bool, baseline: bool = False) -> dict[str, Any]:
    """Run on a fresh PostgreSQL database; write and return the figures."""
    configure_logging("WARNING")  # the request log of every payment would cost more than some payments
    dbname = f"lc_paybench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{dbname}"
    try:
        upgrade(url)
        results = asyncio.run(bench(url, quick, baseline))
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    results["summary"] = summary(results)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "payments.json").write_text(json.dumps(results, indent=2))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--baseline", action="store_true", help="also pay with the cashier's group commit off, side by side")
    args = parser.parse_args()
    results = run(quick=args.quick, baseline=args.baseline)
    for row in results["summary"]:
        extras = " ".join(str(row.get(k, "")) for k in ("yardstick", "ratio", "met"))
        print(f"{row['metric']:<66} {row['value']:>10} {row.get('unit', '')}  {extras}")
    print("after the run:", results["after"], {k: v["transactions"] for k, v in results.items() if k in ("baseline", "cashier")})


if __name__ == "__main__":
    main()
