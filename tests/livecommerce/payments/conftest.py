"""Both providers' fakes on local ports, and an app whose settings point at them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlmodel import col, func, select

from livecommerce.kit.db import Database
from livecommerce.kit.settings import Settings
from livecommerce.ledger.models import LedgerAccount
from livecommerce.orders.models import Payment
from tests.factories import Factory, TestUser
from tests.livecommerce.orders.conftest import shop as shop
from tests.livecommerce.orders.helpers import Shop, make_buyers, order
from tests.livecommerce.payments.fakes import FakeAlipay, FakeWeChatPay, ThreadedServer, serving


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("payment-keys")


@pytest.fixture(scope="session")
def wechat_server(keys_dir: Path) -> Iterator[tuple[FakeWeChatPay, ThreadedServer]]:
    fake = FakeWeChatPay(keys_dir)
    with serving(fake.app) as server:
        fake.base_url = server.url
        yield fake, server


@pytest.fixture(scope="session")
def alipay_server(keys_dir: Path) -> Iterator[tuple[FakeAlipay, ThreadedServer]]:
    fake = FakeAlipay(keys_dir)
    with serving(fake.app) as server:
        fake.base_url = server.url
        yield fake, server


@pytest.fixture
def wechat(wechat_server: tuple[FakeWeChatPay, ThreadedServer]) -> FakeWeChatPay:
    """The WeChat Pay fake, its trades forgotten (order ids start again in each test)."""
    fake = wechat_server[0]
    fake.trades.clear()
    fake.requests.clear()
    fake.refund_status = "SUCCESS"
    fake.hidden_from_bill.clear()
    fake.bill_amounts.clear()
    return fake


@pytest.fixture
def alipay(alipay_server: tuple[FakeAlipay, ThreadedServer]) -> FakeAlipay:
    """The Alipay fake, its trades forgotten."""
    fake = alipay_server[0]
    fake.trades.clear()
    fake.calls.clear()
    fake.hidden_from_bill.clear()
    fake.bill_amounts.clear()
    return fake


@pytest.fixture
def platform_certs(wechat: FakeWeChatPay) -> list[str]:
    """The platform certificates the operator configured (override with [] to have them downloaded)."""
    return [str(wechat.cert_file)]


@pytest.fixture
def settings(
    settings: Settings,
    wechat: FakeWeChatPay,
    alipay: FakeAlipay,
    wechat_server: tuple[FakeWeChatPay, ThreadedServer],
    alipay_server: tuple[FakeAlipay, ThreadedServer],
    platform_certs: list[str],
) -> Settings:
    """The test settings with every provider enabled and pointed at its fake."""
    return settings.model_copy(
        update={
            "payment_providers": ["sandbox", "wechatpay", "alipay"],
            "wechatpay_mchid": wechat.mchid,
            "wechatpay_appid": wechat.appid,
            "wechatpay_merchant_serial_no": wechat.merchant_serial_no,
            "wechatpay_private_key_file": str(wechat.key_file),
            "wechatpay_apiv3_key": SecretStr(wechat.apiv3_key),
            "wechatpay_platform_cert_files": platform_certs,
            "wechatpay_api_base": wechat_server[1].url,
            "wechatpay_notify_url": "https://shop.example.cn/api/payments/wechatpay/notify",
            "alipay_app_id": alipay.app_id,
            "alipay_seller_id": alipay.seller_id,
            "alipay_app_private_key_file": str(alipay.key_file),
            "alipay_public_key_file": str(alipay.public_key_file),
            "alipay_gateway": f"{alipay_server[1].url}/gateway.do",
            "alipay_notify_url": "https://shop.example.cn/api/payments/alipay/notify",
        }
    )


async def balance(db: Database, party: str) -> int:
    async with db.sessionmaker() as session:
        account = await session.scalar(select(LedgerAccount).where(col(LedgerAccount.party) == party))
        return 0 if account is None else account.balance_fen


async def payments_count(db: Database, kind: str = "payment") -> int:
    async with db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Payment).where(col(Payment.kind) == kind)) or 0)


async def placed(client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop, quantity: int = 2) -> tuple[TestUser, dict]:
    """A buyer and the order it placed (2 × 19.90 yuan by default)."""
    buyer = (await make_buyers(db, make, 1))[0]
    r = await order(client, buyer, shop.stream_id, [(shop.product_id, quantity)])
    assert r.status_code == 201, r.text
    return buyer, r.json()


async def order_status(client: httpx.AsyncClient, buyer: TestUser, order_id: int) -> str:
    r = await client.get(f"/api/orders/{order_id}", headers=buyer.headers)
    assert r.status_code == 200, r.text
    return str(r.json()["status"])
