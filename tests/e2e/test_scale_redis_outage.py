"""Redis stops for several seconds mid-stream: orders keep being accepted, /readyz says so, no event is lost."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.pgserver import PostgresServer, private_postgres
from tests.e2e.redisserver import RedisServer, private_redis
from tests.e2e.scale import ResumingViewer, buy, instance_clients, new_database, query, running_cluster, seed, stream_head

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.own_servers]

OUTAGE_SECONDS = 4.0


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    with private_postgres() as server:
        yield server


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with private_redis() as server:
        yield server


class TestRedisOutage:
    async def test_orders_go_on_and_the_relay_catches_up(self, pg: PostgresServer, redis: RedisServer, tmp_path: Path) -> None:
        url = new_database(pg)
        with running_cluster(url, redis, tmp_path / "logs", instances=2) as (cluster, _front):
            seeded = await seed(url, buyers=2, stock=500)
            buyers, stream_id, product_id = seeded.buyers, seeded.stream_id, seeded.product_id
            viewers = [ResumingViewer(cluster.instance_url(i), cluster.instance_url(i), stream_id) for i in (0, 1)]
            for viewer in viewers:
                viewer.start()
            async with asyncio.timeout(15):
                await asyncio.gather(*(v.connected.wait() for v in viewers))

            async with instance_clients(cluster) as clients:
                before = [await buy(clients, buyers[i % 2], stream_id, product_id, 1, start=i) for i in range(4)]
                assert all(o.status == "paid" for o in before)
                for viewer in viewers:
                    await viewer.wait_for_seq(stream_head(url, stream_id))

                redis.stop()
                try:
                    # /readyz reports the outage on every instance.
                    for client in clients:
                        for _ in range(50):
                            ready = await client.get("/readyz")
                            if ready.status_code == 503:
                                break
                            await asyncio.sleep(0.1)
                        assert ready.status_code == 503, ready.text
                        assert ready.json()["checks"]["database"] == "ok"
                        assert ready.json()["checks"]["relay"].startswith("unavailable")

                    # The database is the truth: orders are accepted and paid through the outage.
                    during = []
                    loop = asyncio.get_running_loop()
                    ends = loop.time() + OUTAGE_SECONDS
                    i = 0
                    while loop.time() < ends:
                        during.append(await buy(clients, buyers[i % 2], stream_id, product_id, 1, start=i))
                        i += 1
                    assert during and all(o.status == "paid" and not o.errors for o in during), [o for o in during if o.errors]
                finally:
                    redis.start()

                for client in clients:
                    for _ in range(100):
                        if (await client.get("/readyz")).status_code == 200:
                            break
                        await asyncio.sleep(0.1)
                    assert (await client.get("/readyz")).status_code == 200

                after = [await buy(clients, buyers[i % 2], stream_id, product_id, 1, start=i) for i in range(4)]
                assert all(o.status == "paid" for o in after)

            head = stream_head(url, stream_id)
            for viewer in viewers:
                await viewer.wait_for_seq(head)
            for viewer in viewers:
                await viewer.stop()
                viewer.assert_complete(head)
            placed = {o.order_id for o in [*before, *during, *after]}
            events = {e["data"]["order_id"] for e in viewers[0].events if e["type"] == "order.paid"}
            assert placed <= events
            assert len(query(url, "SELECT id FROM orders WHERE status = 'paid'")) == len(placed)
