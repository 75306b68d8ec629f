"""POST /api/streams/{id}/orders: reservation, idempotency, and refusals that change nothing."""

from __future__ import annotations

import httpx

from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from livecommerce.kit.settings import Settings
from tests.factories import Factory
from tests.livecommerce.orders.helpers import Shop, buckets, count_orders, events, make_buyers, open_stream, order


class TestPlaceOrder:
    async def test_order_reserves_stock_and_returns_pending_order(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, settings: Settings
    ) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        r = await order(client, buyer, shop.stream_id, [(shop.product_id, 3), (shop.other_product_id, 2)])
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["status"] == "pending_payment"
        assert body["total_fen"] == 3 * 1990 + 2 * 500
        assert body["stream_id"] == shop.stream_id
        assert {(i["product_id"], i["quantity"], i["amount_fen"]) for i in body["items"]} == {
            (shop.product_id, 3, 5970),
            (shop.other_product_id, 2, 1000),
        }
        assert body["expires_at"] is not None
        assert await buckets(db, shop.product_id) == (97, 3, 0)
        assert await buckets(db, shop.other_product_id) == (8, 2, 0)

    async def test_placed_order_writes_events_after_stock_with_the_buyer_named_for_staff(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer = (await make_buyers(db, make, 1, display_name="王大锤"))[0]
        r = await order(client, buyer, shop.stream_id, [(shop.product_id, 2)])
        assert r.status_code == 201, r.text
        placed = await events(db, shop.stream_id, "order.placed")
        assert len(placed) == 1
        assert placed[0].data == {
            "order_id": r.json()["id"],
            "buyer": "王大锤",
            "items": [{"product_id": shop.product_id, "quantity": 2}],
            "total_fen": 3980,
        }
        assert buyer.username not in str(placed[0].data)
        changed = await events(db, shop.stream_id, "stock.changed")
        assert [e.data for e in changed] == [{"product_id": shop.product_id, "stock": 98, "reserved": 2, "sold": 0}]
        assert changed[0].seq == placed[0].seq + 1

    async def test_same_key_returns_same_order_and_creates_nothing(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        first = await order(client, buyer, shop.stream_id, [(shop.product_id, 2)], key="tap-1")
        again = await order(client, buyer, shop.stream_id, [(shop.product_id, 2)], key="tap-1")
        assert first.status_code == again.status_code == 201
        assert again.json()["id"] == first.json()["id"]
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert await count_orders(db, buyer_id=buyer.id) == 1
        assert await buckets(db, shop.product_id) == (98, 2, 0)
        assert len(await events(db, shop.stream_id, "order.placed")) == 1

    async def test_same_key_from_another_buyer_is_another_order(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        a, b = await make_buyers(db, make, 2)
        ra = await order(client, a, shop.stream_id, [(shop.product_id, 1)], key="k")
        rb = await order(client, b, shop.stream_id, [(shop.product_id, 1)], key="k")
        assert ra.status_code == rb.status_code == 201
        assert ra.json()["id"] != rb.json()["id"]

    async def test_key_reused_with_different_body_is_409_and_changes_nothing(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        assert (await order(client, buyer, shop.stream_id, [(shop.product_id, 1)], key="k1")).status_code == 201
        r = await order(client, buyer, shop.stream_id, [(shop.product_id, 5)], key="k1")
        assert r.status_code == 409
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "Idempotency-Key" in r.json()["detail"]
        assert await count_orders(db, buyer_id=buyer.id) == 1
        assert await buckets(db, shop.product_id) == (99, 1, 0)

    async def test_replay_still_works_after_the_stream_ended(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        first = await order(client, buyer, shop.stream_id, [(shop.product_id, 1)], key="late-retry")
        assert (await client.post(f"/api/streams/{shop.stream_id}/end", headers=shop.cadre.headers)).status_code == 200
        again = await order(client, buyer, shop.stream_id, [(shop.product_id, 1)], key="late-retry")
        assert again.status_code == 201
        assert again.json()["id"] == first.json()["id"]

    async def test_out_of_stock_returns_409_and_changes_nothing(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        r = await order(client, buyer, shop.stream_id, [(shop.product_id, 1), (shop.other_product_id, 11)])
        assert r.status_code == 409, r.text
        assert r.json()["type"].endswith("out-of-stock")
        assert r.json()["available"] == 10
        assert await buckets(db, shop.product_id) == (100, 0, 0)
        assert await buckets(db, shop.other_product_id) == (10, 0, 0)
        assert await count_orders(db) == 0
        assert await events(db, shop.stream_id, "order.placed") == []

    async def test_key_of_a_refused_order_can_be_retried(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        assert (await order(client, buyer, shop.stream_id, [(shop.other_product_id, 11)], key="again")).status_code == 409
        r = await order(client, buyer, shop.stream_id, [(shop.other_product_id, 11)], key="again")
        assert r.status_code == 409
        assert await count_orders(db) == 0

    async def test_last_units_can_be_bought(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        assert (await order(client, buyer, shop.stream_id, [(shop.other_product_id, 10)])).status_code == 201
        assert await buckets(db, shop.other_product_id) == (0, 10, 0)
        other = (await make_buyers(db, make, 1))[0]
        assert (await order(client, other, shop.stream_id, [(shop.other_product_id, 1)])).status_code == 409

    async def test_scheduled_stream_takes_no_orders(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        anchor = await make.anchor(shop.county_id)
        assert anchor.id is not None
        stream_id = await open_stream(db, anchor.id, [shop.product_id], live=False)
        buyer = (await make_buyers(db, make, 1))[0]
        r = await order(client, buyer, stream_id, [(shop.product_id, 1)])
        assert r.status_code == 409
        assert "live" in r.json()["detail"]
        assert await buckets(db, shop.product_id) == (100, 0, 0)

    async def test_ended_stream_takes_no_orders(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        assert (await client.post(f"/api/streams/{shop.stream_id}/end", headers=shop.organizer.headers)).status_code == 200
        buyer = (await make_buyers(db, make, 1))[0]
        assert (await order(client, buyer, shop.stream_id, [(shop.product_id, 1)])).status_code == 409

    async def test_product_not_featured_is_422(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        elsewhere = await make.product(shop.county_id, splits=[("platform", 10000)], stock=5)
        buyer = (await make_buyers(db, make, 1))[0]
        r = await order(client, buyer, shop.stream_id, [(shop.product_id, 1), (elsewhere.id or 0, 1)])
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "items.1.product_id"
        assert await buckets(db, shop.product_id) == (100, 0, 0)
        assert await count_orders(db) == 0

    async def test_unknown_product_is_422(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        r = await order(client, buyer, shop.stream_id, [(999_999, 1)])
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("application/problem+json")

    async def test_unknown_stream_is_404(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        assert (await order(client, buyer, 987_654, [(shop.product_id, 1)])).status_code == 404

    async def test_anonymous_is_401(self, client: httpx.AsyncClient, shop: Shop) -> None:
        r = await client.post(
            f"/api/streams/{shop.stream_id}/orders",
            json={"items": [{"product_id": shop.product_id, "quantity": 1}]},
            headers={"Idempotency-Key": "x"},
        )
        assert r.status_code == 401

    async def test_missing_key_is_422_problem(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        r = await client.post(
            f"/api/streams/{shop.stream_id}/orders", json={"items": [{"product_id": shop.product_id, "quantity": 1}]}, headers=buyer.headers
        )
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("application/problem+json")
        assert any("Idempotency-Key" in e["field"] for e in r.json()["errors"])
        assert await count_orders(db) == 0

    async def test_bad_bodies_are_422_and_change_nothing(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        headers = {**buyer.headers, "Idempotency-Key": "bad"}
        url = f"/api/streams/{shop.stream_id}/orders"
        p = shop.product_id
        bodies = [
            {"items": [{"product_id": p, "quantity": 0}]},
            {"items": [{"product_id": p, "quantity": -3}]},
            {"items": [{"product_id": p, "quantity": 10**12}]},
            {"items": [{"product_id": p, "quantity": 1.5}]},
            {"items": [{"product_id": p, "quantity": "1; DROP TABLE"}]},
            {"items": [{"product_id": 2**40, "quantity": 1}]},
            {"items": []},
            {"items": [{"product_id": p, "quantity": 1}] * 2},
            {"items": [{"product_id": i + 1, "quantity": 1} for i in range(21)]},
            {"items": [{"product_id": p, "quantity": 1}], "coupon": "FREE"},
            {},
            [],
        ]
        for body in bodies:
            r = await client.post(url, json=body, headers=headers)
            assert r.status_code == 422, (body, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
        r = await client.post(url, content=b"{not json", headers={**headers, "Content-Type": "application/json"})
        assert r.status_code == 422
        assert await count_orders(db) == 0
        assert await buckets(db, p) == (100, 0, 0)

    async def test_quantity_over_buyer_cap_is_422(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, settings: Settings
    ) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        r = await order(client, buyer, shop.stream_id, [(shop.product_id, settings.max_quantity_per_buyer + 1)])
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "items.0.quantity"

    async def test_cap_counts_open_and_paid_orders_but_not_cancelled(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, settings: Settings
    ) -> None:
        cap = settings.max_quantity_per_buyer
        buyer = (await make_buyers(db, make, 1))[0]
        first = await order(client, buyer, shop.stream_id, [(shop.product_id, cap - 1)])
        assert first.status_code == 201
        assert (await order(client, buyer, shop.stream_id, [(shop.product_id, 2)])).status_code == 409
        assert (await order(client, buyer, shop.stream_id, [(shop.product_id, 1)])).status_code == 201
        assert (await order(client, buyer, shop.stream_id, [(shop.product_id, 1)])).status_code == 409
        cancel = await client.post(f"/api/orders/{first.json()['id']}/cancel", headers=buyer.headers)
        assert cancel.status_code == 200
        assert (await order(client, buyer, shop.stream_id, [(shop.product_id, cap - 1)])).status_code == 201
        assert await buckets(db, shop.product_id) == (100 - cap, cap, 0)

    async def test_staff_may_order_too(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        admin = await make.user(Role.admin)
        assert (await order(client, admin, shop.stream_id, [(shop.product_id, 1)])).status_code == 201
