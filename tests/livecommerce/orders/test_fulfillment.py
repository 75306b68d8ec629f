"""Parcels, receipt by the buyer and by the timer, and the pick list."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlmodel import col, select

from livecommerce.kit.clock import Clock, utcnow
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from livecommerce.kit.settings import Settings
from livecommerce.orders.fulfillment import auto_receive_due
from livecommerce.orders.models import Order
from schedulers.jobs import JobContext, auto_receive_orders
from schedulers.notify import LogNotifier
from tests.factories import Factory
from tests.livecommerce.orders.aftersales import ADDRESS, buy, buyer_with_address, ship
from tests.livecommerce.orders.helpers import Shop, make_buyers


async def _delivered_at(db: Database, order_id: int) -> tuple[str, object]:
    async with db.sessionmaker() as session:
        order = (await session.scalars(select(Order).where(col(Order.id) == order_id))).one()
        return order.fulfillment, order.delivered_at


class TestRecordShipment:
    async def test_organizer_ships_a_paid_order(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        assert order["fulfillment"] == "unshipped" and order["shipments"] == []
        r = await ship(client, shop.organizer, order["id"], "SF", "sf1234567890123")
        assert r.status_code == 201, r.text
        assert r.json()["carrier"] == "SF" and r.json()["tracking_no"] == "SF1234567890123"
        seen = (await client.get(f"/api/orders/{order['id']}", headers=buyer.headers)).json()
        assert seen["fulfillment"] == "shipped" and seen["shipped_at"] is not None
        assert [(s["carrier"], s["tracking_no"]) for s in seen["shipments"]] == [("SF", "SF1234567890123")]

    async def test_several_parcels_are_allowed(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop, quantity=3)
        assert (await ship(client, shop.organizer, order["id"], "SF", "SF111111111111")).status_code == 201
        assert (await ship(client, shop.organizer, order["id"], "EMS", "EA123456789CN")).status_code == 201
        seen = (await client.get(f"/api/orders/{order['id']}", headers=buyer.headers)).json()
        assert [s["carrier"] for s in seen["shipments"]] == ["SF", "EMS"]

    async def test_unpaid_order_is_409(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop, pay=False)
        assert (await ship(client, shop.organizer, order["id"])).status_code == 409

    async def test_unknown_carrier_is_422(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        r = await ship(client, shop.organizer, order["id"], "Pigeon", "SF123456789012")
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "carrier"

    async def test_tracking_number_of_the_wrong_shape_is_422(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        for carrier, number in (("SF", "JD0012345678901"), ("EMS", "12345"), ("China Post", "EA12345678CN")):
            r = await ship(client, shop.organizer, order["id"], carrier, number)
            assert r.status_code == 422, (carrier, number)
            assert r.json()["errors"][0]["field"] == "tracking_no"

    async def test_same_tracking_number_twice_is_409(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        assert (await ship(client, shop.organizer, order["id"], "JD", "JD0012345678901")).status_code == 201
        assert (await ship(client, shop.organizer, order["id"], "JD", "JD0012345678901")).status_code == 409

    async def test_carriers_come_from_settings(self, settings: Settings) -> None:
        assert {"SF", "JD", "EMS", "China Post"} <= set(settings.carriers)
        assert Settings(carriers=["SF"]).carriers == ["SF"]

    async def test_buyer_and_host_cadre_cannot_ship(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        for who in (buyer, shop.cadre):
            assert (await ship(client, who, order["id"])).status_code == 403


class TestConfirmReceipt:
    async def test_buyer_confirms_a_shipped_order(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        await ship(client, shop.organizer, order["id"])
        r = await client.post(f"/api/orders/{order['id']}/received", headers=buyer.headers)
        assert r.status_code == 200, r.text
        assert r.json()["fulfillment"] == "delivered" and r.json()["delivered_at"] is not None

    async def test_confirming_twice_changes_nothing(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        await ship(client, shop.organizer, order["id"])
        first = (await client.post(f"/api/orders/{order['id']}/received", headers=buyer.headers)).json()
        second = await client.post(f"/api/orders/{order['id']}/received", headers=buyer.headers)
        assert second.status_code == 200 and second.json()["delivered_at"] == first["delivered_at"]

    async def test_unshipped_order_is_409(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        assert (await client.post(f"/api/orders/{order['id']}/received", headers=buyer.headers)).status_code == 409

    async def test_only_the_buyer_confirms(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        await ship(client, shop.organizer, order["id"])
        assert (await client.post(f"/api/orders/{order['id']}/received", headers=shop.organizer.headers)).status_code == 403

    async def test_no_parcel_after_delivery(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        await ship(client, shop.organizer, order["id"])
        await client.post(f"/api/orders/{order['id']}/received", headers=buyer.headers)
        assert (await ship(client, shop.organizer, order["id"])).status_code == 409


class TestAutoReceive:
    async def test_shipped_order_is_delivered_after_the_days(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        await ship(client, shop.organizer, order["id"])
        async with db.transaction() as session:
            assert await auto_receive_due(session, now=utcnow() + timedelta(days=9, hours=23), days=10) == 0
        assert (await _delivered_at(db, order["id"]))[0] == "shipped"
        later = utcnow() + timedelta(days=10, minutes=1)
        async with db.transaction() as session:
            assert await auto_receive_due(session, now=later, days=10) == 1
        assert await _delivered_at(db, order["id"]) == ("delivered", later)

    async def test_job_running_twice_delivers_once(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, settings: Settings
    ) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        await ship(client, shop.organizer, order["id"])
        ctx = JobContext(db=db, settings=settings, clock=Clock(), notifier=LogNotifier())
        first_run = utcnow() + timedelta(days=settings.auto_receive_days, hours=1)
        assert await auto_receive_orders(ctx, first_run) == 1
        assert await auto_receive_orders(ctx, first_run + timedelta(hours=1)) == 0
        assert await _delivered_at(db, order["id"]) == ("delivered", first_run)

    async def test_unshipped_and_refunded_orders_are_left_alone(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        unshipped = await buy(client, buyer, shop)
        refunded = await buy(client, buyer, shop)
        await ship(client, shop.organizer, refunded["id"])
        assert (await client.post(f"/api/orders/{refunded['id']}/refund", headers=shop.organizer.headers)).status_code == 200
        async with db.transaction() as session:
            assert await auto_receive_due(session, now=utcnow() + timedelta(days=30), days=10) == 0
        assert (await _delivered_at(db, unshipped["id"]))[0] == "unshipped"
        assert (await _delivered_at(db, refunded["id"]))[0] == "shipped"


class TestPickList:
    async def test_lists_unshipped_paid_orders_with_their_address(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer, address_id = await buyer_with_address(client, make, db)
        paid = await buy(client, buyer, shop, quantity=2)
        unpaid = await buy(client, buyer, shop, pay=False)
        r = await client.get(f"/api/fulfillment?county_id={shop.county_id}", headers=shop.organizer.headers)
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert [i["order_id"] for i in items] == [paid["id"]]
        assert unpaid["id"] not in [i["order_id"] for i in items]
        assert items[0]["county_ids"] == [shop.county_id]
        assert items[0]["items"][0]["quantity"] == 2
        assert items[0]["address"] == {"id": address_id, **ADDRESS, "is_default": True}

    async def test_status_filter_shows_shipped_ones(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        packed, waiting = await buy(client, buyer, shop), await buy(client, buyer, shop)
        await ship(client, shop.organizer, packed["id"])
        shipped = (await client.get("/api/fulfillment?status=shipped", headers=shop.organizer.headers)).json()["items"]
        unshipped = (await client.get("/api/fulfillment", headers=shop.organizer.headers)).json()["items"]
        assert [i["order_id"] for i in shipped] == [packed["id"]]
        assert [i["order_id"] for i in unshipped] == [waiting["id"]]
        assert len(shipped[0]["shipments"]) == 1

    async def test_organizer_sees_only_their_counties(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        await buy(client, buyer, shop)
        other = await make.county()
        outsider = await make.user(Role.organizer, county_ids=[other.id])
        assert (await client.get("/api/fulfillment", headers=outsider.headers)).json()["items"] == []
        admin = await make.user(Role.admin)
        assert len((await client.get("/api/fulfillment", headers=admin.headers)).json()["items"]) == 1

    async def test_pages_follow_the_cursor(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        ids = [(await buy(client, buyer, shop))["id"] for _ in range(3)]
        first = (await client.get("/api/fulfillment?limit=2", headers=shop.organizer.headers)).json()
        second = (await client.get(f"/api/fulfillment?limit=2&cursor={first['next_cursor']}", headers=shop.organizer.headers)).json()
        assert [i["order_id"] for i in first["items"] + second["items"]] == ids
        assert second["next_cursor"] is None

    async def test_viewers_and_cadres_are_403(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        viewer = (await make_buyers(db, make, 1))[0]
        for who in (viewer, shop.cadre):
            assert (await client.get("/api/fulfillment", headers=who.headers)).status_code == 403
