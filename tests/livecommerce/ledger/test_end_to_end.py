"""Through a real server: order in a live stream, pay, refund, and read the books and reports."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from livecommerce.kit.settings import Settings
from livecommerce.main.app import create_app
from tests.factories import Factory
from tests.livecommerce.orders.helpers import open_stream

pytestmark = pytest.mark.e2e


@pytest.fixture
def server_url(settings: Settings) -> Iterator[str]:
    """A uvicorn server on a free port, in a thread, on the test database."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings, migrate=False), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        threading.Event().wait(0.05)
    assert server.started, "server did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)
    assert not thread.is_alive(), "the server thread outlived its test"


class TestPaidOrderEndToEnd:
    async def test_pay_refund_and_reports_over_real_sockets(self, server_url: str, db: Database, make: Factory) -> None:
        county = await make.county()
        household = await make.household(county.id)
        station = await make.station(county.id)
        splits = [(f"household:{household.id}", 6667), (f"station:{station.id}", 2333), ("platform", 1000)]
        product = await make.product(county.id, splits=splits, price_fen=1999, stock=50)
        anchor = await make.anchor(county.id)
        stream_id = await open_stream(db, anchor.id, [product.id])  # type: ignore[arg-type,list-item]
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        buyer = await make.user(Role.viewer)
        party = f"household:{household.id}"

        async with httpx.AsyncClient(base_url=server_url, timeout=10) as http:
            placed = await http.post(
                f"/api/streams/{stream_id}/orders",
                json={"items": [{"product_id": product.id, "quantity": 3}]},
                headers={**buyer.headers, "Idempotency-Key": uuid.uuid4().hex},
            )
            assert placed.status_code == 201, placed.text
            order_id = placed.json()["id"]
            paid = await http.post(f"/api/orders/{order_id}/pay", headers=buyer.headers)
            assert paid.status_code == 200, paid.text
            again = await http.post(f"/api/orders/{order_id}/pay", headers=buyer.headers)
            assert again.status_code in (200, 409)

            balance = (await http.get(f"/api/ledger/accounts/{party}", headers=organizer.headers)).json()
            assert balance["balance_fen"] == 3998  # 5997 * 0.6667 = 3998.2
            report = (await http.get(f"/api/streams/{stream_id}/report", headers=organizer.headers)).json()
            assert (report["gmv_fen"], report["paid_orders"], report["units"], report["net_fen"]) == (5997, 1, 3, 5997)
            assert report["by_household"][0]["name"] == household.name

            refunded = await http.post(f"/api/orders/{order_id}/refund", headers=organizer.headers)
            assert refunded.status_code == 200, refunded.text
            twice = await http.post(f"/api/orders/{order_id}/refund", headers=organizer.headers)
            assert twice.status_code == 409

            report = (await http.get(f"/api/streams/{stream_id}/report", headers=organizer.headers)).json()
            assert (report["gmv_fen"], report["refunded_fen"], report["net_fen"]) == (5997, 5997, 0)
            assert (await http.get(f"/api/ledger/accounts/{party}", headers=organizer.headers)).json()["balance_fen"] == 0
            check = (await http.get("/api/ledger/check", headers=organizer.headers)).json()
            assert check["balanced"] is True and check["total_debits_fen"] == 2 * 5997
            csv_text = (await http.get(f"/api/streams/{stream_id}/report.csv", headers=organizer.headers)).content.decode("utf-8-sig")
            assert csv_text.splitlines()[1] == f"stream,{stream_id},,,1,3,5997,59.97,5997,59.97,0,0.00"
