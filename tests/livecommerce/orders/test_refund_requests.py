"""A buyer's refund request, and the organizer's approval (a refund as `/refund` does) or rejection."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import func
from sqlmodel import col, select

from livecommerce.audit.models import AuditRecord
from livecommerce.kit.clock import utcnow
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from livecommerce.ledger.models import LedgerAccount, LedgerTransaction
from livecommerce.orders.fulfillment import auto_receive_due
from tests.factories import Factory
from tests.livecommerce.orders.aftersales import buy, buyer_with_address, ship
from tests.livecommerce.orders.helpers import Shop, buckets, make_buyers

if TYPE_CHECKING:
    from tests.factories import TestUser


async def _ask(client: httpx.AsyncClient, buyer: TestUser, order_id: int, reason: str = "蜂蜜罐子碎了") -> httpx.Response:
    return await client.post(f"/api/orders/{order_id}/refund-requests", json={"reason": reason}, headers=buyer.headers)


async def _ledger(db: Database) -> tuple[list[str], dict[str, int]]:
    async with db.sessionmaker() as session:
        kinds = sorted((await session.scalars(select(col(LedgerTransaction.kind)))).all())
        balances = dict((await session.execute(select(col(LedgerAccount.party), col(LedgerAccount.balance_fen)))).all())
        return kinds, balances


async def _audited(db: Database, action: str) -> int:
    async with db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(AuditRecord).where(col(AuditRecord.action) == action)) or 0)


class TestAskRefund:
    async def test_buyer_asks_for_a_refund_of_a_paid_order(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        r = await _ask(client, buyer, order["id"])
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "requested" and r.json()["order_id"] == order["id"] and r.json()["id"] > 0
        assert await _audited(db, "refund.requested") == 1

    async def test_unpaid_order_is_409(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop, pay=False)
        assert (await _ask(client, buyer, order["id"])).status_code == 409

    async def test_second_open_request_is_409(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        assert (await _ask(client, buyer, order["id"])).status_code == 201
        assert (await _ask(client, buyer, order["id"])).status_code == 409

    async def test_someone_else_is_403(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        stranger = (await make_buyers(db, make, 1))[0]
        for who in (stranger, shop.organizer):
            assert (await _ask(client, who, order["id"])).status_code == 403

    async def test_empty_reason_is_422(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        assert (await _ask(client, buyer, order["id"], "  ")).status_code == 422


class TestApprove:
    async def test_approval_before_shipping_refunds_the_order(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop, quantity=2)
        request = (await _ask(client, buyer, order["id"])).json()
        r = await client.post(f"/api/refund-requests/{request['id']}/approve", headers=shop.organizer.headers)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "approved" and r.json()["decided_at"] is not None
        assert (await client.get(f"/api/orders/{order['id']}", headers=buyer.headers)).json()["status"] == "refunded"
        assert await buckets(db, shop.product_id) == (100, 0, 0)
        kinds, balances = await _ledger(db)
        assert kinds == ["reversal", "sale"] and all(v == 0 for v in balances.values()), balances
        assert await _audited(db, "refund.approved") == 1 and await _audited(db, "order.refunded") == 1

    async def test_approval_after_shipping_refunds_the_order(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        await ship(client, shop.organizer, order["id"])
        request = (await _ask(client, buyer, order["id"])).json()
        assert (await client.post(f"/api/refund-requests/{request['id']}/approve", headers=shop.organizer.headers)).status_code == 200
        seen = (await client.get(f"/api/orders/{order['id']}", headers=buyer.headers)).json()
        assert seen["status"] == "refunded" and seen["fulfillment"] == "shipped"
        kinds, _ = await _ledger(db)
        assert kinds == ["reversal", "sale"]

    async def test_approving_twice_refunds_once(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        request = (await _ask(client, buyer, order["id"])).json()
        for _ in range(2):
            r = await client.post(f"/api/refund-requests/{request['id']}/approve", headers=shop.organizer.headers)
            assert r.status_code == 200 and r.json()["status"] == "approved"
        kinds, balances = await _ledger(db)
        assert kinds == ["reversal", "sale"] and all(v == 0 for v in balances.values())
        assert await buckets(db, shop.product_id) == (100, 0, 0)
        assert await _audited(db, "refund.approved") == 1

    async def test_concurrent_approvals_refund_once(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        request = (await _ask(client, buyer, order["id"])).json()
        url = f"/api/refund-requests/{request['id']}/approve"
        answers = await asyncio.gather(*(client.post(url, headers=shop.organizer.headers) for _ in range(3)))
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
        kinds, balances = await _ledger(db)
        assert kinds == ["reversal", "sale"] and all(v == 0 for v in balances.values())

    async def test_approval_beside_auto_receive_leaves_the_books_balanced(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        await ship(client, shop.organizer, order["id"])
        request = (await _ask(client, buyer, order["id"])).json()

        async def receive() -> int:
            async with db.transaction() as session:
                return await auto_receive_due(session, now=utcnow() + timedelta(days=11), days=10)

        approved, _received = await asyncio.gather(
            client.post(f"/api/refund-requests/{request['id']}/approve", headers=shop.organizer.headers), receive()
        )
        assert approved.status_code == 200, approved.text
        kinds, balances = await _ledger(db)
        assert kinds == ["reversal", "sale"] and all(v == 0 for v in balances.values())

    async def test_organizer_of_another_county_and_the_buyer_are_403(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        request = (await _ask(client, buyer, order["id"])).json()
        other = await make.county()
        outsider = await make.user(Role.organizer, county_ids=[other.id])
        for who in (outsider, buyer, shop.cadre):
            assert (await client.post(f"/api/refund-requests/{request['id']}/approve", headers=who.headers)).status_code == 403
        kinds, _ = await _ledger(db)
        assert kinds == ["sale"]

    async def test_order_refunded_meanwhile_is_409(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        request = (await _ask(client, buyer, order["id"])).json()
        assert (await client.post(f"/api/orders/{order['id']}/refund", headers=shop.organizer.headers)).status_code == 200
        assert (await client.post(f"/api/refund-requests/{request['id']}/approve", headers=shop.organizer.headers)).status_code == 409
        kinds, _ = await _ledger(db)
        assert kinds == ["reversal", "sale"]

    async def test_unknown_request_is_404(self, client: httpx.AsyncClient, shop: Shop) -> None:
        assert (await client.post("/api/refund-requests/999999/approve", headers=shop.organizer.headers)).status_code == 404


class TestReject:
    async def test_rejection_keeps_the_order_paid_and_tells_the_buyer(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        request = (await _ask(client, buyer, order["id"])).json()
        r = await client.post(f"/api/refund-requests/{request['id']}/reject", json={"note": "照片显示完好"}, headers=shop.organizer.headers)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "rejected" and r.json()["note"] == "照片显示完好"
        mine = (await client.get("/api/refund-requests", headers=buyer.headers)).json()["items"]
        assert [(m["id"], m["status"], m["note"]) for m in mine] == [(request["id"], "rejected", "照片显示完好")]
        assert (await client.get(f"/api/orders/{order['id']}", headers=buyer.headers)).json()["status"] == "paid"
        assert await _audited(db, "refund.rejected") == 1

    async def test_approving_a_rejected_request_is_409(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        request = (await _ask(client, buyer, order["id"])).json()
        await client.post(f"/api/refund-requests/{request['id']}/reject", json={"note": "no"}, headers=shop.organizer.headers)
        assert (await client.post(f"/api/refund-requests/{request['id']}/approve", headers=shop.organizer.headers)).status_code == 409
        kinds, _ = await _ledger(db)
        assert kinds == ["sale"]

    async def test_a_new_request_may_follow_a_rejection(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        request = (await _ask(client, buyer, order["id"])).json()
        await client.post(f"/api/refund-requests/{request['id']}/reject", json={"note": "no"}, headers=shop.organizer.headers)
        assert (await _ask(client, buyer, order["id"], "还是坏了")).status_code == 201

    async def test_rejection_needs_a_note(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, shop)
        request = (await _ask(client, buyer, order["id"])).json()
        assert (
            await client.post(f"/api/refund-requests/{request['id']}/reject", json={}, headers=shop.organizer.headers)
        ).status_code == 422


class TestListRequests:
    async def test_status_filter_and_scopes(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        other_buyer, _ = await buyer_with_address(client, make, db)
        first = (await _ask(client, buyer, (await buy(client, buyer, shop))["id"])).json()
        second = (await _ask(client, other_buyer, (await buy(client, other_buyer, shop))["id"])).json()
        await client.post(f"/api/refund-requests/{second['id']}/reject", json={"note": "no"}, headers=shop.organizer.headers)
        staff = (await client.get("/api/refund-requests?status=requested", headers=shop.organizer.headers)).json()["items"]
        assert [s["id"] for s in staff] == [first["id"]]
        every = (await client.get("/api/refund-requests", headers=shop.organizer.headers)).json()["items"]
        assert [s["id"] for s in every] == [first["id"], second["id"]]
        mine = (await client.get("/api/refund-requests", headers=buyer.headers)).json()["items"]
        assert [m["id"] for m in mine] == [first["id"]]
        outsider = await make.user(Role.organizer, county_ids=[(await make.county()).id])
        assert (await client.get("/api/refund-requests", headers=outsider.headers)).json()["items"] == []
