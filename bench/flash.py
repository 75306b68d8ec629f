"""A flash deal at scale: 5,000 buyers, a deal of 200 units, all arriving within 10 s through 2 instances.

Run with `python -m bench.flash [--quick]`; prints a table and writes `bench/results/flash.json`.

Two app instances (`livecommerce serve`) share one PostgreSQL database and one Redis (the
deployment's own key prefix); a third process, this one, sends each buyer's single order at
its own moment, spread evenly over the window (an open loop: arrivals do not wait for
answers), alternating between the instances. Every request must be answered (201 or 409),
exactly `DEAL_UNITS` units sold, and the p99 latency under 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from datetime import timedelta
from typing import Any

import psycopg

from bench.orders import (
    RESULTS,
    app_env,
    create_pg_database,
    drop_pg_database,
    free_port,
    read_response,
    seed,
    serve_command,
    start_server,
    stop_server,
)
from livecommerce.catalog import stock
from livecommerce.catalog.stock import NewDeal
from livecommerce.kit.clock import utcnow
from livecommerce.kit.db import Database, create_nullpool_engine
from livecommerce.main.migrate import upgrade

REDIS_URL = "redis://127.0.0.1:6379/0"
DEAL_UNITS = 200
GOAL_P99_MS = 100.0


async def open_deal(url: str, world: dict[str, Any]) -> int:
    """A deal of `DEAL_UNITS` units on the stream's product, open from now for 20 minutes."""
    db = Database(create_nullpool_engine(url))
    now = utcnow()
    try:
        async with db.transaction() as session:
            deal = await stock.open_deal(
                session,
                NewDeal(
                    stream_id=world["stream_id"],
                    product_id=world["product_id"],
                    price_fen=990,
                    quantity=DEAL_UNITS,
                    per_buyer_limit=1,
                    starts_at=now - timedelta(seconds=1),
                    ends_at=now + timedelta(minutes=20),
                    created_by=None,
                ),
                now=now,
            )
            stock.take_pending(session)  # no live viewers to tell here
        return deal.id
    finally:
        await db.dispose()


def deal_request(port: int, world: dict[str, Any], deal_id: int, token: str) -> bytes:
    items = [{"product_id": world["product_id"], "quantity": 1, "flash_deal_id": deal_id}]
    body = json.dumps({"items": items}).encode()
    head = (
        f"POST /api/streams/{world['stream_id']}/orders HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nIdempotency-Key: {uuid.uuid4().hex}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def storm(ports: list[int], world: dict[str, Any], deal_id: int, buyers: int, window_s: float) -> dict[str, Any]:
    """Each buyer sends one order at its own moment in the window, on its own connection, alternating instances."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    began = time.perf_counter()

    async def one(n: int) -> None:
        await asyncio.sleep(max(0.0, began + window_s * n / buyers - time.perf_counter()))
        port = ports[n % len(ports)]
        started = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(deal_request(port, world, deal_id, world["tokens"][n % len(world["tokens"])]))
            status = await read_response(reader)
            writer.close()
        except OSError:
            status = 0
        latencies.append(time.perf_counter() - started)
        statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(one(n) for n in range(buyers)))
    latencies.sort()
    return {
        "requests": len(latencies),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "seconds": round(time.perf_counter() - began, 2),
    }


def sold(pg_name: str, deal_id: int) -> dict[str, int]:
    """Units of the deal held by orders, and what the deal has left."""
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{pg_name}", autocommit=True) as conn:
        held = conn.execute("SELECT coalesce(sum(quantity), 0) FROM order_lines WHERE flash_deal_id = %s", (deal_id,)).fetchone()
        left = conn.execute("SELECT remaining FROM flash_deals WHERE id = %s", (deal_id,)).fetchone()
    return {"units_ordered": int(held[0] if held else 0), "remaining": int(left[0] if left else -1)}


def run(quick: bool) -> dict[str, Any]:
    """The storm once (twice without --quick, reporting the median p99), each on a fresh database."""
    buyers, window = (2000, 5.0) if quick else (5000, 10.0)
    runs = []
    for _ in range(1 if quick else 2):
        url, pg_name = create_pg_database()
        procs = []
        try:
            upgrade(url)
            world = asyncio.run(seed(url, buyers=buyers))
            deal_id = asyncio.run(open_deal(url, world))
            prefix = f"lcbench{uuid.uuid4().hex[:8]}"
            ports = [free_port(), free_port()]
            env = {
                **app_env(url),
                "LIVECOMMERCE_REDIS_URL": REDIS_URL,
                "LIVECOMMERCE_REDIS_PREFIX": prefix,
                "LIVECOMMERCE_DB_POOL_SIZE": "20",
            }
            procs = [start_server(serve_command(port), port, env) for port in ports]
            figures = asyncio.run(storm(ports, world, deal_id, buyers, window))
            figures |= sold(pg_name, deal_id)
            runs.append(figures)
        finally:
            for proc in procs:
                stop_server(proc)
            drop_pg_database(pg_name)
    p99 = statistics.median(r["p99_ms"] for r in runs)
    answered = all(set(r["statuses"]) <= {"201", "409"} for r in runs)
    exact = all(r["units_ordered"] == DEAL_UNITS and r["remaining"] == 0 for r in runs)
    return {
        "buyers": buyers,
        "window_s": window,
        "deal_units": DEAL_UNITS,
        "runs": runs,
        "summary": [
            {
                "metric": f"flash deal: {buyers} buyers in {window:.0f} s, 2 instances: units sold",
                "value": runs[-1]["units_ordered"],
                "goal": f"exactly {DEAL_UNITS}",
                "met": exact,
            },
            {"metric": "flash deal: every request answered 201 or 409", "value": answered, "met": answered},
            {
                "metric": "flash deal: p99 (median of runs)",
                "value": p99,
                "unit": "ms",
                "goal": f"< {GOAL_P99_MS:.0f} ms",
                "met": p99 < GOAL_P99_MS,
            },
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2,000 buyers in 5 s, one run")
    args = parser.parse_args()
    results = run(quick=args.quick)
    for r in results["runs"]:
        print(f"p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms  sold {r['units_ordered']}  left {r['remaining']}  {r['statuses']}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "flash.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
