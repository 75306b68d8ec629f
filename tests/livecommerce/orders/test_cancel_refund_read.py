"""Cancelling, refunding and reading orders."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
from sqlmodel import col, func, select

from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from livecommerce.ledger.models import LedgerAccount, LedgerTransaction
from livecommerce.orders.models import Payment
from tests.factories import Factory
from tests.livecommerce.orders.helpers import Shop, buckets, events, make_buyers, order

if TYPE_CHECKING:
    from tests.factories import TestUser


async def place(
    client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, quantity: int = 2, *, pay: bool = False
) -> tuple[TestUser, dict]:
    buyer = (await make_buyers(db, make, 1))[0]
    r = await order(client, buyer, shop.stream_id, [(shop.product_id, quantity)])
    assert r.status_code == 201, r.text
    if pay:
        assert (await client.post(f"/api/orders/{r.json()['id']}/pay", headers=buyer.headers)).status_code == 200
    return buyer, r.json()


class TestCancelOrder:
    async def test_buyer_cancels_and_stock_returns(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, body = await place(client, make, db, shop, 3)
        r = await client.post(f"/api/orders/{body['id']}/cancel", headers=buyer.headers)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled"
        assert r.json()["cancelled_at"] is not None
        assert await buckets(db, shop.product_id) == (100, 0, 0)
        cancelled = await events(db, shop.stream_id, "order.cancelled")
        assert [e.data for e in cancelled] == [
            {"order_id": body["id"], "buyer": "李小龙", "total_fen": body["total_fen"], "reason": "cancelled"}
        ]
        assert (await events(db, shop.stream_id))[-1].data == {"product_id": shop.product_id, "stock": 100, "reserved": 0, "sold": 0}

    async def test_cancelling_twice_changes_nothing(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, body = await place(client, make, db, shop)
        for _ in range(2):
            assert (await client.post(f"/api/orders/{body['id']}/cancel", headers=buyer.headers)).status_code == 200
        assert await buckets(db, shop.product_id) == (100, 0, 0)
        assert len(await events(db, shop.stream_id, "order.cancelled")) == 1

    async def test_someone_else_cannot_cancel(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        _buyer, body = await place(client, make, db, shop)
        for user in ((await make_buyers(db, make, 1))[0], shop.organizer):
            assert (await client.post(f"/api/orders/{body['id']}/cancel", headers=user.headers)).status_code == 403
        assert await buckets(db, shop.product_id) == (98, 2, 0)

    async def test_paid_order_cannot_be_cancelled(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, body = await place(client, make, db, shop, pay=True)
        assert (await client.post(f"/api/orders/{body['id']}/cancel", headers=buyer.headers)).status_code == 409
        assert await buckets(db, shop.product_id) == (98, 0, 2)


class TestRefundOrder:
    async def test_organizer_refunds_paid_order_and_ledger_is_reversed(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        _buyer, body = await place(client, make, db, shop, 2, pay=True)
        r = await client.post(f"/api/orders/{body['id']}/refund", headers=shop.organizer.headers)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "refunded"
        assert r.json()["refunded_at"] is not None
        assert await buckets(db, shop.product_id) == (100, 0, 0)
        async with db.sessionmaker() as session:
            balances = dict((await session.execute(select(col(LedgerAccount.party), col(LedgerAccount.balance_fen)))).all())
            assert all(v == 0 for v in balances.values()), balances
            kinds = sorted((await session.scalars(select(col(LedgerTransaction.kind)))).all())
            assert kinds == ["reversal", "sale"]
            refunds = (await session.scalars(select(Payment).where(col(Payment.kind) == "refund"))).all()
            assert len(refunds) == 1
        refunded = await events(db, shop.stream_id, "order.refunded")
        assert [e.data for e in refunded] == [{"order_id": body["id"], "buyer": "李小龙", "total_fen": body["total_fen"]}]
        assert (await events(db, shop.stream_id))[-1].data == {"product_id": shop.product_id, "stock": 100, "reserved": 0, "sold": 0}

    async def test_admin_may_refund(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        _buyer, body = await place(client, make, db, shop, pay=True)
        admin = await make.user(Role.admin)
        assert (await client.post(f"/api/orders/{body['id']}/refund", headers=admin.headers)).status_code == 200

    async def test_refunding_twice_is_409(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        _buyer, body = await place(client, make, db, shop, pay=True)
        assert (await client.post(f"/api/orders/{body['id']}/refund", headers=shop.organizer.headers)).status_code == 200
        assert (await client.post(f"/api/orders/{body['id']}/refund", headers=shop.organizer.headers)).status_code == 409
        assert await buckets(db, shop.product_id) == (100, 0, 0)
        async with db.sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(LedgerTransaction)) == 2

    async def test_unpaid_order_cannot_be_refunded(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        _buyer, body = await place(client, make, db, shop)
        assert (await client.post(f"/api/orders/{body['id']}/refund", headers=shop.organizer.headers)).status_code == 409
        assert await buckets(db, shop.product_id) == (98, 2, 0)

    async def test_buyer_cadre_and_other_counties_organizer_cannot_refund(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer, body = await place(client, make, db, shop, pay=True)
        elsewhere = await make.county()
        outsider = await make.user(Role.organizer, county_ids=[elsewhere.id or 0])
        for user in (buyer, shop.cadre, outsider):
            assert (await client.post(f"/api/orders/{body['id']}/refund", headers=user.headers)).status_code == 403
        assert await buckets(db, shop.product_id) == (98, 0, 2)


class TestGetOrder:
    async def test_buyer_and_county_staff_see_the_order(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, body = await place(client, make, db, shop)
        admin = await make.user(Role.admin)
        for user in (buyer, shop.organizer, admin):
            r = await client.get(f"/api/orders/{body['id']}", headers=user.headers)
            assert r.status_code == 200
            assert r.json() == body

    async def test_other_viewers_and_outside_organizers_are_403(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        _buyer, body = await place(client, make, db, shop)
        elsewhere = await make.county()
        outsider = await make.user(Role.organizer, county_ids=[elsewhere.id or 0])
        for user in ((await make_buyers(db, make, 1))[0], outsider):
            assert (await client.get(f"/api/orders/{body['id']}", headers=user.headers)).status_code == 403

    async def test_unknown_order_is_404_and_anonymous_is_401(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        assert (await client.get("/api/orders/99999", headers=buyer.headers)).status_code == 404
        assert (await client.get("/api/orders/1")).status_code == 401
        assert (await client.get("/api/orders/0", headers=buyer.headers)).status_code == 422


class TestMyOrders:
    async def test_lists_only_my_orders_in_pages(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        me, other = await make_buyers(db, make, 2)
        mine = []
        for _ in range(5):
            r = await order(client, me, shop.stream_id, [(shop.product_id, 1)])
            mine.append(r.json()["id"])
        await order(client, other, shop.stream_id, [(shop.product_id, 1)])
        seen: list[int] = []
        cursor = None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/api/me/orders", params=params, headers=me.headers)).json()
            seen += [o["id"] for o in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == mine

    async def test_filters_by_status_and_stream(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        me = (await make_buyers(db, make, 1))[0]
        first = (await order(client, me, shop.stream_id, [(shop.product_id, 1)])).json()
        await order(client, me, shop.stream_id, [(shop.product_id, 1)])
        await client.post(f"/api/orders/{first['id']}/pay", headers=me.headers)
        paid = (await client.get("/api/me/orders", params={"status": "paid"}, headers=me.headers)).json()
        assert [o["id"] for o in paid["items"]] == [first["id"]]
        assert len((await client.get("/api/me/orders", params={"stream_id": shop.stream_id}, headers=me.headers)).json()["items"]) == 2
        assert (await client.get("/api/me/orders", params={"status": "lost"}, headers=me.headers)).status_code == 422
