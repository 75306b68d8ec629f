"""The printable statements in a real Chromium against a real uvicorn server: figures, the XLSX download, the print layout."""

from __future__ import annotations

import io

import httpx
import pytest
from openpyxl import load_workbook
from playwright.async_api import expect

from livecommerce.kit.principal import Role
from tests.e2e import test_pages as pages
from tests.e2e.test_pages import DESKTOP, Browsers, place_order
from tests.factories import Factory
from tests.web.helpers import make_stream

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

e2e_database_url = pages.e2e_database_url
server = pages.server
seed = pages.seed
browser = pages.browser
api = pages.api
browsers = pages.browsers


class TestCountyStatementPage:
    async def test_the_organizer_reads_downloads_and_prints_the_statement(
        self, browsers: Browsers, seed: Factory, api: httpx.AsyncClient
    ) -> None:
        setup = await make_stream(seed)
        buyer = await seed.user(Role.viewer)
        order = await place_order(api, buyer, setup.stream.id, setup.products[0].id, quantity=2)
        assert (await api.post(f"/api/orders/{order['id']}/pay", headers=buyer.headers)).status_code == 200
        organizer = await seed.user(Role.organizer, county_ids=[setup.county.id])
        page = await browsers.open(organizer, viewport=DESKTOP)
        await page.goto(f"/statements/county/{setup.county.id}")
        await expect(page.locator("#st-net")).to_have_text("79.80")
        await expect(page.locator("#st-channels tbody tr")).to_have_count(3)
        await browsers.screenshot(page, "county-statement-desktop")

        async with page.expect_download() as download:
            await page.locator("#statement-xlsx").click()
        book = load_workbook(io.BytesIO((await (await download.value).path()).read_bytes()))
        figures = {row[0]: row[1] for row in book["Statement"].iter_rows(values_only=True)}
        assert figures["net_fen"] == 7980 and figures["name"] == setup.county.name

        await page.emulate_media(media="print")
        await expect(page.locator(".topbar")).to_be_hidden()
        await expect(page.locator("#statement-print")).to_be_hidden()
        await expect(page.locator("#st-accounts")).to_be_visible()
        await browsers.screenshot(page, "county-statement-print")
