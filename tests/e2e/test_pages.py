"""The pages in a real Chromium against a real uvicorn server (SQLite file or a fresh PostgreSQL database).

Data is written through the services into the server's database; orders, payments and bookings
go through the server's HTTP API, so the events the pages show come from the server's relay.
Screenshots of each main page are saved to tests/artifacts/.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, async_playwright, expect

from livecommerce.kit.db import Database, create_engine
from livecommerce.kit.principal import Role
from livecommerce.kit.settings import Settings
from tests.conftest import TEST_SECRET
from tests.databases import scratch_database
from tests.factories import Factory
from tests.factories import TestUser as User
from tests.web.helpers import StreamSetup, make_stream
from tests.web.live_server import running_server

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SHANGHAI = ZoneInfo("Asia/Shanghai")
PASSWORD = "correct horse battery"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def e2e_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of the server's own, kept for the module (stream ids never repeat within it)."""
    with scratch_database(tmp_path_factory.mktemp("e2e"), "e2e") as url:
        yield url


@pytest.fixture(scope="module")
def server(e2e_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {"LIVECOMMERCE_DATABASE_URL": e2e_database_url, "LIVECOMMERCE_SECRET_KEY": TEST_SECRET, "LIVECOMMERCE_REDIS_URL": ""}
    with running_server(env, tmp_path_factory.mktemp("server") / "server.log") as base:
        yield base


@pytest.fixture(scope="module")
async def seed(e2e_database_url: str) -> AsyncIterator[Factory]:
    """Factories writing into the server's database through the services."""
    settings = Settings(database_url=e2e_database_url, secret_key=TEST_SECRET, redis_url=None, run_scheduler=False)
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


@pytest.fixture
async def api(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, timeout=10) as client:
        yield client


class Browsers:
    """Opens browser contexts (one per person) and watches them for problems."""

    def __init__(self, browser: Browser, base: str, artifacts: Path) -> None:
        self.browser, self.base, self.artifacts = browser, base, artifacts
        self.contexts: list[BrowserContext] = []
        self.problems: list[str] = []

    async def open(self, user: User | None = None, *, viewport: dict[str, int] = PHONE, locale: str = "en-US") -> Page:
        context = await self.browser.new_context(viewport=viewport, locale=locale, base_url=self.base)
        self.contexts.append(context)
        if user is not None:
            await context.add_cookies([{"name": "lc_token", "value": user.token, "url": self.base, "httpOnly": True, "sameSite": "Lax"}])
        page = await context.new_page()
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("console", self._console)
        page.on(
            "request",
            lambda req: (
                None
                if req.url.startswith((self.base, self.base.replace("http", "ws", 1), "data:"))
                else self.problems.append(f"off-origin request: {req.url}")
            ),
        )
        return page

    def _console(self, message: ConsoleMessage) -> None:
        # A 4xx answer the page handles (a 409 conflict shown in words) is logged by Chromium too.
        if message.type == "error" and not message.text.startswith("Failed to load resource: the server responded with a status of 4"):
            self.problems.append(f"console {message.type}: {message.text}")

    async def screenshot(self, page: Page, name: str) -> None:
        await page.screenshot(path=str(self.artifacts / f"page-{name}.png"), full_page=True)

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest.fixture
async def browsers(browser: Browser, server: str, artifacts_dir: Path) -> AsyncIterator[Browsers]:
    b = Browsers(browser, server, artifacts_dir)
    yield b
    await b.close()
    assert not b.problems, b.problems


async def no_horizontal_scroll(page: Page) -> None:
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px at {page.viewport_size}"


async def connected(page: Page) -> None:
    await expect(page.locator("#conn-state")).to_have_attribute("data-state", "open", timeout=5000)


async def place_order(api: httpx.AsyncClient, buyer: User, stream_id: int, product_id: int, quantity: int = 1) -> dict[str, object]:
    response = await api.post(
        f"/api/streams/{stream_id}/orders",
        json={"items": [{"product_id": product_id, "quantity": quantity}]},
        headers={**buyer.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


class TestViewerStreamPage:
    async def test_an_order_from_another_browser_appears_within_a_second(
        self, browsers: Browsers, seed: Factory, api: httpx.AsyncClient
    ) -> None:
        setup = await make_stream(seed)
        watcher = await browsers.open()
        await watcher.goto(f"/streams/{setup.stream.id}")
        await connected(watcher)

        buyer = await seed.user(Role.viewer, display_name="Zhang Wei")
        shopper = await browsers.open(buyer)
        await shopper.goto(f"/streams/{setup.stream.id}")
        await shopper.locator("#pinned [data-buy]").click()
        await shopper.locator("#buy-dialog [data-q='1']").click()
        await expect(shopper.locator("#buy-total")).to_have_text("¥79.80")
        async with shopper.expect_response(lambda r: r.url.endswith(f"/api/streams/{setup.stream.id}/orders")) as placed:
            await shopper.locator("#buy-place").click()
        order = await (await placed.value).json()
        # From the moment the order exists, the other viewer has one second to show it.
        tick = watcher.locator(f'#ticker [data-order-id="{order["id"]}"]')
        await expect(tick).to_be_visible(timeout=1000)
        await expect(tick).to_contain_text("Z*")
        await expect(tick).not_to_contain_text("Zhang Wei")

        await shopper.locator("#buy-pay").click()
        await expect(shopper.locator("#buy-done")).to_contain_text(f"#{order['id']}")
        await expect(watcher.locator("#sales-gmv")).to_have_text("¥79.80", timeout=5000)
        await expect(watcher.locator(f'[data-stock-for="{setup.products[0].id}"]').first).to_have_text("48 left")
        await browsers.screenshot(shopper, "stream-bought-phone")
        await browsers.screenshot(watcher, "stream-phone")

    async def test_a_new_viewer_signs_up_inside_the_buy_flow(self, browsers: Browsers, seed: Factory) -> None:
        setup = await make_stream(seed)
        page = await browsers.open()
        await page.goto(f"/streams/{setup.stream.id}")
        await page.locator("#pinned [data-buy]").click()
        await page.locator("details.register summary").click()
        form = page.locator("#buy-register")
        await form.locator("[name=username]").fill(f"newbie{uuid.uuid4().hex[:6]}")
        await form.locator("[name=display_name]").fill("Chen Jing")
        await form.locator("[name=password]").fill(PASSWORD)
        await form.locator("button").click()
        await expect(page.locator("#buy-place")).to_be_visible()
        await browsers.screenshot(page, "stream-buy-sheet-phone")

    async def test_after_a_dropped_connection_missed_orders_arrive_once(
        self, browsers: Browsers, seed: Factory, api: httpx.AsyncClient
    ) -> None:
        setup = await make_stream(seed)
        buyer = await seed.user(Role.viewer, display_name="Liu Yang")
        page = await browsers.open()
        await page.goto(f"/streams/{setup.stream.id}")
        await connected(page)
        # Stop reconnecting while the orders are placed, so they can only arrive by resume.
        await page.evaluate("window.lcLive.stop()")
        first = await place_order(api, buyer, setup.stream.id, setup.products[1].id)
        second = await place_order(api, buyer, setup.stream.id, setup.products[0].id)
        await page.evaluate("window.lcLive.start()")
        await connected(page)
        for order in (first, second):
            await expect(page.locator(f'#ticker [data-order-id="{order["id"]}"]')).to_have_count(1, timeout=3000)
        await page.evaluate("window.lcLive.socket.close()")
        await connected(page)
        await page.wait_for_timeout(300)
        for order in (first, second):
            await expect(page.locator(f'#ticker [data-order-id="{order["id"]}"]')).to_have_count(1)


class TestStudioControls:
    async def test_the_host_goes_live_and_pins_and_viewers_see_it(self, browsers: Browsers, seed: Factory) -> None:
        setup = await make_stream(seed, live=False)
        cadre = await seed.user(Role.cadre, anchor_id=setup.anchor.id, county_ids=[setup.county.id])
        viewer = await browsers.open()
        await viewer.goto(f"/streams/{setup.stream.id}")
        await connected(viewer)
        await expect(viewer.locator("#pinned [data-buy]")).to_have_count(0)
        host = await browsers.open(cadre)
        await host.goto(f"/streams/{setup.stream.id}")
        await host.locator("#go-live").click()
        await expect(host.locator("#end-stream")).to_be_visible()
        await expect(viewer.locator("#status-badge .badge")).to_have_text("Live")
        await host.locator("#pin-select").select_option(str(setup.products[1].id))
        await host.locator("#pin-form button").click()
        await expect(viewer.locator("#pinned")).to_contain_text("Free-range chicken", timeout=2000)
        await expect(viewer.locator("#pinned [data-buy]")).to_be_enabled()


class TestOrganizerDashboard:
    async def test_the_total_moves_when_an_order_is_paid(self, browsers: Browsers, seed: Factory, api: httpx.AsyncClient) -> None:
        setup = await make_stream(seed)
        organizer = await seed.user(Role.organizer, county_ids=[setup.county.id])
        buyer = await seed.user(Role.viewer)
        page = await browsers.open(organizer, viewport=DESKTOP)
        await page.goto(f"/dashboard/streams/{setup.stream.id}")
        await connected(page)
        await expect(page.locator("#kpi-gmv")).to_have_text("¥0.00")

        order = await place_order(api, buyer, setup.stream.id, setup.products[1].id, quantity=2)
        await expect(page.locator("#kpi-gmv")).to_have_text("¥0.00")  # placed is not paid
        paid = await api.post(f"/api/orders/{order['id']}/pay", headers=buyer.headers)
        assert paid.status_code == 200, paid.text
        await expect(page.locator("#kpi-gmv")).to_have_text("¥256.00", timeout=3000)
        await expect(page.locator("#kpi-orders")).to_have_text("1")
        await expect(page.locator("#by-product tbody")).to_contain_text("Free-range chicken")
        await expect(page.locator(f'#stock-table tr[data-product-id="{setup.products[1].id}"] [data-field="stock"]')).to_have_text("6")
        await page.wait_for_timeout(400)  # let the chart's animation settle before the picture
        await browsers.screenshot(page, "dashboard-stream-desktop")

    async def test_the_days_streams_at_a_glance(self, browsers: Browsers, seed: Factory) -> None:
        setup = await make_stream(seed, title="Sugar orange harvest special")
        organizer = await seed.user(Role.organizer, county_ids=[setup.county.id])
        page = await browsers.open(organizer, viewport=DESKTOP)
        await page.goto("/dashboard")
        await expect(page.locator(f'[data-stream-id="{setup.stream.id}"]')).to_contain_text("Sugar orange harvest special")
        await browsers.screenshot(page, "dashboard-desktop")

    async def test_reports_show_charts_and_csv_links(self, browsers: Browsers, seed: Factory, api: httpx.AsyncClient) -> None:
        setup = await make_stream(seed)
        organizer = await seed.user(Role.organizer, county_ids=[setup.county.id])
        buyer = await seed.user(Role.viewer)
        order = await place_order(api, buyer, setup.stream.id, setup.products[0].id, quantity=3)
        assert (await api.post(f"/api/orders/{order['id']}/pay", headers=buyer.headers)).status_code == 200
        page = await browsers.open(organizer, viewport=DESKTOP)
        await page.goto("/reports")
        row = page.locator(f'#statements tr[data-county-id="{setup.county.id}"]')
        await expect(row.locator('[data-field="gross"]')).to_have_text("¥119.70", timeout=5000)
        # Paid, not yet delivered: the household's 70% is pending, nothing settled.
        await expect(row.locator('[data-field="pending"]')).to_have_text("¥83.79")
        await expect(row.locator('[data-field="settled"]')).to_have_text("¥0.00")
        csv = page.locator(f'tr[data-stream-id="{setup.stream.id}"] a[download]')
        async with page.expect_download() as download:
            await csv.click()
        assert (await (await download.value).path()).read_text(encoding="utf-8-sig").strip()
        await page.wait_for_timeout(400)
        await browsers.screenshot(page, "reports-desktop")
        await page.goto(f"/reports/streams/{setup.stream.id}")
        await expect(page.locator("#r-gmv")).to_have_text("¥119.70")
        await browsers.screenshot(page, "stream-report-desktop")


class TestCadreSchedule:
    async def test_a_booking_conflict_is_shown_in_words(self, browsers: Browsers, seed: Factory, api: httpx.AsyncClient) -> None:
        county = await seed.county(name="Liannan")
        anchor = await seed.anchor(county.id, name="Wang Xiu", title="Village party secretary")
        product = await seed.product(county.id, name="Mountain tea", price_fen=6800)
        cadre = await seed.user(Role.cadre, anchor_id=anchor.id, county_ids=[county.id])
        admin = await seed.user(Role.admin)
        day = datetime.now(SHANGHAI).date() + timedelta(days=3)
        at = lambda hh: datetime.combine(day, time(hh), tzinfo=SHANGHAI).isoformat()  # noqa: E731
        studios = []
        for name in ("Tea hall", "Orchard stage"):
            r = await api.post("/api/studios", json={"name": name, "platform": "douyin"}, headers=admin.headers)
            assert r.status_code == 201, r.text
            studios.append(r.json()["id"])
        booked = await api.post("/api/slots", json={"studio_id": studios[0], "starts_at": at(10), "ends_at": at(12)}, headers=admin.headers)
        wanted = await api.post("/api/slots", json={"studio_id": studios[1], "starts_at": at(11), "ends_at": at(13)}, headers=admin.headers)
        assert booked.status_code == wanted.status_code == 201, (booked.text, wanted.text)
        first = await api.post(
            "/api/bookings",
            json={"slot_id": booked.json()["id"], "anchor_ids": [anchor.id], "product_ids": [product.id]},
            headers=admin.headers,
        )
        assert first.status_code == 201, first.text

        page = await browsers.open(cadre)
        await page.goto(f"/schedule?week={day.isoformat()}")
        await expect(page.locator(f'.slot.mine[data-slot-id="{booked.json()["id"]}"]')).to_be_visible()
        await page.locator(f'.slot.open[data-slot-id="{wanted.json()["id"]}"]').click()
        await page.locator("#booking-form input[name=product_id]").first.check()
        await page.locator("#booking-form button[type=submit]").click()
        message = page.locator("#booking-result .conflicts li").first
        await expect(message).to_contain_text("Wang Xiu already hosts a broadcast from")
        await expect(message).to_contain_text("10:00")
        await expect(message).to_contain_text("12:00")
        await no_horizontal_scroll(page)
        await browsers.screenshot(page, "schedule-conflict-phone")
        desktop = await browsers.open(cadre, viewport=DESKTOP)
        await desktop.goto(f"/schedule?week={day.isoformat()}")
        feed = await desktop.locator("#ical-url").input_value()
        assert feed.startswith(f"{browsers.base}/api/anchors/{anchor.id}/schedule.ics?token="), feed
        calendar = await api.get(feed)  # a calendar app has no cookie: the link alone must do
        assert calendar.status_code == 200 and "BEGIN:VCALENDAR" in calendar.text
        await browsers.screenshot(desktop, "schedule-desktop")

    async def test_a_cadre_books_a_co_host_who_is_invited(self, browsers: Browsers, seed: Factory, api: httpx.AsyncClient) -> None:
        county = await seed.county(name="Yangshan")
        host = await seed.anchor(county.id, name="Li Ming", title="Township head")
        guest = await seed.anchor(county.id, name="Zhao Lan", title="Village secretary")
        cadre = await seed.user(Role.cadre, anchor_id=host.id, county_ids=[county.id])
        admin = await seed.user(Role.admin)
        day = datetime.now(SHANGHAI).date() + timedelta(days=4)
        start = datetime.combine(day, time(15), tzinfo=SHANGHAI)
        studio = await api.post("/api/studios", json={"name": "Bamboo hall", "platform": "douyin"}, headers=admin.headers)
        slot = await api.post(
            "/api/slots",
            json={"studio_id": studio.json()["id"], "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()},
            headers=admin.headers,
        )
        assert slot.status_code == 201, slot.text
        page = await browsers.open(cadre)
        await page.goto(f"/schedule?week={day.isoformat()}")
        await page.locator(f'.slot.open[data-slot-id="{slot.json()["id"]}"]').click()
        await expect(page.locator(f'#cohosts label[data-anchor-id="{host.id}"]')).to_be_hidden()
        await page.locator(f'#cohosts label[data-anchor-id="{guest.id}"] input').check()
        await page.locator("#booking-form button[type=submit]").click()
        await expect(page.locator("#booking-result .success")).to_contain_text("1 co-host(s) invited")
        listed = await api.get(f"/api/bookings?anchor_id={guest.id}", headers=admin.headers)
        [booking] = listed.json()["items"]
        assert booking["anchor_ids"] == [host.id, guest.id]
        assert booking["cohosts"] == [{"anchor_id": guest.id, "accepted": False}]
        await browsers.screenshot(page, "schedule-cohost-phone")


class TestPlanPage:
    async def test_an_organizer_reads_the_plan_and_applies_it(self, browsers: Browsers, seed: Factory, api: httpx.AsyncClient) -> None:
        county = await seed.county(name="Lianshan")
        await seed.anchor(county.id, name="Sun Hua", title="Deputy county head")
        organizer = await seed.user(Role.organizer, county_ids=[county.id])
        admin = await seed.user(Role.admin)
        day = datetime.now(SHANGHAI).date() + timedelta(days=5)
        start = datetime.combine(day, time(9), tzinfo=SHANGHAI)
        campaign = await api.post(
            "/api/campaigns",
            json={"name": "Harvest month", "starts_at": start.isoformat(), "ends_at": (start + timedelta(days=2)).isoformat()},
            headers=admin.headers,
        )
        studio = await api.post("/api/studios", json={"name": "Terrace", "platform": "douyin"}, headers=admin.headers)
        slot = await api.post(
            "/api/slots",
            json={
                "studio_id": studio.json()["id"],
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=1)).isoformat(),
                "campaign_id": campaign.json()["id"],
            },
            headers=admin.headers,
        )
        proposal = await api.post(
            f"/api/campaigns/{campaign.json()['id']}/plans", json={"time_limit_seconds": 5}, headers=organizer.headers
        )
        assert proposal.status_code == 201, proposal.text
        page = await browsers.open(organizer, viewport=DESKTOP)
        await page.goto(f"/manage/plans/{proposal.json()['id']}")
        row = page.locator(f'#plan-table tr[data-slot-id="{slot.json()["id"]}"]')
        await expect(row.locator(".proposed")).to_contain_text("Sun Hua")
        await expect(row.locator(".current")).to_have_text("—")
        await browsers.screenshot(page, "plan-desktop")
        await page.locator("#plan-apply").click()
        await expect(page.locator("#plan-result .success")).to_be_visible()
        booked = await api.get(f"/api/slots?studio_id={studio.json()['id']}", headers=admin.headers)
        assert booked.json()["items"][0]["booking_id"] is not None


class TestAccess:
    @pytest.mark.parametrize("path", ["/dashboard", "/reports", "/dashboard/streams/{id}", "/reports/streams/{id}"])
    async def test_a_viewer_cannot_open_organizer_pages(self, browsers: Browsers, seed: Factory, path: str) -> None:
        setup = await make_stream(seed)
        viewer = await seed.user(Role.viewer)
        page = await browsers.open()
        await page.goto("/login")
        await page.locator("#login-form [name=username]").fill(viewer.username)
        await page.locator("#login-form [name=password]").fill(PASSWORD)
        await page.locator("#login-form button").click()
        await expect(page).to_have_url(f"{browsers.base}/")
        await page.goto(path.format(id=setup.stream.id))
        assert page.url.startswith(f"{browsers.base}/login?next="), page.url
        await expect(page.locator(".notice")).to_be_visible()


class TestPhoneLayout:
    async def test_main_pages_fit_a_phone_without_sideways_scrolling(self, browsers: Browsers, seed: Factory) -> None:
        setup: StreamSetup = await make_stream(seed, title="Yangshan sugar oranges, picked this morning")
        await make_stream(seed, live=False, title="Mountain tea from Liannan")
        cadre = await seed.user(Role.cadre, anchor_id=setup.anchor.id, county_ids=[setup.county.id])
        organizer = await seed.user(Role.organizer, county_ids=[setup.county.id])
        pages = [
            (None, "/", "home"),
            (None, f"/streams/{setup.stream.id}", "stream"),
            (None, "/login", "login"),
            (cadre, "/schedule", "schedule"),
            (cadre, f"/streams/{setup.stream.id}", "stream-host-controls"),
            (organizer, "/dashboard", "dashboard"),
            (organizer, f"/dashboard/streams/{setup.stream.id}", "dashboard-stream"),
            (organizer, "/reports", "reports"),
        ]
        for user, path, name in pages:
            page = await browsers.open(user)
            await page.goto(path)
            await page.wait_for_load_state("networkidle")
            await no_horizontal_scroll(page)
            await browsers.screenshot(page, f"{name}-phone")

    async def test_chinese_pages_follow_the_browser_language(self, browsers: Browsers, seed: Factory) -> None:
        setup = await make_stream(seed, title="阳山砂糖橘 产地直发")
        page = await browsers.open(locale="zh-CN")
        await page.goto(f"/streams/{setup.stream.id}")
        await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        await expect(page.locator("#pinned-h")).to_have_text("正在讲解")
        await browsers.screenshot(page, "stream-zh-phone")
        await page.locator("a.lang").click()
        await expect(page.locator("#pinned-h")).to_have_text("On screen now")
        await page.goto("/")
        await browsers.screenshot(page, "home-en-after-switch-phone")
        await expect(page.locator("html")).to_have_attribute("lang", "en")


async def open_deal_now(seed: Factory, setup: StreamSetup, quantity: int, *, limit: int = 1) -> int:
    """A flash deal on the stream's first product, open from now (written through the stock module)."""
    from livecommerce.catalog import stock
    from livecommerce.catalog.stock import NewDeal
    from livecommerce.kit.clock import utcnow

    now = utcnow()
    product = setup.products[0]
    assert product.id is not None and setup.stream.id is not None
    async with seed.db.transaction() as session:
        deal = await stock.open_deal(
            session,
            NewDeal(setup.stream.id, product.id, 2990, quantity, limit, now - timedelta(seconds=1), now + timedelta(minutes=5), None),
            now=now,
        )
    return deal.id


class TestFlashDeals:
    async def test_the_host_announces_a_deal_and_the_viewer_sees_its_countdown(self, browsers: Browsers, seed: Factory) -> None:
        setup = await make_stream(seed)
        cadre = await seed.user(Role.cadre, anchor_id=setup.anchor.id, county_ids=[setup.county.id])
        viewer = await browsers.open()
        await viewer.goto(f"/streams/{setup.stream.id}")
        await connected(viewer)
        await expect(viewer.locator("#flash-deals")).to_be_hidden()
        host = await browsers.open(cadre, viewport=DESKTOP)
        await host.goto(f"/streams/{setup.stream.id}")
        form = host.locator("#flash-form")
        await form.locator("[name=price]").fill("29.90")
        await form.locator("[name=quantity]").fill("20")
        await form.locator("[name=countdown_seconds]").fill("60")
        await form.locator("button[type=submit]").click()
        await expect(host.locator(".flash-card")).to_have_count(1)
        card = viewer.locator(".flash-card")
        await expect(card).to_have_count(1, timeout=2000)
        await expect(card.locator(".flash-price b")).to_have_text("¥29.90")
        await expect(card.locator(".flash-clock")).to_contain_text("Starts in 00:")
        await expect(card.locator("[data-flash-buy]")).to_be_disabled()
        await expect(card.locator(".flash-left")).to_have_text("20 of 20 left")
        await browsers.screenshot(viewer, "flash-countdown-phone")

    async def test_a_viewer_grabs_a_unit_and_sees_sold_out_the_moment_the_last_one_goes(
        self, browsers: Browsers, seed: Factory, api: httpx.AsyncClient
    ) -> None:
        setup = await make_stream(seed)
        deal_id = await open_deal_now(seed, setup, 2)
        shopper_user = await seed.user(Role.viewer, display_name="Huang Min")
        shopper = await browsers.open(shopper_user)
        await shopper.goto(f"/streams/{setup.stream.id}")
        await connected(shopper)
        card = shopper.locator(f'.flash-card[data-deal-id="{deal_id}"]')
        await expect(card.locator(".flash-clock")).to_contain_text("Ends in")
        await card.locator("[data-flash-buy]").click()
        await expect(card.locator(".flash-placed")).to_contain_text("Order #")
        await card.locator(".flash-placed button").click()
        await expect(card.locator(".flash-placed")).to_contain_text("is paid")
        await expect(card.locator(".flash-left")).to_have_text("1 of 2 left", timeout=2000)
        other = await seed.user(Role.viewer)
        last = await api.post(
            f"/api/streams/{setup.stream.id}/orders",
            json={"items": [{"product_id": setup.products[0].id, "quantity": 1, "flash_deal_id": deal_id}]},
            headers={**other.headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert last.status_code == 201, last.text
        await expect(card.locator(".flash-left")).to_have_text("Sold out", timeout=1000)
        await expect(card.locator("[data-flash-buy]")).to_be_disabled()
        await browsers.screenshot(shopper, "flash-sold-out-phone")
