"""The payment reconciliation page in a real Chromium, against a real server whose WeChat Pay is a local fake.

A buyer starts a WeChat Pay payment through the server's API and pays at the fake; its
notification never arrives, so the provider's bill holds a payment the platform does not,
and the admin's page shows that difference (in English and in Chinese).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, async_playwright, expect

from livecommerce.kit.db import Database, create_engine
from livecommerce.kit.principal import Role
from livecommerce.kit.settings import Settings
from tests.conftest import TEST_SECRET
from tests.databases import scratch_database
from tests.e2e.test_pages import CHROMIUM_ARGS, DESKTOP
from tests.factories import Factory
from tests.livecommerce.payments.fakes import FakeWeChatPay, serving
from tests.web.helpers import make_stream
from tests.web.live_server import running_server

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture(scope="module")
def fake_wechat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeWeChatPay]:
    fake = FakeWeChatPay(tmp_path_factory.mktemp("wechat-keys"))
    with serving(fake.app) as server:
        fake.base_url = server.url
        yield fake


@pytest.fixture(scope="module")
def database_url_of_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with scratch_database(tmp_path_factory.mktemp("e2e-pay"), "e2epay") as url:
        yield url


@pytest.fixture(scope="module")
def server(database_url_of_server: str, fake_wechat: FakeWeChatPay, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {
        "LIVECOMMERCE_DATABASE_URL": database_url_of_server,
        "LIVECOMMERCE_SECRET_KEY": TEST_SECRET,
        "LIVECOMMERCE_REDIS_URL": "",
        "LIVECOMMERCE_PAYMENT_PROVIDERS": "sandbox,wechatpay",
        "LIVECOMMERCE_WECHATPAY_MCHID": fake_wechat.mchid,
        "LIVECOMMERCE_WECHATPAY_APPID": fake_wechat.appid,
        "LIVECOMMERCE_WECHATPAY_MERCHANT_SERIAL_NO": fake_wechat.merchant_serial_no,
        "LIVECOMMERCE_WECHATPAY_PRIVATE_KEY_FILE": str(fake_wechat.key_file),
        "LIVECOMMERCE_WECHATPAY_APIV3_KEY": fake_wechat.apiv3_key,
        "LIVECOMMERCE_WECHATPAY_PLATFORM_CERT_FILES": str(fake_wechat.cert_file),
        "LIVECOMMERCE_WECHATPAY_API_BASE": fake_wechat.base_url,
        "LIVECOMMERCE_WECHATPAY_NOTIFY_URL": "https://shop.example.cn/api/payments/wechatpay/notify",
    }
    with running_server(env, tmp_path_factory.mktemp("pay-server") / "server.log") as base:
        yield base


@pytest.fixture(scope="module")
async def seed(database_url_of_server: str) -> AsyncIterator[Factory]:
    settings = Settings(database_url=database_url_of_server, secret_key=TEST_SECRET, redis_url=None, run_scheduler=False)
    db = Database(create_engine(settings))
    yield Factory(db, settings)
    await db.dispose()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    assert executable, "install Debian's chromium: apt-get install -y chromium"
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield b
        await b.close()


async def test_admin_sees_a_payment_the_provider_took_but_the_platform_never_heard_of(
    server: str, seed: Factory, fake_wechat: FakeWeChatPay, browser: Browser, artifacts_dir: Path
) -> None:
    setup = await make_stream(seed)
    buyer = await seed.user(Role.viewer)
    admin = await seed.user(Role.admin)
    async with httpx.AsyncClient(base_url=server, timeout=10) as api:
        r = await api.post(
            f"/api/streams/{setup.stream.id}/orders",
            json={"items": [{"product_id": setup.products[0].id, "quantity": 1}]},
            headers={**buyer.headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert r.status_code == 201, r.text
        order_id = r.json()["id"]
        r = await api.post(f"/api/orders/{order_id}/pay", json={"provider": "wechatpay", "channel": "h5"}, headers=buyer.headers)
        assert r.status_code == 200, r.text
    fake_wechat.buyer_pays(f"LC{order_id}")
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    for locale, label in (("en-US", "Paid at the provider, not here"), ("zh-CN", "渠道已收款，本平台无记录")):
        context = await browser.new_context(viewport=DESKTOP, locale=locale, base_url=server)
        await context.add_cookies([{"name": "lc_token", "value": admin.token, "url": server, "httpOnly": True, "sameSite": "Lax"}])
        page = await context.new_page()
        response = await page.goto(f"/reports/payments?provider=wechatpay&date={today}")
        assert response is not None and response.status == 200
        row = page.locator(f'#differences tr[data-order-id="{order_id}"]')
        await expect(row).to_have_attribute("data-kind", "paid_there_not_here")
        await expect(row).to_contain_text(label)
        await expect(row).to_contain_text("¥39.90")
        await page.screenshot(path=str(artifacts_dir / f"page-payment-reconciliation-{locale}.png"), full_page=True)
        await context.close()


async def test_a_viewer_is_sent_to_sign_in(server: str, seed: Factory, browser: Browser) -> None:
    viewer = await seed.user(Role.viewer)
    context = await browser.new_context(viewport=DESKTOP, base_url=server)
    await context.add_cookies([{"name": "lc_token", "value": viewer.token, "url": server, "httpOnly": True, "sameSite": "Lax"}])
    page = await context.new_page()
    await page.goto("/reports/payments")
    assert "/login" in page.url
    await context.close()
