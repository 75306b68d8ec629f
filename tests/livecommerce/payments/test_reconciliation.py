"""The daily reconciliation of each provider's bill with the payments here: every kind of difference is found."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import structlog

from livecommerce.kit.db import Database
from livecommerce.kit.metrics import REGISTRY
from livecommerce.kit.principal import Role
from livecommerce.kit.settings import Settings
from livecommerce.orders.reconciliation import reconcile_previous_day
from livecommerce.payments.alipay import parse_trade_bill as parse_alipay_bill
from livecommerce.payments.registry import providers_from
from livecommerce.payments.wechatpay import parse_trade_bill as parse_wechat_bill
from tests.factories import Factory
from tests.livecommerce.orders.helpers import Shop
from tests.livecommerce.payments.conftest import placed
from tests.livecommerce.payments.fakes import AlipayTrade, FakeAlipay, FakeWeChatPay, WeChatTrade
from tests.livecommerce.payments.test_alipay import notify as alipay_notify
from tests.livecommerce.payments.test_alipay import paid_at_alipay
from tests.livecommerce.payments.test_wechatpay import notify as wechat_notify
from tests.livecommerce.payments.test_wechatpay import paid_at_wechat

if TYPE_CHECKING:
    from tests.factories import TestUser


def today(settings: Settings) -> str:
    return datetime.now(settings.tz).date().isoformat()


async def reconcile(client: httpx.AsyncClient, admin: TestUser, provider: str, day: str) -> dict[str, Any]:
    r = await client.get(f"/api/payments/{provider}/reconciliation", params={"date": day}, headers=admin.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def kinds(report: dict[str, Any]) -> list[tuple[str, str, int]]:
    return sorted((d["kind"], d["entry"], d["order_id"]) for d in report["differences"])


def gauge(provider: str, kind: str) -> float | None:
    return REGISTRY.get_sample_value("livecommerce_payment_reconciliation_differences", {"provider": provider, "kind": kind})


@pytest.fixture
async def admin(make: Factory) -> TestUser:
    return await make.user(Role.admin)


class TestWeChatPay:
    async def test_matching_books_have_no_difference(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay, admin: TestUser, settings: Settings
    ) -> None:
        _, order_id = await paid_at_wechat(client, make, db, shop, wechat)
        assert (await wechat_notify(client, wechat.notification(f"LC{order_id}"))).status_code == 200
        assert (await client.post(f"/api/orders/{order_id}/refund", headers=shop.organizer.headers)).status_code == 200
        report = await reconcile(client, admin, "wechatpay", today(settings))
        assert report["bill_lines"] == 2
        assert report["differences"] == []
        assert gauge("wechatpay", "amount_mismatch") == 0

    async def test_each_kind_of_difference_is_found(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay, admin: TestUser, settings: Settings
    ) -> None:
        _, unnotified = await paid_at_wechat(client, make, db, shop, wechat)  # paid there, never heard of here
        _, missing = await paid_at_wechat(client, make, db, shop, wechat)
        _, mismatched = await paid_at_wechat(client, make, db, shop, wechat)
        for order_id in (missing, mismatched):
            assert (await wechat_notify(client, wechat.notification(f"LC{order_id}"))).status_code == 200
        wechat.hidden_from_bill.add(f"LC{missing}")
        wechat.bill_amounts[f"LC{mismatched}"] = 1
        report = await reconcile(client, admin, "wechatpay", today(settings))
        assert kinds(report) == sorted(
            [
                ("paid_there_not_here", "payment", unnotified),
                ("here_not_there", "payment", missing),
                ("amount_mismatch", "payment", mismatched),
            ]
        )
        mismatch = next(d for d in report["differences"] if d["kind"] == "amount_mismatch")
        assert (mismatch["provider_amount_fen"], mismatch["our_amount_fen"]) == (1, 3980)
        assert gauge("wechatpay", "paid_there_not_here") == 1
        metrics = (await client.get("/metrics")).text
        assert 'livecommerce_payment_reconciliation_differences{kind="here_not_there",provider="wechatpay"} 1.0' in metrics

    async def test_only_admins_reconcile(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay, settings: Settings
    ) -> None:
        r = await client.get("/api/payments/wechatpay/reconciliation", params={"date": today(settings)}, headers=shop.organizer.headers)
        assert r.status_code == 403


class TestAlipay:
    async def test_each_kind_of_difference_is_found(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, alipay: FakeAlipay, admin: TestUser, settings: Settings
    ) -> None:
        _, unnotified = await paid_at_alipay(client, make, db, shop, alipay)
        _, missing = await paid_at_alipay(client, make, db, shop, alipay)
        _, mismatched = await paid_at_alipay(client, make, db, shop, alipay)
        _, refunded = await paid_at_alipay(client, make, db, shop, alipay)
        for order_id in (missing, mismatched, refunded):
            assert (await alipay_notify(client, alipay.notification(f"LC{order_id}"))).text == "success"
        assert (await client.post(f"/api/orders/{refunded}/refund", headers=shop.organizer.headers)).status_code == 200
        alipay.hidden_from_bill.add(f"LC{missing}")
        alipay.bill_amounts[f"LC{mismatched}"] = "39.00"
        report = await reconcile(client, admin, "alipay", today(settings))
        assert kinds(report) == sorted(
            [
                ("paid_there_not_here", "payment", unnotified),
                ("here_not_there", "payment", missing),
                ("amount_mismatch", "payment", mismatched),
            ]
        )
        assert report["bill_lines"] == 4  # the unnotified, mismatched and refunded payments, and the refund

    async def test_an_order_placed_but_never_paid_is_no_difference(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, alipay: FakeAlipay, admin: TestUser, settings: Settings
    ) -> None:
        await placed(client, make, db, shop)
        report = await reconcile(client, admin, "alipay", today(settings))
        assert report == {"provider": "alipay", "date": today(settings), "bill_lines": 0, "differences": []}


class TestDailyJob:
    async def test_job_reconciles_yesterday_for_each_real_provider(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay, settings: Settings
    ) -> None:
        _, unnotified = await paid_at_wechat(client, make, db, shop, wechat)
        tomorrow = datetime.now(settings.tz) + timedelta(days=1)
        with structlog.testing.capture_logs() as logs:
            results = await reconcile_previous_day(db, providers_from(settings), settings, tomorrow)
        assert sorted(r.provider for r in results) == ["alipay", "wechatpay"]
        wechat_result = next(r for r in results if r.provider == "wechatpay")
        assert [(d.kind, d.order_id) for d in wechat_result.differences] == [("paid_there_not_here", unnotified)]
        logged = [e for e in logs if e["event"] == "payment_reconciliation_difference"]
        assert [(e["provider"], e["order_id"]) for e in logged] == [("wechatpay", unnotified)]

    async def test_one_unreachable_provider_does_not_stop_the_others(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, wechat: FakeWeChatPay, settings: Settings
    ) -> None:
        broken = settings.model_copy(update={"alipay_gateway": "http://127.0.0.1:9/gateway.do", "payment_http_timeout_seconds": 2.0})
        with structlog.testing.capture_logs() as logs:
            results = await reconcile_previous_day(db, providers_from(broken), broken, datetime.now(settings.tz) + timedelta(days=1))
        assert [r.provider for r in results] == ["wechatpay"]
        assert [e["provider"] for e in logs if e["event"] == "payment_reconciliation_failed"] == ["alipay"]


class TestBillParsing:
    def test_wechat_bill_skips_other_systems_trades(self, wechat: FakeWeChatPay) -> None:
        wechat.trades["LC7"] = WeChatTrade("LC7", 1990, "CNY", "JSAPI", "SUCCESS", "4200000001")
        wechat.trades["ERP42"] = WeChatTrade("ERP42", 500, "CNY", "JSAPI", "SUCCESS", "4200000002")
        entries = parse_wechat_bill(wechat.bill_file().decode(), "LC")
        assert [(e.order_id, e.provider_txn_id, e.amount_fen, e.kind) for e in entries] == [(7, "4200000001", 1990, "payment")]

    def test_alipay_bill_reads_gbk_detail_and_refunds(self, alipay: FakeAlipay) -> None:
        alipay.trades["LC9"] = AlipayTrade("LC9", "12.30", "蜂蜜", "TRADE_SUCCESS", "2026120122001", ["LCR9"])
        entries = parse_alipay_bill(alipay.bill_zip(), "LC")
        assert [(e.order_id, e.amount_fen, e.kind) for e in entries] == [(9, 1230, "payment"), (9, 1230, "refund")]
