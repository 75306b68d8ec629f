"""SIGTERM to an instance: its in-flight request completes, its viewers get 1001 and resume elsewhere without a gap.

The in-flight request is made slow for real: the test holds the row lock of the product being
ordered, so the order placement waits inside the instance while the instance is told to stop.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.e2e.pgserver import PostgresServer, private_postgres
from tests.e2e.redisserver import RedisServer, private_redis
from tests.e2e.scale import ResumingViewer, buy, instance_clients, new_database, running_cluster, seed, stream_head

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.own_servers]

GOING_AWAY = 1001


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    with private_postgres() as server:
        yield server


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with private_redis() as server:
        yield server


def _wait_for_lock_waiter(url: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            ).fetchone()
            if row and row[0] > 0:
                return
            assert time.monotonic() < deadline, "the order placement never reached the locked row"
            time.sleep(0.05)


class TestGracefulShutdown:
    async def test_in_flight_request_completes_and_viewers_resume_on_the_other_instance(
        self, pg: PostgresServer, redis: RedisServer, tmp_path: Path
    ) -> None:
        url = new_database(pg)
        with running_cluster(url, redis, tmp_path / "logs", instances=2) as (cluster, _front):
            seeded = await seed(url, buyers=2, stock=500, products=2)
            locked_product, other_product = seeded.product_ids
            leaving = [ResumingViewer(cluster.instance_url(0), cluster.url, seeded.stream_id) for _ in range(3)]
            staying = ResumingViewer(cluster.instance_url(1), cluster.url, seeded.stream_id)
            viewers = [*leaving, staying]
            for viewer in viewers:
                viewer.start()
            async with asyncio.timeout(15):
                await asyncio.gather(*(v.connected.wait() for v in viewers))

            async with instance_clients(cluster) as clients:
                warmup = [await buy(clients, seeded.buyers[0], seeded.stream_id, other_product, 1, start=i) for i in range(3)]
                assert all(o.status == "paid" for o in warmup)

                stop_traffic = asyncio.Event()

                async def traffic_on_the_survivor() -> list:
                    outcomes = []
                    while not stop_traffic.is_set():
                        outcomes.append(await buy(clients[1:], seeded.buyers[1], seeded.stream_id, other_product, 1))
                        await asyncio.sleep(0.1)
                    return outcomes

                traffic = asyncio.create_task(traffic_on_the_survivor())
                key = str(uuid.uuid4())
                with psycopg.connect(url) as holder:
                    holder.execute("SELECT id FROM products WHERE id = %s FOR UPDATE", (locked_product,))
                    in_flight = asyncio.create_task(
                        clients[0].post(
                            f"/api/streams/{seeded.stream_id}/orders",
                            json={"items": [{"product_id": locked_product, "quantity": 2}]},
                            headers={**seeded.buyers[0].headers, "Idempotency-Key": key},
                        )
                    )
                    await asyncio.to_thread(_wait_for_lock_waiter, url)

                    cluster.instances[0].send_signal(signal.SIGTERM)
                    async with asyncio.timeout(10):
                        while not all(v.connections > 1 for v in leaving):
                            await asyncio.sleep(0.05)
                    assert not in_flight.done(), "the in-flight request ended before its lock was released"
                    holder.commit()  # let the in-flight order placement finish

                response = await in_flight
                assert response.status_code == 201, response.text
                # uvicorn re-raises the signal after a complete graceful shutdown, so the exit status is "killed by SIGTERM".
                assert cluster.instances[0].wait(20) in (0, -signal.SIGTERM)
                assert cluster.instances[0].log_path is not None
                assert "Application shutdown complete." in cluster.instances[0].log_path.read_text()

                await asyncio.sleep(1.0)  # events keep coming from the survivor while viewers have moved
                stop_traffic.set()
                outcomes = await traffic
                assert outcomes and all(o.status == "paid" and not o.errors for o in outcomes)

                order = await clients[1].get(f"/api/orders/{response.json()['id']}", headers=seeded.buyers[0].headers)
                assert order.status_code == 200 and order.json()["status"] == "pending_payment"

            for viewer in leaving:
                assert viewer.close_codes[0] == GOING_AWAY, viewer.close_codes
            head = stream_head(url, seeded.stream_id)
            for viewer in viewers:
                await viewer.wait_for_seq(head)
            for viewer in viewers:
                await viewer.stop()
                viewer.assert_complete(head)
            assert staying.connections == 1, "a viewer of the surviving instance was disconnected"
            async with httpx.AsyncClient(base_url=cluster.url) as front_client:
                assert (await front_client.get("/readyz")).status_code == 200
