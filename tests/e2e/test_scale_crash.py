"""An app instance is killed (SIGKILL) and restarted while orders are placed and paid on two instances.

Afterwards: every order that got a 2xx exists once, stock plus units sold equals the initial
stock, the ledger balances, and viewers that reconnected and resumed saw every event once.
"""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.pgserver import PostgresServer, private_postgres
from tests.e2e.redisserver import RedisServer, private_redis
from tests.e2e.scale import ResumingViewer, buy, instance_clients, new_database, query, running_cluster, seed, stream_head

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.own_servers]

BUYERS = 4
ORDERS_PER_BUYER = 8
INITIAL_STOCK = 60  # less than the units asked for, so some orders end out of stock


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    with private_postgres() as server:
        yield server


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with private_redis() as server:
        yield server


class TestInstanceCrash:
    async def test_sigkill_mid_traffic_loses_nothing_and_duplicates_nothing(
        self, pg: PostgresServer, redis: RedisServer, tmp_path: Path
    ) -> None:
        url = new_database(pg)
        with running_cluster(url, redis, tmp_path / "logs", instances=2, scheduler=True) as (cluster, _front):
            seeded = await seed(url, buyers=BUYERS, stock=INITIAL_STOCK)
            staff, buyers, stream_id, product_id = seeded.staff, seeded.buyers, seeded.stream_id, seeded.product_id
            viewers = [
                ResumingViewer(cluster.instance_url(0), cluster.url, stream_id),
                ResumingViewer(cluster.instance_url(1), cluster.url, stream_id),
                ResumingViewer(cluster.instance_url(0), cluster.url, stream_id, token=staff.token),
            ]
            for viewer in viewers:
                viewer.start()
            async with asyncio.timeout(15):
                await asyncio.gather(*(v.connected.wait() for v in viewers))

            async with instance_clients(cluster) as clients:
                placed = 0
                crash_after = BUYERS * ORDERS_PER_BUYER // 3
                crashed = asyncio.Event()

                async def shopper(index: int) -> list:
                    nonlocal placed
                    outcomes = []
                    for n in range(ORDERS_PER_BUYER):
                        outcome = await buy(clients, buyers[index], stream_id, product_id, quantity=1 + (index + n) % 3, start=index + n)
                        outcomes.append(outcome)
                        placed += 1
                        if placed >= crash_after:
                            crashed.set()
                    return outcomes

                async def crash() -> None:
                    await crashed.wait()
                    cluster.instances[0].send_signal(signal.SIGKILL)
                    cluster.instances[0].wait()
                    await asyncio.sleep(1.0)
                    await asyncio.to_thread(cluster.start_instance, 0)

                results = await asyncio.gather(*(shopper(i) for i in range(BUYERS)), crash())
                outcomes = [o for per_buyer in results[:BUYERS] for o in per_buyer]

                assert all(o.status in ("paid", "refused") for o in outcomes), [o for o in outcomes if o.status not in ("paid", "refused")]
                paid = [o for o in outcomes if o.status == "paid"]
                assert paid, "no order went through"
                assert any(o.errors for o in outcomes), "the crash cut off no request: the test proved nothing"

                # Every order that got a 2xx exists, paid, exactly once per key.
                rows = query(url, "SELECT id, idempotency_key, status FROM orders WHERE stream_id = %s", stream_id)
                by_key: dict[str, list[tuple[int, str]]] = {}
                for order_id, key, status in rows:
                    by_key.setdefault(key, []).append((order_id, status))
                assert all(len(v) == 1 for v in by_key.values())
                for outcome in paid:
                    assert by_key[outcome.key] == [(outcome.order_id, "paid")]
                assert len(rows) == len(paid), "an order exists that no client was told about"

                # Stock: nothing created or lost.
                product = (await clients[1].get(f"/api/products/{product_id}", headers=staff.headers)).json()
                units_sold = sum(o.quantity for o in paid)
                assert product["sold"] == units_sold
                assert product["reserved"] == 0
                assert product["stock"] + product["reserved"] + product["sold"] == INITIAL_STOCK

                # The books balance.
                check = (await clients[0].get("/api/ledger/check", headers=staff.headers)).json()
                assert check["balanced"] is True
                assert check["total_debits_fen"] == check["total_credits_fen"] > 0

                # The surviving instance counted what it did.
                metrics = (await clients[1].get("/metrics")).text
                for series in ('livecommerce_ledger_postings_total{kind="sale"}', 'livecommerce_orders_total{outcome="placed"}'):
                    match = re.search(re.escape(series) + r" (\d+)\.0", metrics)
                    assert match is not None and int(match.group(1)) > 0, series

            # Viewers that were cut off resumed and saw every event once.
            head = stream_head(url, stream_id)
            for viewer in viewers:
                await viewer.wait_for_seq(head)
            for viewer in viewers:
                await viewer.stop()
                viewer.assert_complete(head)
            assert any(v.connections > 1 for v in viewers), "no viewer was cut off by the crash"
            async with httpx.AsyncClient(base_url=cluster.url) as front_client:
                assert (await front_client.get("/readyz")).status_code == 200
