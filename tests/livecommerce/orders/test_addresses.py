"""Buyers' delivery addresses, the address an order carries, and who sees the personal parts of one."""

from __future__ import annotations

import httpx

from livecommerce.kit.db import Database
from livecommerce.kit.principal import Principal, Role
from livecommerce.orders.addresses import address_public, sees_in_full
from livecommerce.orders.models import Address
from tests.factories import Factory
from tests.livecommerce.orders.aftersales import ADDRESS, add_address, buy, buyer_with_address, ship
from tests.livecommerce.orders.helpers import Shop, events, make_buyers


class TestAddAddress:
    async def test_first_address_is_the_default(self, client: httpx.AsyncClient, make: Factory, db: Database) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        r = await add_address(client, buyer)
        assert r.status_code == 201, r.text
        assert r.json() == {"id": r.json()["id"], **ADDRESS, "is_default": True}

    async def test_a_new_default_replaces_the_old_one(self, client: httpx.AsyncClient, make: Factory, db: Database) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        first = (await add_address(client, buyer)).json()
        second = (await add_address(client, buyer, detail="星子镇2号", is_default=True)).json()
        third = (await add_address(client, buyer, detail="东陂镇5号")).json()
        listed = (await client.get("/api/me/addresses", headers=buyer.headers)).json()
        assert [(a["id"], a["is_default"]) for a in listed] == [(second["id"], True), (first["id"], False), (third["id"], False)]

    async def test_bad_phone_is_422(self, client: httpx.AsyncClient, make: Factory, db: Database) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        assert (await add_address(client, buyer, phone="call me")).status_code == 422

    async def test_anonymous_is_401(self, client: httpx.AsyncClient) -> None:
        assert (await client.post("/api/me/addresses", json=ADDRESS)).status_code == 401


class TestListAddresses:
    async def test_a_buyer_sees_only_their_own(self, client: httpx.AsyncClient, make: Factory, db: Database) -> None:
        mine, other = await make_buyers(db, make, 2)
        await add_address(client, mine)
        await add_address(client, other, recipient="赵六")
        listed = (await client.get("/api/me/addresses", headers=mine.headers)).json()
        assert [a["recipient"] for a in listed] == [ADDRESS["recipient"]]


class TestOrderAddress:
    async def test_order_without_address_id_takes_the_default(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer, address_id = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop, pay=False)
        assert order["address_id"] == address_id
        assert (await client.get(f"/api/orders/{order['id']}", headers=buyer.headers)).json()["address_id"] == address_id

    async def test_order_with_address_id_takes_that_one(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _default = await buyer_with_address(client, make, db)
        other = (await add_address(client, buyer, detail="星子镇2号")).json()["id"]
        assert (await buy(client, buyer, shop, pay=False, address_id=other))["address_id"] == other

    async def test_someone_elses_address_is_422(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        _owner, address_id = await buyer_with_address(client, make, db)
        thief = (await make_buyers(db, make, 1))[0]
        body = {"items": [{"product_id": shop.product_id, "quantity": 1}], "address_id": address_id}
        r = await client.post(f"/api/streams/{shop.stream_id}/orders", json=body, headers={**thief.headers, "Idempotency-Key": "k1"})
        assert r.status_code == 422, r.text
        assert r.json()["errors"] == [{"field": "address_id", "message": "not one of your addresses"}]

    async def test_buyer_without_address_orders_without_one(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        assert (await buy(client, buyer, shop, pay=False))["address_id"] is None

    async def test_address_never_reaches_the_stream_events(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        await buy(client, buyer, shop)
        text = repr([e.data for e in await events(db, shop.stream_id)])
        assert ADDRESS["phone"] not in text and ADDRESS["detail"] not in text


class TestMasking:
    def _address(self) -> Address:
        return Address(id=1, buyer_id=7, **ADDRESS, is_default=True)

    def test_a_stranger_sees_phone_and_detail_masked(self) -> None:
        stranger = Principal(id=8, username="s", role=Role.viewer, display_name="s")
        view = address_public(self._address(), in_full=sees_in_full(stranger, 7, {1}))
        assert view.phone == "13*******78"
        assert view.detail == "西岸******"
        assert view.recipient == ADDRESS["recipient"]

    def test_organizer_of_another_county_sees_them_masked(self) -> None:
        organizer = Principal(id=9, username="o", role=Role.organizer, display_name="o", county_ids=frozenset({2}))
        assert not sees_in_full(organizer, 7, {1})
        assert address_public(self._address(), in_full=sees_in_full(organizer, 7, {1})).phone != ADDRESS["phone"]

    def test_buyer_admin_and_the_orders_organizer_see_them_in_full(self) -> None:
        admin = Principal(id=1, username="a", role=Role.admin, display_name="a")
        organizer = Principal(id=9, username="o", role=Role.organizer, display_name="o", county_ids=frozenset({1}))
        buyer = Principal(id=7, username="b", role=Role.viewer, display_name="b")
        assert sees_in_full(admin, 7, {1})
        assert sees_in_full(organizer, 7, {1})
        assert sees_in_full(buyer, 7, set())

    async def test_pick_list_shows_the_orders_organizer_the_address_in_full(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        item = next(
            i
            for i in (await client.get("/api/fulfillment", headers=shop.organizer.headers)).json()["items"]
            if i["order_id"] == order["id"]
        )
        assert item["address"]["phone"] == ADDRESS["phone"] and item["address"]["detail"] == ADDRESS["detail"]

    async def test_organizer_of_another_county_never_sees_the_address(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        other_county = await make.county()
        outsider = await make.user(Role.organizer, county_ids=[other_county.id])
        assert (await client.get(f"/api/orders/{order['id']}", headers=outsider.headers)).status_code == 403
        listed = await client.get("/api/fulfillment", headers=outsider.headers)
        assert listed.status_code == 200 and ADDRESS["phone"] not in listed.text
        assert (await client.get(f"/api/fulfillment?county_id={shop.county_id}", headers=outsider.headers)).status_code == 403
        assert (await ship(client, outsider, order["id"])).status_code == 403

    async def test_a_stranger_cannot_read_the_order(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        stranger = (await make_buyers(db, make, 1))[0]
        r = await client.get(f"/api/orders/{order['id']}", headers=stranger.headers)
        assert r.status_code == 403 and ADDRESS["phone"] not in r.text
        assert (await client.get("/api/fulfillment", headers=stranger.headers)).status_code == 403
