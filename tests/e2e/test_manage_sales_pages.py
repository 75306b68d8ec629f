"""The sales back office and a buyer's orders in a real Chromium against a real uvicorn server."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import expect

from livecommerce.kit.principal import Role
from tests.e2e import test_pages as pages
from tests.e2e.test_pages import DESKTOP, Browsers, no_horizontal_scroll, place_order
from tests.factories import Factory
from tests.factories import TestUser as User
from tests.livecommerce.orders.aftersales import ADDRESS
from tests.web.helpers import StreamSetup, make_stream

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

# The page tests' module fixtures, so this module gets a server, a seeded database and a browser of its own.
e2e_database_url = pages.e2e_database_url
server = pages.server
seed = pages.seed
browser = pages.browser
api = pages.api
browsers = pages.browsers


async def _paid_order(seed: Factory, api: httpx.AsyncClient, setup: StreamSetup, *, name: str = "Wang Xiuying") -> tuple[User, int]:
    """A buyer with an address and a paid order of two boxes of the stream's first product."""
    buyer = await seed.user(Role.viewer, display_name=name)
    assert (await api.post("/api/me/addresses", json=ADDRESS, headers=buyer.headers)).status_code == 201
    order = await place_order(api, buyer, setup.stream.id, setup.products[0].id, quantity=2)
    assert (await api.post(f"/api/orders/{order['id']}/pay", headers=buyer.headers)).status_code == 200
    return buyer, int(str(order["id"]))


class TestMyOrdersPage:
    async def test_the_buyer_sees_the_timeline_and_confirms_receipt(
        self, browsers: Browsers, seed: Factory, api: httpx.AsyncClient
    ) -> None:
        setup = await make_stream(seed)
        organizer = await seed.user(Role.organizer, county_ids=[setup.county.id])
        buyer, order_id = await _paid_order(seed, api, setup)
        shipped = await api.post(
            f"/api/orders/{order_id}/shipments", json={"carrier": "SF", "tracking_no": "SF100200300400"}, headers=organizer.headers
        )
        assert shipped.status_code == 201, shipped.text

        page = await browsers.open(buyer)
        await page.goto("/me/orders")
        card = page.locator(f"#order-{order_id}")
        steps = card.locator(".timeline .step")
        await expect(steps).to_have_count(3)
        await expect(steps.nth(0)).to_contain_text("Ordered")
        await expect(steps.nth(1)).to_contain_text("Paid")
        await expect(steps.nth(2)).to_contain_text("Shipped")
        await expect(steps.nth(2)).to_contain_text("SF SF100200300400")
        await expect(card).to_contain_text(ADDRESS["phone"])
        await expect(page.locator("#addresses")).to_contain_text(ADDRESS["detail"])
        await no_horizontal_scroll(page)
        await browsers.screenshot(page, "my-orders-phone")

        await card.locator("[data-action=received]").click()
        await expect(page.locator("#confirm-question")).to_contain_text(f"#{order_id}")
        await page.locator("#confirm-yes").click()
        await expect(page).to_have_url(f"{browsers.base}/me/orders")
        await expect(page.locator("#flash")).to_contain_text(f"order #{order_id} is marked as received")
        await expect(card.locator('[data-step="delivered"]')).to_be_visible()
        await expect(card.locator("[data-action=received]")).to_have_count(0)
        body = (await api.get(f"/api/orders/{order_id}", headers=buyer.headers)).json()
        assert body["fulfillment"] == "delivered"

    async def test_the_buyer_asks_for_a_refund_with_a_reason(self, browsers: Browsers, seed: Factory, api: httpx.AsyncClient) -> None:
        setup = await make_stream(seed)
        buyer, order_id = await _paid_order(seed, api, setup)
        page = await browsers.open(buyer, locale="zh-CN")
        await page.goto("/me/orders")
        card = page.locator(f"#order-{order_id}")
        await card.locator(".refund-ask summary").click()
        await card.locator("[name=reason]").fill("鸡蛋破了三个")
        await card.locator("[data-action=refund-request] button").click()
        await expect(page.locator("#flash")).to_contain_text("退款申请已提交")
        await expect(card.locator('[data-step="refund_requested"]')).to_contain_text("鸡蛋破了三个")


