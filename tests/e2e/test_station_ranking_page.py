"""The station ranking page in a real Chromium against a real uvicorn server: ranks, scope, the period, the workbook."""

from __future__ import annotations

import io

import httpx
import pytest
from openpyxl import load_workbook
from playwright.async_api import expect

from livecommerce.kit.principal import Role
from tests.e2e import test_pages as pages
from tests.e2e.test_pages import DESKTOP, Browsers
from tests.factories import Factory

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

e2e_database_url = pages.e2e_database_url
server = pages.server
seed = pages.seed
browser = pages.browser
api = pages.api
browsers = pages.browsers


class TestStationRankingPage:
    async def test_an_organizer_ranks_its_stations_changes_the_period_and_downloads_the_workbook(
        self, browsers: Browsers, seed: Factory, api: httpx.AsyncClient
    ) -> None:
        county, other = await seed.county(name="Fogang"), await seed.county(name="Yingde")
        assert county.id is not None and other.id is not None
        quiet = await seed.station(county.id, name="Shiling station", village="Shiling")
        busy = await seed.station(county.id, name="Wangtian station", village="Wangtian")
        elsewhere = await seed.station(other.id, name="Liancang station", village="Liancang")
        organizer = await seed.user(Role.organizer, county_ids=[county.id])
        product = await seed.product(county.id, price_fen=1000, splits=[(f"station:{busy.id}", 2500), (f"county:{county.id}", 7500)])
        unit = await api.post(
            "/api/units",
            json={"name": "Canteen", "unit_type": "school", "annual_food_budget_fen": 10**7, "county_id": county.id},
            headers=organizer.headers,
        )
        body = {"unit_id": unit.json()["id"], "items": [{"product_id": product.id, "quantity": 4}]}
        assert (await api.post("/api/subscriptions", json=body, headers=organizer.headers)).status_code == 201

        page = await browsers.open(organizer, viewport=DESKTOP, locale="zh-CN")
        await page.goto("/reports")
        await page.locator("nav a[href='/reports/stations']").click()
        await expect(page.locator("h1")).to_have_text("村级服务站排名")
        rows = page.locator("#station-ranking tbody tr")
        await expect(rows).to_have_count(2)  # the other county's station is not shown
        await expect(rows.nth(0)).to_have_attribute("data-station-id", str(busy.id))
        await expect(rows.nth(0).locator('[data-field="rank"]')).to_have_text("1")
        await expect(rows.nth(0).locator('[data-field="net"]')).to_have_text("¥10.00")
        await expect(rows.nth(1)).to_have_attribute("data-station-id", str(quiet.id))
        await expect(page.locator(f'#station-ranking tr[data-station-id="{elsewhere.id}"]')).to_have_count(0)
        await browsers.screenshot(page, "station-ranking-desktop")

        async with page.expect_download() as download:
            await page.locator("#ranking-xlsx").click()
        book = load_workbook(io.BytesIO((await (await download.value).path()).read_bytes()))
        sheet = book.worksheets[0]
        table = list(sheet.iter_rows(values_only=True))
        first = dict(zip(table[0], table[1], strict=True))
        assert (first["station_id"], first["net_fen"]) == (busy.id, 1000)

        await page.locator("input[name=from]").fill("2020-01-01")
        await page.locator("input[name=to]").fill("2020-01-31")
        await page.locator("#ranking-period button[type=submit]").click()
        await expect(page.locator('#station-ranking [data-field="net"]').first).to_have_text("¥0.00")

        await page.goto("/lang/en?next=/reports/stations")
        await expect(page.locator("h1")).to_have_text("Village service station ranking")
