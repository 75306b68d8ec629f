"""The unread badge in the site header, the notifications page, and marking them read."""

from __future__ import annotations

from datetime import timedelta

import httpx

from livecommerce.kit.principal import Role
from schedulers.jobs import JobContext, run_due
from tests.factories import TestUser
from tests.schedulers.conftest import World, at
from tests.schedulers.test_followers import ctx, follow

__all__ = ["ctx"]  # the fixture, shared with the followers' tests


async def unread(world: World, user: TestUser) -> int:
    r = await world.client.get("/api/me/notifications/unread", headers=user.headers)
    assert r.status_code == 200, r.text
    return int(r.json()["unread"])


async def page(world: World, user: TestUser, path: str = "/") -> httpx.Response:
    world.client.cookies.set("lc_token", user.token)
    try:
        return await world.client.get(path, headers={"Accept-Language": "en"})
    finally:
        world.client.cookies.clear()


async def two_notifications(world: World, ctx: JobContext) -> tuple[TestUser, TestUser, int]:
    """A follower told of a broadcast before and at go-live, and a viewer told of nothing."""
    fan, stranger = await world.make.user(Role.viewer), await world.make.user(Role.viewer)
    assert await follow(world, fan, world.a.id) == 204
    booking = await world.booked(at(2))
    await run_due(ctx, at(2) - timedelta(minutes=ctx.settings.reminder_minutes))
    await run_due(ctx, at(2))
    return fan, stranger, int(booking["stream_id"])


class TestUnreadCount:
    async def test_counts_unread_until_marked_read(self, world: World, ctx: JobContext) -> None:
        fan, stranger, _ = await two_notifications(world, ctx)
        assert (await unread(world, fan), await unread(world, stranger)) == (2, 0)
        r = await world.client.post("/api/me/notifications/read", headers=fan.headers)
        assert r.status_code == 204
        assert await unread(world, fan) == 0
        listed = (await world.client.get("/api/me/notifications", headers=fan.headers)).json()["items"]
        assert [n["read"] for n in listed] == [True, True]

    async def test_anonymous_is_401(self, world: World) -> None:
        assert (await world.client.get("/api/me/notifications/unread")).status_code == 401
        assert (await world.client.post("/api/me/notifications/read")).status_code == 401


class TestBadge:
    async def test_the_header_shows_the_unread_count_on_every_page(self, world: World, ctx: JobContext) -> None:
        fan, stranger, _ = await two_notifications(world, ctx)
        for path in ("/", "/me/notifications"):
            r = await page(world, fan, path)
            assert r.status_code == 200, r.text
            assert 'id="notification-badge"' in r.text and 'data-unread="2"' in r.text
        quiet = await page(world, stranger)
        assert 'id="notification-badge"' in quiet.text and "data-unread" not in quiet.text

    async def test_signed_out_pages_have_no_badge(self, world: World) -> None:
        r = await world.client.get("/", headers={"Accept-Language": "en"})
        assert r.status_code == 200
        assert 'id="notification-badge"' not in r.text


class TestNotificationsPage:
    async def test_lists_the_notifications_newest_first_and_marking_them_read_clears_the_badge(self, world: World, ctx: JobContext) -> None:
        fan, _, stream_id = await two_notifications(world, ctx)
        r = await page(world, fan, "/me/notifications")
        assert r.text.index('data-kind="stream.live"') < r.text.index('data-kind="stream.reminder"')
        assert r.text.count(f'data-stream-id="{stream_id}"') == 2
        assert "Live now" in r.text and "Starting soon" in r.text
        world.client.cookies.set("lc_token", fan.token)
        try:
            done = await world.client.post("/me/notifications/read")
        finally:
            world.client.cookies.clear()
        assert done.status_code == 303 and done.headers["location"] == "/me/notifications"
        assert "data-unread" not in (await page(world, fan, "/me/notifications")).text

    async def test_a_cross_site_form_is_refused(self, world: World, ctx: JobContext) -> None:
        fan, _, _ = await two_notifications(world, ctx)
        world.client.cookies.set("lc_token", fan.token)
        try:
            r = await world.client.post("/me/notifications/read", headers={"Origin": "https://evil.example"})
        finally:
            world.client.cookies.clear()
        assert r.status_code == 403
        assert await unread(world, fan) == 2

    async def test_signed_out_is_sent_to_sign_in(self, world: World) -> None:
        r = await world.client.get("/me/notifications")
        assert r.status_code in (302, 303, 307) and "/login" in r.headers["location"]