class TestSalesBackOffice:
    async def test_an_organizer_approves_a_refund_ships_and_adds_a_unit_and_a_subscription(
        self, browsers: Browsers, seed: Factory, api: httpx.AsyncClient
    ) -> None:
        setup = await make_stream(seed)
        organizer = await seed.user(Role.organizer, county_ids=[setup.county.id])
        buyer, refunded_id = await _paid_order(seed, api, setup, name="Chen Jing")
        asked = await api.post(f"/api/orders/{refunded_id}/refund-requests", json={"reason": "Ordered twice"}, headers=buyer.headers)
        assert asked.status_code == 201
        _, shipped_id = await _paid_order(seed, api, setup)
        page = await browsers.open(organizer, viewport=DESKTOP)

        # The refund request: approved after the confirmation step.
        await page.goto("/manage/refund-requests")
        card = page.locator(f'[data-request-id="{asked.json()["id"]}"]')
        await expect(card).to_contain_text("Ordered twice")
        await card.locator("[data-action=approve]").click()
        await page.locator("#confirm-yes").click()
        await expect(page.locator("#flash")).to_contain_text(f"order #{refunded_id} refunded")
        assert (await api.get(f"/api/orders/{refunded_id}", headers=organizer.headers)).json()["status"] == "refunded"

        # The pick list: a bad tracking number is refused beside the field, a good one ships the order.
        await page.goto("/manage/fulfillment")
        pick = page.locator(f"#pick-{shipped_id}")
        await expect(pick).to_contain_text(ADDRESS["detail"])
        await expect(page.locator("#pick-xlsx")).to_have_attribute("href", "/api/fulfillment.xlsx?status=unshipped")
        await pick.locator("[name=carrier]").select_option("SF")
        await pick.locator("[name=tracking_no]").fill("123")
        await pick.locator(".ship-form button").click()
        await expect(page.locator(f'#pick-{shipped_id} [data-error-for="tracking_no"]')).to_be_visible()
        await page.locator(f"#pick-{shipped_id} [name=tracking_no]").fill("SF555666777888")
        await page.locator(f"#pick-{shipped_id} .ship-form button").click()
        await expect(page.locator("#flash")).to_contain_text("SF555666777888")
        await expect(page.locator(f"#pick-{shipped_id}")).to_have_count(0)
        await page.emulate_media(media="print")
        await expect(page.locator(".subnav")).to_be_hidden()
        await page.emulate_media(media="screen")

        # A purchasing unit, then a subscription for it.
        await page.goto("/manage/units")
        form = page.locator("#unit-form")
        await form.locator("[name=name]").fill("Yangshan County Party School")
        await form.locator("[name=unit_type]").select_option("school")
        await form.locator("[name=budget_yuan]").fill("50000")
        await form.locator("button").click()
        await expect(page.locator("#flash")).to_contain_text("Yangshan County Party School")
        row = page.locator("#units-table tr", has_text="Yangshan County Party School")
        await expect(row).to_contain_text("¥5,000.00")
        await expect(row.locator("progress")).to_be_visible()

        await page.goto("/manage/subscriptions")
        sub = page.locator("#subscription-form")
        await sub.locator("[name=unit_id]").select_option(label="Yangshan County Party School (School)")
        await sub.locator("[name=product_id]").first.select_option(str(setup.products[0].id))
        await sub.locator("[name=quantity]").first.fill("5")
        await sub.locator("button[type=submit]").click()
        await expect(page.locator("#flash")).to_contain_text("¥199.50")
        await expect(page.locator("#bulk-table tbody tr").first).to_contain_text("Yangshan County Party School")
        await browsers.screenshot(page, "manage-subscriptions-desktop")

    async def test_an_organizer_of_another_county_sees_none_of_it(self, browsers: Browsers, seed: Factory, api: httpx.AsyncClient) -> None:
        setup = await make_stream(seed)
        buyer, order_id = await _paid_order(seed, api, setup, name="Li Na")
        asked = await api.post(f"/api/orders/{order_id}/refund-requests", json={"reason": "Too late"}, headers=buyer.headers)
        assert asked.status_code == 201
        organizer = await seed.user(Role.organizer, county_ids=[setup.county.id])
        unit = await api.post(
            "/api/units",
            json={
                "name": "Yangshan Power Supply",
                "unit_type": "enterprise",
                "annual_food_budget_fen": 10**7,
                "county_id": setup.county.id,
            },
            headers=organizer.headers,
        )
        assert unit.status_code == 201
        elsewhere = await seed.county(name="Nanxiong")
        stranger = await seed.user(Role.organizer, county_ids=[elsewhere.id])
        page = await browsers.open(stranger)
        for path in (
            "/manage/orders",
            "/manage/refund-requests?status=all",
            "/manage/fulfillment",
            "/manage/units",
            "/manage/subscriptions",
        ):
            await page.goto(path)
            text = await page.locator("main").inner_text()
            for secret in ("Li Na", ADDRESS["phone"], ADDRESS["detail"], "Too late", "Yangshan Power Supply", f"#{order_id}"):
                assert secret not in text, (path, secret)
        for path in (f"/manage/orders/{order_id}", f"/manage/fulfillment?county_id={setup.county.id}"):
            response = await page.goto(path)
            assert response is not None and response.status == 404, path
            assert ADDRESS["phone"] not in await page.content()
        await browsers.screenshot(page, "manage-orders-other-county-phone")
