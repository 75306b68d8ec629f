"""The anchor's iCalendar feed, parsed back with `icalendar`."""

from __future__ import annotations

from datetime import timedelta

from icalendar import Calendar

from livecommerce.kit.principal import Role
from tests.schedulers.conftest import World, at


class TestScheduleIcs:
    async def test_feed_lists_bookings_with_stable_uids_utc_times_and_cancelled_status(self, world: World) -> None:
        kept = await world.booked(at(2), 60, [world.a], title="高州荔枝直播")
        dropped = await world.booked(at(30), 90, [world.a, world.b], studio_id=world.studios[1])
        await world.booked(at(2), 60, [world.b], studio_id=world.studios[1])  # not world.a's: not in the feed
        assert (await world.client.post(f"/api/bookings/{dropped['id']}/cancel", headers=world.organizer.headers)).status_code == 200

        r = await world.client.get(f"/api/anchors/{world.a.id}/schedule.ics", headers=world.a.user.headers)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/calendar")
        cal = Calendar.from_ical(r.content)
        assert str(cal["X-WR-TIMEZONE"]) == "Asia/Shanghai"
        events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
        assert set(events) == {f"booking-{kept['id']}@livecommerce", f"booking-{dropped['id']}@livecommerce"}

        first = events[f"booking-{kept['id']}@livecommerce"]
        assert first.decoded("DTSTART") == at(2)
        assert first.decoded("DTSTART").utcoffset() == timedelta(0)
        assert first.decoded("DTEND") == at(3)
        assert str(first["SUMMARY"]) == "高州荔枝直播"
        assert str(first["STATUS"]) == "CONFIRMED"
        assert b"DTSTART:20300304T020000Z" in r.content

        second = events[f"booking-{dropped['id']}@livecommerce"]
        assert str(second["STATUS"]) == "CANCELLED"
        assert second.decoded("DTEND") == at(31, 30)

    async def test_uids_stay_the_same_between_fetches(self, world: World) -> None:
        await world.booked(at(2), 60, [world.a], confirm=False)
        url = f"/api/anchors/{world.a.id}/schedule.ics"
        one = Calendar.from_ical((await world.client.get(url, headers=world.organizer.headers)).content)
        two = Calendar.from_ical((await world.client.get(url, headers=world.organizer.headers)).content)
        assert [str(e["UID"]) for e in one.walk("VEVENT")] == [str(e["UID"]) for e in two.walk("VEVENT")]
        assert str(one.walk("VEVENT")[0]["STATUS"]) == "TENTATIVE"

    async def test_calendar_app_subscribes_with_the_feed_token(self, world: World) -> None:
        await world.booked(at(2), 60, [world.a])
        link = await world.client.get(f"/api/anchors/{world.a.id}/schedule-feed", headers=world.a.user.headers)
        assert link.status_code == 200, link.text
        r = await world.client.get(link.json()["url"])  # no Authorization header
        assert r.status_code == 200
        assert len(Calendar.from_ical(r.content).walk("VEVENT")) == 1

    async def test_wrong_token_is_401_and_other_cadre_is_403(self, world: World) -> None:
        url = f"/api/anchors/{world.a.id}/schedule.ics"
        assert (await world.client.get(url, params={"token": "0" * 32})).status_code == 401
        assert (await world.client.get(url, headers=world.b.user.headers)).status_code == 403
        viewer = await world.make.user(Role.viewer)
        assert (await world.client.get(url, headers=viewer.headers)).status_code == 403

    async def test_one_anchors_token_does_not_open_another_feed(self, world: World) -> None:
        link = await world.client.get(f"/api/anchors/{world.a.id}/schedule-feed", headers=world.a.user.headers)
        r = await world.client.get(f"/api/anchors/{world.b.id}/schedule.ics", params={"token": link.json()["token"]})
        assert r.status_code == 401
