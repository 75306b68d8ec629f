"""Alipay end to end against a local gateway speaking its protocol: wap/page pay, notify, trade query, refund."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

import httpx
import structlog

from livecommerce.kit.db import Database
from livecommerce.payments.alipay import signing_string, yuan
from livecommerce.payments.base import fen_of
from tests.factories import Factory
from tests.livecommerce.orders.helpers import Shop, buckets
from tests.livecommerce.payments.conftest import balance, order_status, payments_count, placed
from tests.livecommerce.payments.fakes import FakeAlipay, rsa_key

if TYPE_CHECKING:
    from tests.factories import TestUser

TOTAL = 2 * 1990


async def start(client: httpx.AsyncClient, buyer: TestUser, order_id: int, channel: str = "wap") -> httpx.Response:
    return await client.post(f"/api/orders/{order_id}/pay", json={"provider": "alipay", "channel": channel}, headers=buyer.headers)


async def notify(client: httpx.AsyncClient, notification: tuple[dict[str, str], bytes]) -> httpx.Response:
    headers, body = notification
    return await client.post("/api/payments/alipay/notify", content=body, headers=headers)


async def paid_at_alipay(client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, alipay: FakeAlipay) -> tuple[TestUser, int]:
    """An order whose buyer followed the pay URL and paid at Alipay (the notification not yet sent)."""
    buyer, body = await placed(client, make, db, shop)
    r = await start(client, buyer, body["id"])
    assert r.status_code == 200, r.text
    alipay.accept_pay_params(r.json()["pay_params"]["params"])
    alipay.buyer_pays(f"LC{body['id']}")
    return buyer, body["id"]


class TestPay:
    async def test_wap_answers_a_gateway_url_signed_rsa2(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, alipay: FakeAlipay
    ) -> None:
        buyer, body = await placed(client, make, db, shop)
        r = await start(client, buyer, body["id"])
        assert r.status_code == 200, r.text
        assert r.json()["provider"] == "alipay"
        url = r.json()["pay_params"]["url"]
        params = dict(parse_qsl(urlsplit(url).query))
        assert params["method"] == "alipay.trade.wap.pay"
        biz = json.loads(params["biz_content"])
        assert (biz["out_trade_no"], biz["total_amount"], biz["product_code"]) == (f"LC{body['id']}", "39.80", "QUICK_WAP_WAY")
        trade = alipay.accept_pay_params(params)  # the gateway checks the RSA2 signature
        assert trade.total_amount == "39.80"
        assert await order_status(client, buyer, body["id"]) == "pending_payment"

    async def test_page_pay_uses_the_desktop_product(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, alipay: FakeAlipay
    ) -> None:
        buyer, body = await placed(client, make, db, shop)
        r = await start(client, buyer, body["id"], channel="page")
        assert r.status_code == 200, r.text
        params = r.json()["pay_params"]["params"]
        assert params["method"] == "alipay.trade.page.pay"
        assert json.loads(params["biz_content"])["product_code"] == "FAST_INSTANT_TRADE_PAY"

    async def test_wechat_channel_is_refused(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, alipay: FakeAlipay
    ) -> None:
        buyer, body = await placed(client, make, db, shop)
        r = await start(client, buyer, body["id"], channel="jsapi")
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("application/problem+json")


class TestNotify:
    async def test_notification_pays_the_order_and_is_answered_success(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, alipay: FakeAlipay
    ) -> None:
        buyer, order_id = await paid_at_alipay(client, make, db, shop, alipay)
        r = await notify(client, alipay.notification(f"LC{order_id}"))
        assert r.status_code == 200
        assert r.text == "success"
        assert await order_status(client, buyer, order_id) == "paid"
        assert await buckets(db, shop.product_id) == (98, 0, 2)
        assert await balance(db, f"household:{shop.household_id}") == TOTAL * 7000 // 10000

    async def test_replayed_notification_changes_nothing(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, alipay: FakeAlipay
    ) -> None:
        _, order_id = await paid_at_alipay(client, make, db, shop, alipay)
        notification = alipay.notification(f"LC{order_id}")
        assert (await notify(client, notification)).text == "success"
        assert (await notify(client, notification)).text == "success"
        assert await payments_count(db) == 1
        assert await balance(db, "platform") == TOTAL * 1000 // 10000

    async def test_forged_notification_changes_nothing_and_is_logged_without_secrets(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, alipay: FakeAlipay
    ) -> None:
        buyer, order_id = await paid_at_alipay(client, make, db, shop, alipay)
        headers, body = alipay.notification(f"LC{order_id}", key=rsa_key())
        with structlog.testing.capture_logs() as logs:
            r = await notify(client, (headers, body))
        assert r.status_code == 401
        assert r.text == "fail"
        assert await order_status(client, buyer, order_id) == "pending_payment"
        assert [e["provider"] for e in logs if e["event"] == "payment_notice_rejected"] == ["alipay"]
        forged_sign = dict(parse_qsl(body.decode()))["sign"]
        assert forged_sign not in json.dumps(logs, default=str)

    async def test_tampered_amount_is_refused_by_the_signature(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, alipay: FakeAlipay
    ) -> None:
        buyer, order_id = await paid_at_alipay(client, make, db, shop, alipay)
        headers, body = alipay.notification(f"LC{order_id}")
        r = await notify(client, (headers, body.replace(b"total_amount=39.80", b"total_amount=0.01")))
        assert r.status_code == 401
        assert await order_status(client, buyer, order_id) == "pending_payment"

    async def test_wrong_amount_is_refused(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, alipay: FakeAlipay
    ) -> None:
        buyer, order_id = await paid_at_alipay(client, make, db, shop, alipay)
        r = await notify(client, alipay.notification(f"LC{order_id}", total_amount="0.01"))
        assert r.text == "fail"
        assert await order_status(client, buyer, order_id) == "pending_payment"
        assert await payments_count(db) == 0

    async def test_wrong_currency_is_refused(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, alipay: FakeAlipay
    ) -> None:
        buyer, order_id = await paid_at_alipay(client, make, db, shop, alipay)
        r = await notify(client, alipay.notification(f"LC{order_id}", extra={"trans_currency": "USD"}))
        assert r.text == "fail"
        assert await order_status(client, buyer, order_id) == "pending_payment"
        assert await payments_count(db) == 0

    async def test_another_applications_trade_is_refused(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, alipay: FakeAlipay
    ) -> None:
        buyer, order_id = await paid_at_alipay(client, make, db, shop, alipay)
        r = await notify(client, alipay.notification(f"LC{order_id}", extra={"app_id": "2021000000000000"}))
        assert r.status_code == 401
        assert await order_status(client, buyer, order_id) == "pending_payment"

    async def test_unpaid_trade_status_is_taken_and_changes_nothing(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, alipay: FakeAlipay
    ) -> None:
        buyer, order_id = await paid_at_alipay(client, make, db, shop, alipay)
        r = await notify(client, alipay.notification(f"LC{order_id}", extra={"trade_status": "WAIT_BUYER_PAY"}))
        assert r.text == "success"
        assert await order_status(client, buyer, order_id) == "pending_payment"


class TestLateNotification:
    async def test_trade_query_pays_the_order(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, alipay: FakeAlipay
    ) -> None:
        buyer, order_id = await paid_at_alipay(client, make, db, shop, alipay)
        r = await client.post(f"/api/orders/{order_id}/pay/confirm", json={"provider": "alipay"}, headers=buyer.headers)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "paid"
        assert "alipay.trade.query" in alipay.calls
        assert (await notify(client, alipay.notification(f"LC{order_id}"))).text == "success"
        assert await payments_count(db) == 1

    async def test_trade_query_of_an_unknown_trade_changes_nothing(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, alipay: FakeAlipay
    ) -> None:
        buyer, body = await placed(client, make, db, shop)
        r = await client.post(f"/api/orders/{body['id']}/pay/confirm", json={"provider": "alipay"}, headers=buyer.headers)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "pending_payment"


class TestRefund:
    async def test_refund_returns_the_money_through_alipay_then_reverses_the_ledger(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, alipay: FakeAlipay
    ) -> None:
        _, order_id = await paid_at_alipay(client, make, db, shop, alipay)
        assert (await notify(client, alipay.notification(f"LC{order_id}"))).text == "success"
        r = await client.post(f"/api/orders/{order_id}/refund", headers=shop.organizer.headers)
        assert r.status_code == 200, r.text
        assert alipay.trades[f"LC{order_id}"].refunds == [f"LCR{order_id}"]
        assert await balance(db, "platform") == 0
        assert await payments_count(db, kind="refund") == 1

    async def test_refund_alipay_refuses_changes_nothing(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, alipay: FakeAlipay
    ) -> None:
        buyer, order_id = await paid_at_alipay(client, make, db, shop, alipay)
        assert (await notify(client, alipay.notification(f"LC{order_id}"))).text == "success"
        alipay.trades[f"LC{order_id}"].trade_status = "TRADE_CLOSED"
        r = await client.post(f"/api/orders/{order_id}/refund", headers=shop.organizer.headers)
        assert r.status_code == 409
        assert await order_status(client, buyer, order_id) == "paid"
        assert await payments_count(db, kind="refund") == 0


class TestAmounts:
    def test_yuan_writes_two_decimals(self) -> None:
        assert [yuan(f) for f in (0, 5, 1990, 100000)] == ["0.00", "0.05", "19.90", "1000.00"]

    def test_fen_of_reads_only_plain_amounts(self) -> None:
        assert [fen_of(a) for a in ("19.90", "0.01", "12", "1.005", "-1.00", "NaN", "1e3", "１.00", None)] == [
            1990,
            1,
            1200,
            None,
            None,
            None,
            None,
            None,
            None,
        ]

    def test_signing_string_sorts_and_skips_empty_and_sign(self) -> None:
        assert signing_string({"b": "2", "a": "1", "sign": "x", "c": ""}) == b"a=1&b=2"
