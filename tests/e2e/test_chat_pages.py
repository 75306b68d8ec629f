"""Chat on the viewer's stream page and the organizer's dashboard, in a real Chromium against a real server."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

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
