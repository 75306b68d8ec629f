"""Chat on the viewer's stream page and the organizer's dashboard, in a real Chromium against a real server."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from playwright.async_api import Page, expect

from livecommerce.kit.principal import Role
from tests.e2e.test_pages import DESKTOP, Browsers, api, browser, browsers, connected, e2e_database_url, seed, server
from tests.factories import Factory
from tests.web.helpers import make_stream

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
__all__ = ["api", "browser", "browsers", "e2e_database_url", "seed", "server"]


class TestChat:
    async def test_viewers_chat_and_an_organizer_hides_a_message_and_mutes_its_author(self, browsers: Browsers, seed: Factory) -> None:
        setup = await make_stream(seed)
        fan = await seed.user(Role.viewer, display_name="Wang Fang")
        organizer = await seed.user(Role.organizer, county_ids=[setup.county.id])
        talker = await browsers.open(fan)
        await talker.goto(f"/streams/{setup.stream.id}")
        await connected(talker)
        reader = await browsers.open()
        await reader.goto(f"/streams/{setup.stream.id}")
        await connected(reader)
        await expect(reader.locator("#chat [data-chat-form]")).to_have_count(0)  # anonymous viewers read only
        await expect(reader.locator("#chat .chat-note")).to_be_visible()
        desk = await browsers.open(organizer, viewport=DESKTOP)
        await desk.goto(f"/dashboard/streams/{setup.stream.id}")
        await connected(desk)

        await talker.locator("#chat [name=text]").fill("Are the oranges sweet?")
        await talker.locator("#chat [data-chat-form] button").click()
        line = reader.locator("#chat .chat-line", has_text="Are the oranges sweet?")
        await expect(line).to_be_visible(timeout=2000)
        await expect(line.locator(".chat-author")).to_contain_text("W*")  # masked for everyone but staff
        await expect(line.locator(".chat-author")).not_to_contain_text("Wang")
        staff_line = desk.locator("#chat .chat-line", has_text="Are the oranges sweet?")
        await expect(staff_line.locator(".chat-author")).to_have_text("Wang Fang")
        await browsers.screenshot(reader, "stream-chat-phone")
        await browsers.screenshot(desk, "dashboard-chat")

        await staff_line.locator("[data-chat-hide]").click()
        await expect(line).to_have_count(0, timeout=2000)
        await expect(talker.locator("#chat .chat-line", has_text="Are the oranges sweet?")).to_have_count(0)

        await talker.locator("#chat [name=text]").fill("Second try")
        await talker.locator("#chat [data-chat-form] button").click()
        second = desk.locator("#chat .chat-line", has_text="Second try")
        await expect(second).to_be_visible(timeout=2000)
        await second.locator("[data-chat-mute]").click()
        await expect(desk.locator("#chat [data-chat-error]")).to_contain_text("Muted until")
        await talker.locator("#chat [name=text]").fill("Am I muted?")
        await talker.locator("#chat [data-chat-form] button").click()
        await expect(talker.locator("#chat [data-chat-error]")).to_have_text("You are muted in this broadcast for now.")
        await expect(reader.locator("#chat .chat-line", has_text="Am I muted?")).to_have_count(0)

    async def test_a_late_viewer_sees_the_recent_chat(self, browsers: Browsers, seed: Factory) -> None:
        setup = await make_stream(seed)
        fan = await seed.user(Role.viewer, display_name="Zhao Lei")
        talker = await browsers.open(fan)
        await talker.goto(f"/streams/{setup.stream.id}")
        await connected(talker)
        await talker.locator("#chat [name=text]").fill("Hello from the village")
        await talker.locator("#chat [data-chat-form] button").click()
        await expect(talker.locator("#chat .chat-line", has_text="Hello from the village")).to_be_visible(timeout=2000)
        late = await browsers.open()
        await late.goto(f"/streams/{setup.stream.id}")
        await expect(late.locator("#chat .chat-line", has_text="Hello from the village")).to_have_count(1, timeout=2000)


class TestBroadcast:
    async def test_the_page_plays_the_hls_url_and_links_the_live_room_with_chat_beside_it_on_a_laptop(
        self, browsers: Browsers, seed: Factory, api: httpx.AsyncClient, server: str
    ) -> None:
        setup = await make_stream(seed)
        organizer = await seed.user(Role.organizer, county_ids=[setup.county.id])
        body = {"platform": "douyin", "live_room_url": f"{server}/room/42", "hls_url": f"{server}/static/live/missing.m3u8"}
        r = await api.put(f"/api/streams/{setup.stream.id}/media", json=body, headers=organizer.headers)
        assert r.status_code == 200, r.text
        page = await browsers.open(viewport=DESKTOP)
        await page.goto(f"/streams/{setup.stream.id}")
        link = page.locator("#live-room")
        await expect(link).to_have_text("Watch on 抖音 Douyin")
        await expect(link).to_have_attribute("href", f"{server}/room/42")
        await expect(page.locator("#player-video")).to_be_visible()
        # hls.js (served by the app) attached the stream: a MediaSource blob, or the browser's own HLS.
        await until_true(
            page, "() => Boolean(window.lcPlayer && (window.lcPlayer.player !== null || document.getElementById('player-video').src))"
        )
        player, chat = await page.locator("#player").bounding_box(), await page.locator("#chat").bounding_box()
        assert player is not None and chat is not None
        assert chat["x"] >= player["x"] + player["width"] - 1  # beside it ...
        assert chat["y"] < player["y"] + player["height"] and player["y"] < chat["y"] + chat["height"]  # ... at the same height
        await browsers.screenshot(page, "stream-player-desktop")
        phone = await browsers.open()
        await phone.goto(f"/streams/{setup.stream.id}")
        await expect(phone.locator("#player-video")).to_be_visible()
        player, chat = await phone.locator("#player").bounding_box(), await phone.locator("#chat").bounding_box()
        assert player is not None and chat is not None
        assert chat["y"] >= player["y"] + player["height"] - 1  # below it
        await browsers.screenshot(phone, "stream-player-phone")

    async def test_a_stream_without_media_shows_no_player(self, browsers: Browsers, seed: Factory) -> None:
        setup = await make_stream(seed)
        page = await browsers.open()
        await page.goto(f"/streams/{setup.stream.id}")
        await until_true(page, "() => window.lcPlayer !== undefined")
        await expect(page.locator("#player")).to_be_hidden()


async def until_true(page: Page, expression: str, timeout: float = 5.0) -> None:
    """Poll a function in the page until it returns true (wait_for_function evaluates a string, which the CSP forbids)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await page.evaluate(expression):
        assert asyncio.get_running_loop().time() < deadline, f"not true within {timeout} s: {expression}"
        await asyncio.sleep(0.05)
