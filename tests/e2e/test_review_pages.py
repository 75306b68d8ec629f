"""The review pages in a real Chromium against a real uvicorn server: a stream's post-stream review and a campaign's."""

from __future__ import annotations

import io

import httpx
import pytest
from openpyxl import load_workbook
from playwright.async_api import expect

from livecommerce.kit.clock import utcnow
from livecommerce.kit.principal import Role
from tests.e2e import test_pages as pages
from tests.e2e.test_pages import DESKTOP, Browsers, place_order
from tests.factories import Factory
from tests.livecommerce.review.support import flash, in_campaign, viewers_now, watched
from tests.web.helpers import StreamSetup, make_stream

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

# The page tests' module fixtures, so this module gets a server, a seeded database and a browser of its own.
e2e_database_url = pages.e2e_database_url
server = pages.server
seed = pages.seed
browser = pages.browser
api = pages.api
browsers = pages.browsers


async def _reviewed_stream(seed: Factory, api: httpx.AsyncClient) -> tuple[StreamSetup, dict[str, object]]:
    """A live stream with two signed-in viewers, a peak of 5 watching, a flash deal, and one buyer who paid."""
    setup = await make_stream(seed)
    buyer = await seed.user(Role.viewer, display_name="Zhang Wei")
    watcher = await seed.user(Role.viewer)
    for user in (buyer, watcher):
        await watched(seed.db, setup.stream.id, user, utcnow())
    await viewers_now(seed.db, setup.stream.id, 5, utcnow())
    await flash(seed.db, setup.stream.id, "flash.started", 3, setup.products[1].id, utcnow())
    order = await place_order(api, buyer, setup.stream.id, setup.products[0].id, quantity=3)
    assert (await api.post(f"/api/orders/{order['id']}/pay", headers=buyer.headers)).status_code == 200
    return setup, order


class TestStreamReviewPage:
    async def test_the_organizer_sees_timeline_funnel_moments_products_and_comparison(
        self, browsers: Browsers, seed: Factory, api: httpx.AsyncClient
    ) -> None:
        setup, _ = await _reviewed_stream(seed, api)
        organizer = await seed.user(Role.organizer, county_ids=[setup.county.id])
        page = await browsers.open(organizer, viewport=DESKTOP)
        await page.goto(f"/reports/streams/{setup.stream.id}")
        await expect(page.locator("body")).to_have_attribute("data-review-ready", "true", timeout=5000)
        await expect(page.locator("#r-gmv")).to_have_text("¥119.70")
        await expect(page.locator("#r-net")).to_have_text("¥119.70")
        await expect(page.locator("#rv-peak")).to_have_text("5")
        await expect(page.locator("#rv-unique")).to_have_text("2")
        await expect(page.locator("#rv-buyers")).to_have_text("1")
        await expect(page.locator("#rv-conversion")).to_have_text("50.00%")
        await expect(page.locator('#review-funnel [data-step="buyers"] b')).to_have_text("1")
        moments = page.locator("#review-moments tbody tr")
        await expect(moments).to_have_count(2)
        await expect(moments.nth(0)).to_contain_text("Product pinned")
        await expect(moments.nth(0)).to_contain_text("Sugar oranges")
        await expect(moments.nth(1)).to_contain_text("Flash deal opened")
        await expect(moments.nth(1)).to_contain_text("Free-range chicken")
        await expect(page.locator("#review-products tbody tr").first).to_contain_text("Sugar oranges")
        await expect(page.locator("#review-compare tbody tr")).to_have_count(3)
        chart = await page.evaluate(
            "(() => { const c = window.Chart.getChart(document.getElementById('review-timeline'));"
            " return {minutes: c.data.labels.length, gmv: c.data.datasets[0].data.reduce((a, b) => a + b, 0)}; })()"
        )
        assert chart["minutes"] >= 1 and chart["gmv"] == pytest.approx(119.70)
        await expect(page.locator("#by-product tbody tr")).to_have_count(1)  # the report's breakdown, for staff
        await browsers.screenshot(page, "stream-review-desktop")

        async with page.expect_download() as download:
            await page.locator("#review-xlsx").click()
        book = load_workbook(io.BytesIO((await (await download.value).path()).read_bytes()))
        assert {row[0]: row[1] for row in book["Summary"].iter_rows(values_only=True)}["gmv_fen"] == 11970

        await page.emulate_media(media="print")
        await expect(page.locator(".topbar")).to_be_hidden()
        await expect(page.locator("#review-print")).to_be_hidden()
        await browsers.screenshot(page, "stream-review-print")

    async def test_the_host_cadre_sees_its_review_and_another_host_is_sent_to_sign_in(
        self, browsers: Browsers, seed: Factory, api: httpx.AsyncClient
    ) -> None:
        setup, _ = await _reviewed_stream(seed, api)
        host = await seed.user(Role.cadre, anchor_id=setup.anchor.id, county_ids=[setup.county.id])
        page = await browsers.open(host)
        await page.goto(f"/reports/streams/{setup.stream.id}")
        await expect(page.locator("#rv-buyers")).to_have_text("1", timeout=5000)
        await expect(page.locator("#by-product")).to_have_count(0)
        await browsers.screenshot(page, "stream-review-phone")

        other_anchor = await seed.anchor(setup.county.id)
        other_host = await seed.user(Role.cadre, anchor_id=other_anchor.id, county_ids=[setup.county.id])
        other = await browsers.open(other_host)
        await other.goto(f"/reports/streams/{setup.stream.id}")
        assert other.url.startswith(f"{browsers.base}/login?next="), other.url


class TestCampaignReviewPage:
    async def test_the_campaigns_streams_are_ranked_with_county_and_host_totals(
        self, browsers: Browsers, seed: Factory, api: httpx.AsyncClient
    ) -> None:
        setup, _ = await _reviewed_stream(seed, api)
        quiet = await make_stream(seed, title="Mountain tea from Liannan")
        campaign_id = await in_campaign(seed.db, "Consumer Poverty Alleviation Month", [setup.stream.id, quiet.stream.id])
        admin = await seed.user(Role.admin)
        page = await browsers.open(admin, viewport=DESKTOP)
        await page.goto(f"/reports/campaigns/{campaign_id}")
        await expect(page.locator("body")).to_have_attribute("data-review-ready", "true", timeout=5000)
        await expect(page.locator("#campaign-name")).to_have_text("Consumer Poverty Alleviation Month")
        rows = page.locator("#campaign-streams tbody tr")
        await expect(rows).to_have_count(2)
        await expect(rows.nth(0)).to_have_attribute("data-stream-id", str(setup.stream.id))
        await expect(rows.nth(0)).to_contain_text("¥119.70")
        await expect(page.locator("#c-gmv")).to_have_text("¥119.70")
        await expect(page.locator("#campaign-counties tbody tr")).to_have_count(1)  # only the first sold anything
        await expect(page.locator("#campaign-anchors tbody tr")).to_have_count(2)
        await browsers.screenshot(page, "campaign-review-desktop")
        await rows.nth(0).locator("a").click()
        await expect(page).to_have_url(f"{browsers.base}/reports/streams/{setup.stream.id}")
