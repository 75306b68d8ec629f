"""The back office `/manage` in a real Chromium against a real server: products and splits, bookings, county scope."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, async_playwright, expect

from livecommerce.kit.db import Database, create_engine
from livecommerce.kit.principal import Role
from livecommerce.kit.settings import Settings
from tests.conftest import TEST_SECRET
from tests.databases import scratch_database
from tests.e2e.test_pages import CHROMIUM_ARGS, DESKTOP, PHONE
from tests.factories import Factory, TestUser

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def database_url_of_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with scratch_database(tmp_path_factory.mktemp("e2e-manage"), "e2emanage") as url:
        yield url


@pytest.fixture(scope="module")
def server(database_url_of_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tests.web.live_server import running_server

    env = {"LIVECOMMERCE_DATABASE_URL": database_url_of_server, "LIVECOMMERCE_SECRET_KEY": TEST_SECRET, "LIVECOMMERCE_REDIS_URL": ""}
    with running_server(env, tmp_path_factory.mktemp("manage-server") / "server.log") as base:
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


async def signed_in(browser: Browser, server: str, user: TestUser, *, viewport: dict[str, int] = DESKTOP) -> BrowserContext:
    context = await browser.new_context(viewport=viewport, locale="en-US", base_url=server)  # type: ignore[arg-type]
    await context.add_cookies([{"name": "lc_token", "value": user.token, "url": server, "httpOnly": True, "sameSite": "Lax"}])
    return context


async def api_get(server: str, user: TestUser, path: str) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=server, timeout=10) as api:
        r = await api.get(path, headers=user.headers)
        assert r.status_code == 200, r.text
        return dict(r.json())


async def test_an_organizer_edits_stock_and_splits_and_a_bad_sum_changes_nothing(
    server: str, seed: Factory, browser: Browser, artifacts_dir: Path
) -> None:
    county = await seed.county(name="Fogang")
    household = await seed.household(county.id, name="陈大福")  # type: ignore[arg-type]
    product = await seed.product(
        county.id,  # type: ignore[arg-type]
        name="Guangshengyuan eggs",
        price_fen=1990,
        stock=40,
        splits=[(f"household:{household.id}", 7000), (f"county:{county.id}", 2000), ("platform", 1000)],
    )
    organizer = await seed.user(Role.organizer, county_ids=[county.id])  # type: ignore[list-item]
    context = await signed_in(browser, server, organizer)
    page = await context.new_page()
    await page.goto("/manage")
    await page.locator('a.manage-card[data-area="products"]').click()
    await page.locator(f'tr[data-product-id="{product.id}"] a').click()
    await expect(page.locator("#buckets")).to_contain_text("40 free")
    # The editor shows each share of the sample price (the product's price) in yuan, by integer fen.
    rows = page.locator(".split-row")
    await expect(rows.nth(0).locator(".share-yuan")).to_have_text("¥13.93")
    await expect(rows.nth(1).locator(".share-yuan")).to_have_text("¥3.98")
    await expect(page.locator("#split-total")).to_have_text("100%")
    await page.locator("#sample-price").fill("100")
    await expect(rows.nth(0).locator(".share-yuan")).to_have_text("¥70.00")

    await page.locator("#stock").fill("55")
    await rows.nth(2).locator(".share").fill("5")
    await expect(page.locator("#split-total")).to_have_text("95%")
    await expect(page.locator("#split-total")).to_have_attribute("data-ok", "false")
    await page.get_by_role("button", name="Save").click()
    error = page.locator("#error-splits")
    await expect(error).to_contain_text("95%")
    assert await error.evaluate("e => e.closest('fieldset').id") == "splits"
    unchanged = await api_get(server, organizer, f"/api/products/{product.id}")
    assert unchanged["stock"] == 40
    assert [s["bp"] for s in unchanged["splits"]] == [7000, 2000, 1000]  # type: ignore[attr-defined]
    await page.screenshot(path=str(artifacts_dir / "page-manage-product-bad-split.png"), full_page=True)

    # The form kept what was typed; fixing the share saves both changes.
    await expect(page.locator("#stock")).to_have_value("55")
    await page.locator(".split-row").nth(1).locator(".share").fill("25")
    await expect(page.locator("#split-total")).to_have_text("100%")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#flash")).to_have_text("The product was saved.")
    await expect(page.locator("#buckets")).to_contain_text("55 free")
    saved = await api_get(server, organizer, f"/api/products/{product.id}")
    assert saved["stock"] == 55
    assert [s["bp"] for s in saved["splits"]] == [7000, 2500, 500]  # type: ignore[attr-defined]
    await context.close()


async def _requested_booking(server: str, seed: Factory, county_id: int, organizer: TestUser, days: int) -> tuple[int, int, str]:
    """A cadre's requested booking in the county, an open slot three hours later, and that slot's local start."""
    anchor = await seed.anchor(county_id, name=f"Huang {days}")
    cadre = await seed.user(Role.cadre, county_ids=[county_id], anchor_id=anchor.id)
    start = datetime.now(SHANGHAI).replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=days)
    async with httpx.AsyncClient(base_url=server, timeout=10) as api:
        r = await api.post("/api/studios", json={"name": f"Studio {days}", "platform": "douyin"}, headers=organizer.headers)
        studio_id = r.json()["id"]
        slots = []
        for hours in (0, 3):
            body = {"studio_id": studio_id, "starts_at": (start + timedelta(hours=hours)).isoformat(),
                    "ends_at": (start + timedelta(hours=hours + 1)).isoformat()}  # fmt: skip
            r = await api.post("/api/slots", json=body, headers=organizer.headers)
            assert r.status_code == 201, r.text
            slots.append(r.json()["id"])
        r = await api.post("/api/bookings", json={"slot_id": slots[0], "anchor_ids": [anchor.id]}, headers=cadre.headers)
        assert r.status_code == 201, r.text
    return int(r.json()["id"]), int(slots[1]), (start + timedelta(hours=3)).strftime("%H:%M")


async def test_an_organizer_confirms_and_reschedules_a_booking_on_a_phone(
    server: str, seed: Factory, browser: Browser, artifacts_dir: Path
) -> None:
    county = await seed.county(name="Fogang")
    organizer = await seed.user(Role.organizer, county_ids=[county.id])  # type: ignore[list-item]
    booking_id, other_slot, new_time = await _requested_booking(server, seed, county.id, organizer, 3)  # type: ignore[arg-type]
    context = await signed_in(browser, server, organizer, viewport=PHONE)
    page = await context.new_page()
    await page.goto("/manage/bookings?status=requested")
    row = page.locator(f'tr[data-booking-id="{booking_id}"]')
    await expect(row).to_have_attribute("data-status", "requested")
    await page.screenshot(path=str(artifacts_dir / "page-manage-bookings-phone.png"), full_page=True)
    await row.get_by_role("button", name="Confirm").click()
    await expect(page.locator("#flash")).to_have_text("The booking is confirmed.")
    await expect(row).to_have_count(0)  # no longer requested
    await page.goto("/manage/bookings?status=confirmed")
    await page.locator(f'tr[data-booking-id="{booking_id}"]').get_by_role("link", name="Move").click()
    await page.locator("#slot_id").select_option(str(other_slot))
    await page.get_by_role("button", name="Move the booking").click()
    await expect(page.locator("#flash")).to_contain_text("The booking was moved")
    moved = await api_get(server, organizer, f"/api/bookings/{booking_id}")
    assert moved["slot_id"] == other_slot and moved["status"] == "requested"
    await page.goto("/manage/bookings?status=requested")
    await expect(page.locator(f'tr[data-booking-id="{booking_id}"] .booking-when')).to_contain_text(new_time)
    # Cancelling asks first; going back keeps the booking.
    await page.locator(f'tr[data-booking-id="{booking_id}"]').get_by_role("link", name="Cancel").click()
    await expect(page.locator("#confirm-cancel")).to_be_visible()
    await page.get_by_role("link", name="Keep it").click()
    assert (await api_get(server, organizer, f"/api/bookings/{booking_id}"))["status"] == "requested"
    await context.close()


async def test_an_organizer_of_another_county_sees_none_of_the_first_countys_records(server: str, seed: Factory, browser: Browser) -> None:
    fogang = await seed.county(name="Fogang")
    yingde = await seed.county(name="Yingde")
    fogang_organizer = await seed.user(Role.organizer, county_ids=[fogang.id])  # type: ignore[list-item]
    yingde_organizer = await seed.user(Role.organizer, county_ids=[yingde.id])  # type: ignore[list-item]
    household = await seed.household(fogang.id, name="李小花", village="Tangtang")  # type: ignore[arg-type]
    product = await seed.product(fogang.id, name="Jinxianmei rice", splits=[(f"household:{household.id}", 10000)])  # type: ignore[arg-type]
    anchor = await seed.anchor(fogang.id, name="Zhou Min")  # type: ignore[arg-type]
    station = await seed.station(fogang.id, name="Shiling station")  # type: ignore[arg-type]
    booking_id, _, _ = await _requested_booking(server, seed, fogang.id, fogang_organizer, 4)  # type: ignore[arg-type]
    fogang_studio = await api_get(server, fogang_organizer, "/api/studios")
    studio_id = next(s["id"] for s in fogang_studio["items"] if s["name"] == "Studio 4")  # type: ignore[index]
    context = await signed_in(browser, server, yingde_organizer)
    page = await context.new_page()
    for path, text in (
        ("/manage/products", "Jinxianmei rice"),
        ("/manage/households", "李小花"),
        ("/manage/anchors", "Zhou Min"),
        ("/manage/stations", "Shiling station"),
        ("/manage/studios", "Studio 4"),
        ("/manage/slots", "Studio 4"),
    ):
        await page.goto(path)
        await expect(page.locator("h1")).to_be_visible()
        await expect(page.get_by_text(text)).to_have_count(0)
    await page.goto("/manage/bookings")
    await expect(page.locator(f'tr[data-booking-id="{booking_id}"]')).to_have_count(0)
    for path in (
        f"/manage/products/{product.id}",
        f"/manage/households/{household.id}",
        f"/manage/anchors/{anchor.id}",
        f"/manage/bookings/{booking_id}/reschedule",
        f"/manage/bookings/{booking_id}/cancel",
        f"/manage/studios/{studio_id}",
        f"/manage/stations/{station.id}",
    ):
        response = await page.goto(path)
        assert response is not None and response.status == 403, path
        await expect(page.locator("h1")).to_have_text("403")
        await expect(page.get_by_text("Jinxianmei rice")).to_have_count(0)
    await context.close()
