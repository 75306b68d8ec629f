"""Paying orders: the sandbox provider and the signed provider webhook."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
import pytest
from sqlmodel import col, func, select

from livecommerce.kit.clock import Clock, FrozenClock, utcnow
from livecommerce.kit.db import Database
from livecommerce.kit.settings import Settings
from livecommerce.ledger.models import LedgerAccount, LedgerTransaction
from livecommerce.orders.models import Payment
from livecommerce.payments.webhook import sign, verify_signature
from tests.factories import Factory
from tests.livecommerce.orders.helpers import Shop, buckets, events, make_buyers, order

if TYPE_CHECKING:
    from tests.factories import TestUser


@pytest.fixture
def clock() -> Clock:
    return FrozenClock(utcnow())


async def balance(db: Database, party: str) -> int:
    async with db.sessionmaker() as session:
        account = await session.scalar(select(LedgerAccount).where(col(LedgerAccount.party) == party))
        return 0 if account is None else account.balance_fen


async def payments_count(db: Database) -> int:
    async with db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Payment)) or 0)


async def placed(client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, quantity: int = 2) -> tuple[TestUser, dict]:
    buyer = (await make_buyers(db, make, 1))[0]
    r = await order(client, buyer, shop.stream_id, [(shop.product_id, quantity)])
    assert r.status_code == 201, r.text
    return buyer, r.json()


def webhook_body(order_id: int, amount_fen: int, txn: str = "wx-0001") -> bytes:
    return json.dumps(
        {"provider": "wechat", "provider_txn_id": txn, "order_id": order_id, "amount_fen": amount_fen, "status": "paid"}
    ).encode()


async def post_webhook(client: httpx.AsyncClient, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Signature"] = signature
    return await client.post("/api/payments/webhook", content=body, headers=headers)


class TestSandboxPay:
    async def test_paying_moves_reserved_to_sold_and_credits_every_party(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer, body = await placed(client, make, db, shop, quantity=2)
        r = await client.post(f"/api/orders/{body['id']}/pay", headers=buyer.headers)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "paid"
        assert r.json()["paid_at"] is not None
        assert await buckets(db, shop.product_id) == (98, 0, 2)
        total = 2 * 1990
        assert await balance(db, f"household:{shop.household_id}") == total * 7000 // 10000
        assert await balance(db, f"county:{shop.county_id}") == total * 2000 // 10000
        assert await balance(db, "platform") == total * 1000 // 10000

    async def test_paid_event_and_stock_event_are_written(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, body = await placed(client, make, db, shop)
        await client.post(f"/api/orders/{body['id']}/pay", headers=buyer.headers)
        paid = await events(db, shop.stream_id, "order.paid")
        assert [e.data for e in paid] == [{"order_id": body["id"], "buyer": "李小龙", "total_fen": body["total_fen"]}]
        assert (await events(db, shop.stream_id, "stock.changed"))[-1].data == {
            "product_id": shop.product_id,
            "stock": 98,
            "reserved": 0,
            "sold": 2,
        }

    async def test_paying_twice_changes_nothing(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, body = await placed(client, make, db, shop)
        assert (await client.post(f"/api/orders/{body['id']}/pay", headers=buyer.headers)).status_code == 200
        again = await client.post(f"/api/orders/{body['id']}/pay", headers=buyer.headers)
        assert again.status_code == 200
        assert again.json()["status"] == "paid"
        assert await payments_count(db) == 1
        assert await buckets(db, shop.product_id) == (98, 0, 2)

    async def test_someone_else_cannot_pay(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        _buyer, body = await placed(client, make, db, shop)
        stranger = (await make_buyers(db, make, 1))[0]
        assert (await client.post(f"/api/orders/{body['id']}/pay", headers=stranger.headers)).status_code == 403
        assert await buckets(db, shop.product_id) == (98, 2, 0)

    async def test_cancelled_order_cannot_be_paid(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, body = await placed(client, make, db, shop)
        assert (await client.post(f"/api/orders/{body['id']}/cancel", headers=buyer.headers)).status_code == 200
        r = await client.post(f"/api/orders/{body['id']}/pay", headers=buyer.headers)
        assert r.status_code == 409
        assert await buckets(db, shop.product_id) == (100, 0, 0)
        assert await payments_count(db) == 0

    async def test_order_past_its_reservation_cannot_be_paid(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, clock: FrozenClock, settings: Settings
    ) -> None:
        buyer, body = await placed(client, make, db, shop)
        clock.advance(timedelta(seconds=settings.reservation_ttl_seconds))
        r = await client.post(f"/api/orders/{body['id']}/pay", headers=buyer.headers)
        assert r.status_code == 409
        assert "expired" in r.json()["detail"]
        assert await buckets(db, shop.product_id) == (98, 2, 0)

    async def test_unknown_order_is_404(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        assert (await client.post("/api/orders/424242/pay", headers=buyer.headers)).status_code == 404

    async def test_sandbox_can_be_turned_off(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, settings: Settings
    ) -> None:
        buyer, body = await placed(client, make, db, shop)
        settings.sandbox_payments_enabled = False
        r = await client.post(f"/api/orders/{body['id']}/pay", headers=buyer.headers)
        assert r.status_code == 403
        assert await buckets(db, shop.product_id) == (98, 2, 0)


class TestPaymentWebhook:
    async def test_signed_notice_pays_the_order(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, settings: Settings
    ) -> None:
        _buyer, body = await placed(client, make, db, shop)
        raw = webhook_body(body["id"], body["total_fen"])
        r = await post_webhook(client, raw, sign(settings.payment_webhook_secret, raw))
        assert r.status_code == 200, r.text
        assert r.json() == {"order_id": body["id"], "status": "paid", "replayed": False}
        assert await buckets(db, shop.product_id) == (98, 0, 2)
        assert await balance(db, "platform") == body["total_fen"] // 10

    async def test_replayed_notice_is_a_no_op(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, settings: Settings
    ) -> None:
        _buyer, body = await placed(client, make, db, shop)
        raw = webhook_body(body["id"], body["total_fen"])
        signature = sign(settings.payment_webhook_secret, raw)
        assert (await post_webhook(client, raw, signature)).status_code == 200
        for _ in range(3):
            r = await post_webhook(client, raw, signature)
            assert r.status_code == 200
            assert r.json()["replayed"] is True
        assert await payments_count(db) == 1
        assert await buckets(db, shop.product_id) == (98, 0, 2)
        assert len(await events(db, shop.stream_id, "order.paid")) == 1
        async with db.sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(LedgerTransaction)) == 1

    async def test_bad_signature_is_401_and_changes_nothing(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, settings: Settings
    ) -> None:
        _buyer, body = await placed(client, make, db, shop)
        raw = webhook_body(body["id"], body["total_fen"])
        for signature in (None, "", "00" * 32, sign("another-secret", raw), sign(settings.payment_webhook_secret, raw + b" ")):
            r = await post_webhook(client, raw, signature)
            assert r.status_code == 401, signature
            assert r.headers["content-type"].startswith("application/problem+json")
        assert await payments_count(db) == 0
        assert await buckets(db, shop.product_id) == (98, 2, 0)

    async def test_signature_over_a_tampered_body_is_401(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, settings: Settings
    ) -> None:
        _buyer, body = await placed(client, make, db, shop)
        signed = webhook_body(body["id"], body["total_fen"])
        tampered = webhook_body(body["id"], 1)
        assert (await post_webhook(client, tampered, sign(settings.payment_webhook_secret, signed))).status_code == 401
        assert await payments_count(db) == 0

    async def test_wrong_amount_is_rejected_and_changes_nothing(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, settings: Settings
    ) -> None:
        _buyer, body = await placed(client, make, db, shop)
        raw = webhook_body(body["id"], body["total_fen"] - 1)
        r = await post_webhook(client, raw, sign(settings.payment_webhook_secret, raw))
        assert r.status_code == 409
        assert await payments_count(db) == 0
        assert await buckets(db, shop.product_id) == (98, 2, 0)
        assert (await client.get(f"/api/orders/{body['id']}", headers=_buyer.headers)).json()["status"] == "pending_payment"

    async def test_same_transaction_for_another_order_is_409(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, settings: Settings
    ) -> None:
        _a, first = await placed(client, make, db, shop)
        _b, second = await placed(client, make, db, shop)
        raw = webhook_body(first["id"], first["total_fen"], txn="wx-dup")
        assert (await post_webhook(client, raw, sign(settings.payment_webhook_secret, raw))).status_code == 200
        raw2 = webhook_body(second["id"], second["total_fen"], txn="wx-dup")
        assert (await post_webhook(client, raw2, sign(settings.payment_webhook_secret, raw2))).status_code == 409
        assert await buckets(db, shop.product_id) == (96, 2, 2)

    async def test_second_transaction_for_a_paid_order_is_409(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, settings: Settings
    ) -> None:
        _buyer, body = await placed(client, make, db, shop)
        for txn, expected in (("wx-a", 200), ("wx-b", 409)):
            raw = webhook_body(body["id"], body["total_fen"], txn=txn)
            assert (await post_webhook(client, raw, sign(settings.payment_webhook_secret, raw))).status_code == expected
        assert await payments_count(db) == 1

    async def test_signed_but_malformed_notice_is_422(self, client: httpx.AsyncClient, settings: Settings, shop: Shop) -> None:
        for raw in (
            b"{",
            b'{"provider": "wechat"}',
            json.dumps({"provider": "x", "provider_txn_id": "t", "order_id": 1, "amount_fen": 1, "status": "failed"}).encode(),
        ):
            r = await post_webhook(client, raw, sign(settings.payment_webhook_secret, raw))
            assert r.status_code == 422, raw

    async def test_notice_for_unknown_order_is_404(self, client: httpx.AsyncClient, settings: Settings, shop: Shop) -> None:
        raw = webhook_body(777_777, 100)
        assert (await post_webhook(client, raw, sign(settings.payment_webhook_secret, raw))).status_code == 404

    async def test_notice_for_cancelled_order_is_409(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, settings: Settings
    ) -> None:
        buyer, body = await placed(client, make, db, shop)
        await client.post(f"/api/orders/{body['id']}/cancel", headers=buyer.headers)
        raw = webhook_body(body["id"], body["total_fen"])
        assert (await post_webhook(client, raw, sign(settings.payment_webhook_secret, raw))).status_code == 409
        assert await payments_count(db) == 0
        assert await buckets(db, shop.product_id) == (100, 0, 0)


class TestVerifySignature:
    def test_accepts_only_the_exact_hmac(self) -> None:
        body = b'{"a":1}'
        good = sign("s3cret", body)
        assert verify_signature("s3cret", body, good)
        assert verify_signature("s3cret", body, good.upper())
        assert not verify_signature("s3cret", body, None)
        assert not verify_signature("s3cret", body, good[:-1])
        assert not verify_signature("other", body, good)
        assert not verify_signature("s3cret", body + b"\n", good)
