"""/docs and /redoc in a real Chromium with every non-local request blocked: they render from the app's own assets."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route, async_playwright, expect

from tests.conftest import TEST_SECRET
from tests.databases import scratch_database
from tests.e2e.test_pages import CHROMIUM_ARGS
from tests.web.live_server import running_server

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with scratch_database(tmp_path_factory.mktemp("docs"), "docs") as url:
        env = {"LIVECOMMERCE_DATABASE_URL": url, "LIVECOMMERCE_SECRET_KEY": TEST_SECRET, "LIVECOMMERCE_REDIS_URL": ""}
        with running_server(env, tmp_path_factory.mktemp("server") / "server.log") as base:
            yield base


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    assert executable, "install Debian's chromium: apt-get install -y chromium"
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield b
        await b.close()


async def _offline_page(browser: Browser, base: str, blocked: list[str]) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(base_url=base)

    async def route(r: Route) -> None:
        if r.request.url.startswith((base, "data:", "blob:")):
            await r.continue_()
        else:
            blocked.append(r.request.url)
            await r.abort("internetdisconnected")

    await context.route("**/*", route)
    return context, await context.new_page()


class TestDocsOffline:
    async def test_swagger_ui_renders_the_operations_without_the_internet(self, browser: Browser, server: str) -> None:
        blocked: list[str] = []
        context, page = await _offline_page(browser, server, blocked)
        try:
            await page.goto("/docs")
            operations = page.locator(".opblock-summary-path")
            await expect(operations.first).to_be_visible(timeout=30_000)
            assert await operations.count() > 50
            await expect(page.get_by_text("/api/products/{product_id}", exact=True).first).to_be_visible()
        finally:
            await context.close()
        assert blocked == []

    async def test_redoc_renders_the_operations_without_the_internet(self, browser: Browser, server: str) -> None:
        blocked: list[str] = []
        context, page = await _offline_page(browser, server, blocked)
        try:
            await page.goto("/redoc")
            await expect(page.locator("[data-section-id^='operation/']").first).to_be_attached(timeout=60_000)
        finally:
            await context.close()
        assert blocked == []
