"""PostgreSQL goes away under a running instance: answers are a quick 503 problem+json, and it recovers by itself."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.pgserver import PostgresServer, private_postgres
from tests.e2e.scale import new_database, running_cluster, seed

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.own_servers]

# asyncpg's connect timeout is 5 s; nothing should wait much longer than that.
MAX_SECONDS_FOR_AN_ANSWER = 12.0


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    with private_postgres() as server:
        yield server


def _timed(client: httpx.Client, method: str, path: str, **kwargs: object) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    return response, time.monotonic() - started


def _assert_unavailable(response: httpx.Response, seconds: float) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 503 and body["type"] == "/problems/service-unavailable"
    assert "Retry-After" in response.headers
    assert seconds < MAX_SECONDS_FOR_AN_ANSWER


class TestDatabaseOutage:
    async def test_requests_get_503_while_down_and_succeed_after_without_restart(self, pg: PostgresServer, tmp_path: Path) -> None:
        url = new_database(pg)
        with running_cluster(url, None, tmp_path / "logs", instances=1) as (cluster, _front):
            seeded = await seed(url, buyers=1, stock=10)
            staff, buyers, stream_id, product_id = seeded.staff, seeded.buyers, seeded.stream_id, seeded.product_id
            buyer = buyers[0]
            order_body = {"items": [{"product_id": product_id, "quantity": 1}]}
            with httpx.Client(base_url=cluster.instance_url(0), timeout=30) as client:
                assert client.get(f"/api/streams/{stream_id}").status_code == 200  # the pool holds live connections now
                pid = cluster.instances[0].pid

                pg.stop()
                try:
                    _assert_unavailable(*_timed(client, "GET", f"/api/streams/{stream_id}"))
                    key = str(uuid.uuid4())
                    _assert_unavailable(
                        *_timed(
                            client,
                            "POST",
                            f"/api/streams/{stream_id}/orders",
                            json=order_body,
                            headers={**buyer.headers, "Idempotency-Key": key},
                        )
                    )
                    _assert_unavailable(*_timed(client, "GET", "/api/me/orders", headers=buyer.headers))
                    ready, seconds = _timed(client, "GET", "/readyz")
                    assert ready.status_code == 503 and seconds < MAX_SECONDS_FOR_AN_ANSWER
                    assert ready.json()["checks"]["database"].startswith("unavailable")
                    assert client.get("/healthz").status_code == 200  # the process itself is fine
                finally:
                    pg.start()

                deadline = time.monotonic() + 30
                while client.get("/readyz").status_code != 200:
                    assert time.monotonic() < deadline, "did not become ready after the database came back"
                    time.sleep(0.2)
                assert client.get(f"/api/streams/{stream_id}").status_code == 200
                placed = client.post(f"/api/streams/{stream_id}/orders", json=order_body, headers={**buyer.headers, "Idempotency-Key": key})
                assert placed.status_code == 201, placed.text
                paid = client.post(f"/api/orders/{placed.json()['id']}/pay", headers=buyer.headers)
                assert paid.status_code == 200 and paid.json()["status"] == "paid"
                check = client.get("/api/ledger/check", headers=staff.headers).json()
                assert check["balanced"] is True
                assert cluster.instances[0].pid == pid, "the instance was restarted"

                # Logs: one JSON object a line, uvicorn's access log included, with the request's ids bound.
                traced = client.get(f"/api/streams/{stream_id}", headers={"X-Request-Id": "scale-trace-1"})
                assert traced.headers["x-request-id"] == "scale-trace-1"
                metrics = client.get("/metrics").text
            assert cluster.instances[0].log_path is not None
            records = _json_records(cluster.instances[0].log_path)
            access = [r for r in records if r.get("logger") == "uvicorn.access" and r.get("request_id") == "scale-trace-1"]
            assert access and access[0]["stream_id"] == stream_id and access[0]["status"] == 200
            assert any(r.get("event") in ("database_unavailable", "backend_unreachable") and r["level"] == "warning" for r in records)
            assert re.search(r'livecommerce_orders_total\{outcome="placed"\} 1\.0', metrics)
            assert re.search(r'livecommerce_orders_total\{outcome="unavailable"\} 1\.0', metrics)
            assert re.search(r'livecommerce_payments_total\{outcome="paid"\} 1\.0', metrics)


def _json_records(path: Path) -> list[dict[str, object]]:
    records = []
    for line in path.read_text().splitlines():
        if line.startswith("livecommerce serving at"):
            continue  # the CLI's banner for a person at a terminal
        records.append(json.loads(line))
    return records
