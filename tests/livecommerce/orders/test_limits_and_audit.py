"""Order placement is rate-limited per buyer and per stream; refunds and pins are audited."""

from __future__ import annotations

import httpx
import pytest

from livecommerce.kit.db import Database
from livecommerce.kit.settings import Settings
from tests.factories import Factory
from tests.livecommerce.orders.helpers import Shop, make_buyers, order


@pytest.fixture
def settings(settings: Settings) -> Settings:
    limits = {**settings.rate_limits, "orders_buyer": "3/minute", "orders_stream": "5/minute"}
    return settings.model_copy(update={"rate_limits_enabled": True, "rate_limits": limits})


class TestOrderRateLimits:
    async def test_a_buyer_past_the_limit_gets_429_with_retry_after(
        self, client: httpx.AsyncClient, db: Database, make: Factory, shop: Shop
    ) -> None:
        [buyer] = await make_buyers(db, make, 1)
        statuses = [(await order(client, buyer, shop.stream_id, [(shop.product_id, 1)])).status_code for _ in range(3)]
        assert statuses == [201, 201, 201]
        r = await order(client, buyer, shop.stream_id, [(shop.product_id, 1)])
        assert r.status_code == 429
        assert r.headers["content-type"].startswith("application/problem+json")
        assert 1 <= int(r.headers["retry-after"]) <= 60
        product = await client.get(f"/api/products/{shop.product_id}")
        assert product.json()["reserved"] == 3, "the refused order reserved nothing"

    async def test_a_stream_past_its_limit_refuses_every_buyer(
        self, client: httpx.AsyncClient, db: Database, make: Factory, shop: Shop
    ) -> None:
        buyers = await make_buyers(db, make, 6)
        statuses = [(await order(client, b, shop.stream_id, [(shop.product_id, 1)])).status_code for b in buyers]
        assert statuses == [201] * 5 + [429]

    async def test_anonymous_callers_get_401_before_any_limit(self, client: httpx.AsyncClient, shop: Shop) -> None:
        r = await client.post(f"/api/streams/{shop.stream_id}/orders", json={"items": [{"product_id": shop.product_id, "quantity": 1}]})
        assert r.status_code == 401


class TestAuditedOrderChanges:
    async def test_refund_and_pin_are_in_the_audit_log_with_their_actor(
        self, client: httpx.AsyncClient, db: Database, make: Factory, shop: Shop
    ) -> None:
        [buyer] = await make_buyers(db, make, 1)
        placed = await order(client, buyer, shop.stream_id, [(shop.product_id, 2)])
        order_id = placed.json()["id"]
        assert (await client.post(f"/api/orders/{order_id}/pay", headers=buyer.headers)).status_code == 200
        assert (await client.post(f"/api/orders/{order_id}/refund", headers=shop.organizer.headers)).status_code == 200
        pin = await client.post(
            f"/api/streams/{shop.stream_id}/pin", json={"product_id": shop.other_product_id}, headers=shop.cadre.headers
        )
        assert pin.status_code == 200
        admin = await make.user("admin")
        records = (await client.get("/api/audit", headers=admin.headers)).json()["items"]
        by_action = {r["action"]: r for r in records}
        assert by_action["order.refunded"]["target"] == f"order:{order_id}"
        assert by_action["order.refunded"]["actor"] == shop.organizer.username
        assert by_action["order.refunded"]["details"] == {"amount_fen": 2 * 1990}
        pins = [r for r in records if r["action"] == "stream.product_pinned"]
        assert pins and pins[-1]["actor"] == shop.cadre.username
        assert (await client.get("/api/audit/verify", headers=admin.headers)).json()["ok"] is True
