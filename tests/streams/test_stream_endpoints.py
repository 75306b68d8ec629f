"""Stream browsing and the hosts' controls: list, detail, start, end, pin."""

from __future__ import annotations

import httpx
import pytest

from livecommerce.broadcasts.service import host_anchor_ids
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from tests.factories import Factory
from tests.livecommerce.orders.conftest import shop  # the live-stream fixture, shared with the orders tests
from tests.livecommerce.orders.helpers import Shop, events, make_buyers, open_stream, order

__all__ = ["shop"]


@pytest.fixture
async def scheduled(make: Factory, db: Database, shop: Shop) -> int:
    """A second, not yet live stream hosted by the shop's cadre's anchor."""
    async with db.sessionmaker() as session:
        anchor_id = (await host_anchor_ids(session, shop.stream_id))[0]
    return await open_stream(db, anchor_id, [shop.product_id], live=False)


class TestListStreams:
    async def test_filters_by_status(self, client: httpx.AsyncClient, shop: Shop, scheduled: int) -> None:
        live = (await client.get("/api/streams", params={"status": "live"})).json()
        assert [s["id"] for s in live["items"]] == [shop.stream_id]
        upcoming = (await client.get("/api/streams", params={"status": "scheduled"})).json()
        assert [s["id"] for s in upcoming["items"]] == [scheduled]
        assert len((await client.get("/api/streams")).json()["items"]) == 2
        assert (await client.get("/api/streams", params={"status": "ended"})).json()["items"] == []

    async def test_unknown_status_is_422(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/streams", params={"status": "paused"})
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("application/problem+json")


class TestGetStream:
    async def test_detail_has_hosts_products_with_stock_and_pin(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        await order(client, buyer, shop.stream_id, [(shop.product_id, 4)])
        assert (
            await client.post(f"/api/streams/{shop.stream_id}/pin", json={"product_id": shop.product_id}, headers=shop.cadre.headers)
        ).status_code == 200
        body = (await client.get(f"/api/streams/{shop.stream_id}")).json()
        assert body["status"] == "live"
        assert [h["county_id"] for h in body["hosts"]] == [shop.county_id]
        products = {p["id"]: p for p in body["products"]}
        assert set(products) == {shop.product_id, shop.other_product_id}
        assert (products[shop.product_id]["stock"], products[shop.product_id]["reserved"], products[shop.product_id]["sold"]) == (96, 4, 0)
        assert body["pinned_product"]["id"] == shop.product_id
        assert body["pinned_product_id"] == shop.product_id
        assert body["county_ids"] == [shop.county_id]

    async def test_unknown_stream_is_404(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/streams/424242")
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/problem+json")


class TestStartStream:
    async def test_host_cadre_starts_and_event_is_written(
        self, client: httpx.AsyncClient, db: Database, shop: Shop, scheduled: int
    ) -> None:
        r = await client.post(f"/api/streams/{scheduled}/start", headers=shop.cadre.headers)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "live"
        assert r.json()["started_at"] is not None
        assert [e.type for e in await events(db, scheduled)] == ["stream.started"]

    async def test_starting_twice_is_idempotent(self, client: httpx.AsyncClient, db: Database, shop: Shop, scheduled: int) -> None:
        for _ in range(2):
            assert (await client.post(f"/api/streams/{scheduled}/start", headers=shop.organizer.headers)).status_code == 200
        assert len(await events(db, scheduled, "stream.started")) == 1

    async def test_viewer_other_cadre_and_outside_organizer_are_403(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, scheduled: int
    ) -> None:
        elsewhere = await make.county()
        other_anchor = await make.anchor(elsewhere.id or 0)
        users = [
            (await make_buyers(db, make, 1))[0],
            await make.user(Role.cadre, county_ids=[elsewhere.id or 0], anchor_id=other_anchor.id),
            await make.user(Role.organizer, county_ids=[elsewhere.id or 0]),
        ]
        for user in users:
            assert (await client.post(f"/api/streams/{scheduled}/start", headers=user.headers)).status_code == 403
        assert (await client.post(f"/api/streams/{scheduled}/start")).status_code == 401
        assert await events(db, scheduled) == []

    async def test_ended_stream_cannot_restart(self, client: httpx.AsyncClient, shop: Shop) -> None:
        assert (await client.post(f"/api/streams/{shop.stream_id}/end", headers=shop.cadre.headers)).status_code == 200
        assert (await client.post(f"/api/streams/{shop.stream_id}/start", headers=shop.cadre.headers)).status_code == 409

    async def test_unknown_stream_is_404(self, client: httpx.AsyncClient, shop: Shop) -> None:
        assert (await client.post("/api/streams/99999/start", headers=shop.organizer.headers)).status_code == 404


class TestEndStream:
    async def test_organizer_ends_live_stream(self, client: httpx.AsyncClient, db: Database, shop: Shop) -> None:
        r = await client.post(f"/api/streams/{shop.stream_id}/end", headers=shop.organizer.headers)
        assert r.status_code == 200
        assert r.json()["status"] == "ended"
        assert (await events(db, shop.stream_id))[-1].type == "stream.ended"

    async def test_scheduled_stream_cannot_end(self, client: httpx.AsyncClient, shop: Shop, scheduled: int) -> None:
        assert (await client.post(f"/api/streams/{scheduled}/end", headers=shop.cadre.headers)).status_code == 409


class TestPinProduct:
    async def test_pin_featured_product_writes_event(self, client: httpx.AsyncClient, db: Database, shop: Shop) -> None:
        r = await client.post(f"/api/streams/{shop.stream_id}/pin", json={"product_id": shop.other_product_id}, headers=shop.cadre.headers)
        assert r.status_code == 200
        assert r.json()["pinned_product"]["id"] == shop.other_product_id
        pinned = await events(db, shop.stream_id, "product.pinned")
        assert pinned[-1].data["product_id"] == shop.other_product_id

    async def test_product_not_featured_is_422(self, client: httpx.AsyncClient, make: Factory, shop: Shop) -> None:
        product = await make.product(shop.county_id, splits=[("platform", 10000)])
        r = await client.post(f"/api/streams/{shop.stream_id}/pin", json={"product_id": product.id}, headers=shop.cadre.headers)
        assert r.status_code == 422

    async def test_bad_body_is_422(self, client: httpx.AsyncClient, shop: Shop) -> None:
        for body in ({}, {"product_id": "x"}, {"product_id": -1}, {"product_id": shop.product_id, "extra": 1}):
            r = await client.post(f"/api/streams/{shop.stream_id}/pin", json=body, headers=shop.cadre.headers)
            assert r.status_code == 422, body

    async def test_pin_needs_live_stream(self, client: httpx.AsyncClient, shop: Shop, scheduled: int) -> None:
        r = await client.post(f"/api/streams/{scheduled}/pin", json={"product_id": shop.product_id}, headers=shop.cadre.headers)
        assert r.status_code == 409

    async def test_viewer_cannot_pin(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        viewer = (await make_buyers(db, make, 1))[0]
        r = await client.post(f"/api/streams/{shop.stream_id}/pin", json={"product_id": shop.product_id}, headers=viewer.headers)
        assert r.status_code == 403
