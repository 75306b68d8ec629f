"""WeChat Pay API v3 end to end against a local server speaking its protocol: pay, notify, query, refund."""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING

import httpx
import pytest
import structlog
from cryptography.hazmat.primitives.asymmetric import rsa

from livecommerce.kit.db import Database
from livecommerce.kit.metrics import REGISTRY
from livecommerce.payments.wechatpay import signed_message
from tests.factories import Factory
from tests.livecommerce.orders.helpers import Shop, buckets
from tests.livecommerce.payments.conftest import balance, order_status, payments_count, placed
from tests.livecommerce.payments.fakes import FakeWeChatPay, rsa_key, verifies

if TYPE_CHECKING:
    from tests.factories import TestUser

TOTAL = 2 * 1990


async def start(client: httpx.AsyncClient, buyer: TestUser, order_id: int, **body: str) -> httpx.Response:
    return await client.post(f"/api/orders/{order_id}/pay", json={"provider": "wechatpay", **body}, headers=buyer.headers)


async def notify(client: httpx.AsyncClient, notification: tuple[dict[str, str], bytes]) -> httpx.Response:
    headers, body = notification
    return await client.post("/api/payments/wechatpay/notify", content=body, headers=headers)


async def paid_at_wechat(client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay) -> tuple[TestUser, int]:
    """An order whose buyer paid at WeChat Pay (the notification not yet sent)."""
    buyer, body = await placed(client, make, db, shop)
    r = await start(client, buyer, body["id"], openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
    assert r.status_code == 200, r.text
    wechat.buyer_pays(f"LC{body['id']}")
    return buyer, body["id"]


def rejected_count() -> float:
    labels = {"provider": "wechatpay", "outcome": "rejected"}
    return REGISTRY.get_sample_value("livecommerce_payment_notifications_total", labels) or 0.0


class TestPay:
    async def test_jsapi_answers_pay_params_signed_with_the_merchant_key(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay
    ) -> None:
        buyer, body = await placed(client, make, db, shop)
        r = await start(client, buyer, body["id"], openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["provider"] == "wechatpay"
        params = answer["pay_params"]
        assert params["package"].startswith("prepay_id=wx")
        message = signed_message(params["appId"], params["timeStamp"], params["nonceStr"], params["package"])
        assert verifies(wechat.merchant_key.public_key(), message, params["paySign"])
        assert wechat.trades[f"LC{body['id']}"].total == TOTAL
        assert await order_status(client, buyer, body["id"]) == "pending_payment"

    async def test_h5_answers_the_h5_url(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay
    ) -> None:
        buyer, body = await placed(client, make, db, shop)
        r = await start(client, buyer, body["id"], channel="h5")
        assert r.status_code == 200, r.text
        assert r.json()["pay_params"]["h5_url"].startswith("https://wx.tenpay.com/")
        assert wechat.trades[f"LC{body['id']}"].trade_type == "H5"

    async def test_another_buyer_cannot_start_paying(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay
    ) -> None:
        _, body = await placed(client, make, db, shop)
        stranger, _ = await placed(client, make, db, shop, quantity=1)
        r = await start(client, stranger, body["id"], channel="h5")
        assert r.status_code == 403
        assert wechat.requests == []

    async def test_jsapi_without_openid_is_422(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay
    ) -> None:
        buyer, body = await placed(client, make, db, shop)
        r = await start(client, buyer, body["id"], channel="jsapi")
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "openid"
        assert wechat.requests == []


class TestNotify:
    async def test_notification_pays_the_order_and_credits_the_ledger(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay
    ) -> None:
        buyer, order_id = await paid_at_wechat(client, make, db, shop, wechat)
        r = await notify(client, wechat.notification(f"LC{order_id}"))
        assert r.status_code == 200, r.text
        assert await order_status(client, buyer, order_id) == "paid"
        assert await buckets(db, shop.product_id) == (98, 0, 2)
        assert await balance(db, "platform") == TOTAL * 1000 // 10000

    async def test_replayed_notification_changes_nothing(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay
    ) -> None:
        _, order_id = await paid_at_wechat(client, make, db, shop, wechat)
        notification = wechat.notification(f"LC{order_id}")
        assert (await notify(client, notification)).status_code == 200
        again = await notify(client, notification)
        assert again.status_code == 200
        assert await payments_count(db) == 1
        assert await balance(db, "platform") == TOTAL * 1000 // 10000

    async def test_forged_notification_changes_nothing_and_is_logged_without_secrets(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay
    ) -> None:
        buyer, order_id = await paid_at_wechat(client, make, db, shop, wechat)
        headers, body = wechat.notification(f"LC{order_id}", key=rsa_key())
        before = rejected_count()
        with structlog.testing.capture_logs() as logs:
            r = await notify(client, (headers, body))
        assert r.status_code == 401
        assert rejected_count() == before + 1
        assert r.json()["code"] == "FAIL"
        assert await order_status(client, buyer, order_id) == "pending_payment"
        assert await payments_count(db) == 0
        rejected = [e for e in logs if e["event"] == "payment_notice_rejected"]
        assert len(rejected) == 1
        text = json.dumps(logs, default=str)
        assert headers["Wechatpay-Signature"] not in text
        assert wechat.apiv3_key not in text
        assert json.loads(body)["resource"]["ciphertext"] not in text

    async def test_tampered_body_is_refused(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay
    ) -> None:
        buyer, order_id = await paid_at_wechat(client, make, db, shop, wechat)
        headers, body = wechat.notification(f"LC{order_id}")
        r = await notify(client, (headers, body.replace(b'"summary"', b'"Summary"')))
        assert r.status_code == 401
        assert await order_status(client, buyer, order_id) == "pending_payment"

    async def test_unsigned_notification_is_refused(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay
    ) -> None:
        buyer, order_id = await paid_at_wechat(client, make, db, shop, wechat)
        _, body = wechat.notification(f"LC{order_id}")
        r = await client.post("/api/payments/wechatpay/notify", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 401
        assert await order_status(client, buyer, order_id) == "pending_payment"

    async def test_unknown_certificate_serial_is_refused(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay
    ) -> None:
        buyer, order_id = await paid_at_wechat(client, make, db, shop, wechat)
        headers, body = wechat.notification(f"LC{order_id}")
        r = await notify(client, ({**headers, "Wechatpay-Serial": "7132D72A03E93CDDF8C03BBD1F37EEDF"}, body))
        assert r.status_code == 401
        assert await order_status(client, buyer, order_id) == "pending_payment"

    async def test_non_ascii_signature_is_refused_not_a_500(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay
    ) -> None:
        _, order_id = await paid_at_wechat(client, make, db, shop, wechat)
        headers, body = wechat.notification(f"LC{order_id}")
        raw = [(k.encode(), v.encode()) for k, v in headers.items() if k != "Wechatpay-Signature"]
        r = await client.post("/api/payments/wechatpay/notify", content=body, headers=[*raw, (b"Wechatpay-Signature", b"\xff\xfe==")])
        assert r.status_code == 401

    async def test_stale_notification_is_refused(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay
    ) -> None:
        buyer, order_id = await paid_at_wechat(client, make, db, shop, wechat)
        r = await notify(client, wechat.notification(f"LC{order_id}", timestamp=int(time.time()) - 3600))
        assert r.status_code == 401
        assert await order_status(client, buyer, order_id) == "pending_payment"

    async def test_wrong_amount_is_refused(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay
    ) -> None:
        buyer, order_id = await paid_at_wechat(client, make, db, shop, wechat)
        with structlog.testing.capture_logs() as logs:
            r = await notify(client, wechat.notification(f"LC{order_id}", total=1))
        assert r.status_code == 400
        assert r.json()["code"] == "FAIL"
        assert await order_status(client, buyer, order_id) == "pending_payment"
        assert await payments_count(db) == 0
        assert [e["order_id"] for e in logs if e["event"] == "payment_notice_refused"] == [order_id]

    async def test_wrong_currency_is_refused(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay
    ) -> None:
        buyer, order_id = await paid_at_wechat(client, make, db, shop, wechat)
        r = await notify(client, wechat.notification(f"LC{order_id}", currency="USD"))
        assert r.status_code == 400
        assert await order_status(client, buyer, order_id) == "pending_payment"
        assert await payments_count(db) == 0

    async def test_payment_of_a_cancelled_order_is_refused_and_logged_for_an_operator(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay
    ) -> None:
        buyer, order_id = await paid_at_wechat(client, make, db, shop, wechat)
        assert (await client.post(f"/api/orders/{order_id}/cancel", headers=buyer.headers)).status_code == 200
        with structlog.testing.capture_logs() as logs:
            r = await notify(client, wechat.notification(f"LC{order_id}"))
        assert r.status_code == 400
        assert await order_status(client, buyer, order_id) == "cancelled"
        assert await buckets(db, shop.product_id) == (100, 0, 0)
        assert await payments_count(db) == 0
        assert [e["order_id"] for e in logs if e["event"] == "payment_notice_refused"] == [order_id]

    async def test_other_events_are_taken_and_change_nothing(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay
    ) -> None:
        buyer, order_id = await paid_at_wechat(client, make, db, shop, wechat)
        r = await notify(client, wechat.notification(f"LC{order_id}", event_type="REFUND.SUCCESS"))
        assert r.status_code == 200
        assert await order_status(client, buyer, order_id) == "pending_payment"


class TestPlatformCertificates:
    @pytest.fixture
    def platform_certs(self) -> list[str]:
        return []

    async def test_certificate_is_downloaded_when_a_notification_names_an_unknown_one(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay
    ) -> None:
        buyer, body = await placed(client, make, db, shop)
        # Even the first answer (the order's creation) is signed by a certificate not yet known.
        r = await start(client, buyer, body["id"], channel="h5")
        assert r.status_code == 200, r.text
        wechat.buyer_pays(f"LC{body['id']}")
        assert (await notify(client, wechat.notification(f"LC{body['id']}"))).status_code == 200
        assert await order_status(client, buyer, body["id"]) == "paid"


class TestLateNotification:
    async def test_status_query_pays_the_order_and_the_late_notification_is_a_replay(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay
    ) -> None:
        buyer, order_id = await paid_at_wechat(client, make, db, shop, wechat)
        r = await client.post(f"/api/orders/{order_id}/pay/confirm", json={"provider": "wechatpay"}, headers=buyer.headers)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "paid"
        assert f"GET /v3/pay/transactions/out-trade-no/LC{order_id}" in wechat.requests
        assert (await notify(client, wechat.notification(f"LC{order_id}"))).status_code == 200
        assert await payments_count(db) == 1

    async def test_a_status_query_and_its_notification_at_once_pay_the_order_once(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay
    ) -> None:
        # Both go through the cashier: whichever is applied first pays, the other is its replay.
        buyer, order_id = await paid_at_wechat(client, make, db, shop, wechat)
        confirmed, notified = await asyncio.gather(
            client.post(f"/api/orders/{order_id}/pay/confirm", json={"provider": "wechatpay"}, headers=buyer.headers),
            notify(client, wechat.notification(f"LC{order_id}")),
        )
        assert confirmed.status_code == 200 and confirmed.json()["status"] == "paid", confirmed.text
        assert notified.status_code == 200
        assert await payments_count(db) == 1
        assert await balance(db, "platform") > 0

    async def test_status_query_of_an_unpaid_order_changes_nothing(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay
    ) -> None:
        buyer, body = await placed(client, make, db, shop)
        assert (await start(client, buyer, body["id"], channel="h5")).status_code == 200
        r = await client.post(f"/api/orders/{body['id']}/pay/confirm", json={"provider": "wechatpay"}, headers=buyer.headers)
        assert r.status_code == 200
        assert r.json()["status"] == "pending_payment"
        assert await payments_count(db) == 0


class TestRefund:
    async def test_refund_returns_the_money_through_wechatpay_then_reverses_the_ledger(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay
    ) -> None:
        _, order_id = await paid_at_wechat(client, make, db, shop, wechat)
        assert (await notify(client, wechat.notification(f"LC{order_id}"))).status_code == 200
        r = await client.post(f"/api/orders/{order_id}/refund", headers=shop.organizer.headers)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "refunded"
        assert [x["out_refund_no"] for x in wechat.trades[f"LC{order_id}"].refunds] == [f"LCR{order_id}"]
        assert await balance(db, "platform") == 0
        assert await buckets(db, shop.product_id) == (100, 0, 0)

    async def test_refund_wechatpay_refuses_changes_nothing(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay
    ) -> None:
        buyer, order_id = await paid_at_wechat(client, make, db, shop, wechat)
        assert (await notify(client, wechat.notification(f"LC{order_id}"))).status_code == 200
        wechat.refund_status = "ABNORMAL"
        r = await client.post(f"/api/orders/{order_id}/refund", headers=shop.organizer.headers)
        assert r.status_code == 409
        assert await order_status(client, buyer, order_id) == "paid"
        assert await balance(db, "platform") == TOTAL * 1000 // 10000


def test_fake_keys_are_rsa_2048() -> None:
    key = rsa_key()
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
