"""Studios, slots and bookings through the API: the conflict rules, who may book, state changes, races."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlmodel import col, select

from livecommerce.broadcasts.models import Stream
from livecommerce.kit.db import Database
from livecommerce.kit.errors import Forbidden
from livecommerce.kit.pagination import PageParams
from livecommerce.kit.principal import Principal, Role
from livecommerce.kit.settings import Settings
from schedulers import bookings
from schedulers.models import Booking
from tests.schedulers.conftest import World, at


class TestStudiosAndCampaigns:
    async def test_organizer_adds_and_lists_studios(self, world: World) -> None:
        r = await world.client.get("/api/studios", headers=world.a.user.headers)
        assert r.status_code == 200
        assert [s["id"] for s in r.json()["items"]] == world.studios

    async def test_cadre_cannot_add_a_studio(self, world: World) -> None:
        r = await world.client.post("/api/studios", json={"name": "x", "platform": "y"}, headers=world.a.user.headers)
        assert r.status_code == 403

    async def test_campaign_round_trip(self, world: World) -> None:
        body = {"name": "消费帮扶月", "starts_at": at(24).isoformat(), "ends_at": at(24 * 30).isoformat()}
        r = await world.client.post("/api/campaigns", json=body, headers=world.organizer.headers)
        assert r.status_code == 201, r.text
        listed = await world.client.get("/api/campaigns", headers=world.organizer.headers)
        assert listed.json()["items"][0]["name"] == "消费帮扶月"

    async def test_campaign_ending_before_it_starts_is_422(self, world: World) -> None:
        body = {"name": "x", "starts_at": at(24).isoformat(), "ends_at": at(1).isoformat()}
        r = await world.client.post("/api/campaigns", json=body, headers=world.organizer.headers)
        assert r.status_code == 422


class TestCreateSlot:
    async def test_slot_is_created_with_its_campaign(self, world: World) -> None:
        c = await world.client.post(
            "/api/campaigns",
            json={"name": "c", "starts_at": at(0).isoformat(), "ends_at": at(99).isoformat()},
            headers=world.organizer.headers,
        )
        body = {"studio_id": world.studios[0], "starts_at": at(2).isoformat(), "ends_at": at(3).isoformat(), "campaign_id": c.json()["id"]}
        r = await world.client.post("/api/slots", json=body, headers=world.organizer.headers)
        assert r.status_code == 201, r.text
        assert r.json()["campaign_id"] == c.json()["id"]
        assert r.json()["booking_id"] is None

    async def test_overlapping_slot_in_same_studio_is_409_with_conflicts(self, world: World) -> None:
        first = await world.slot(at(2), 60)
        body = {"studio_id": world.studios[0], "starts_at": at(2, 30).isoformat(), "ends_at": at(4).isoformat()}
        r = await world.client.post("/api/slots", json=body, headers=world.organizer.headers)
        assert r.status_code == 409
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["conflicts"] == [
            {
                "kind": "studio",
                "studio_id": world.studios[0],
                "slot_id": first,
                "starts_at": at(2).isoformat().replace("+00:00", "Z"),
                "ends_at": at(3).isoformat().replace("+00:00", "Z"),
                "detail": "the studio has an overlapping slot",
            }
        ]

    async def test_slot_inside_the_buffer_is_409_and_after_it_is_fine(self, world: World, settings: Settings) -> None:
        await world.slot(at(2), 60)  # ends at +3h; buffer 15 minutes
        inside = {"studio_id": world.studios[0], "starts_at": at(3, 10).isoformat(), "ends_at": at(4).isoformat()}
        assert (await world.client.post("/api/slots", json=inside, headers=world.organizer.headers)).status_code == 409
        after = {
            "studio_id": world.studios[0],
            "starts_at": at(3, settings.booking_buffer_minutes).isoformat(),
            "ends_at": at(4).isoformat(),
        }
        assert (await world.client.post("/api/slots", json=after, headers=world.organizer.headers)).status_code == 201

    async def test_same_time_in_another_studio_is_fine(self, world: World) -> None:
        await world.slot(at(2), 60, world.studios[0])
        await world.slot(at(2), 60, world.studios[1])

    async def test_naive_time_is_422(self, world: World) -> None:
        body = {"studio_id": world.studios[0], "starts_at": "2030-03-05T10:00:00", "ends_at": "2030-03-05T11:00:00"}
        r = await world.client.post("/api/slots", json=body, headers=world.organizer.headers)
        assert r.status_code == 422

    async def test_unknown_studio_is_422(self, world: World) -> None:
        body = {"studio_id": 999, "starts_at": at(2).isoformat(), "ends_at": at(3).isoformat()}
        r = await world.client.post("/api/slots", json=body, headers=world.organizer.headers)
        assert r.status_code == 422


class TestListSlots:
    async def test_open_filter_hides_booked_slots_and_time_filter_applies(self, world: World) -> None:
        booked = await world.booked(at(2))
        free = await world.slot(at(5))
        later = await world.slot(at(50))
        r = await world.client.get("/api/slots", params={"open": "true"}, headers=world.organizer.headers)
        assert [s["id"] for s in r.json()["items"]] == [free, later]
        r = await world.client.get("/api/slots", params={"to": at(10).isoformat()}, headers=world.organizer.headers)
        items = r.json()["items"]
        assert [s["id"] for s in items] == [booked["slot_id"], free]
        assert items[0]["booking_id"] == booked["id"]
        r = await world.client.get(
            "/api/slots", params={"from": at(20).isoformat(), "studio_id": world.studios[0]}, headers=world.organizer.headers
        )
        assert [s["id"] for s in r.json()["items"]] == [later]


class TestCreateBooking:
    async def test_booking_is_201_with_its_stream(self, world: World, db: Database) -> None:
        product = await world.make.product(world.county_id)
        slot_id = await world.slot(at(2))
        r = await world.book(slot_id, [world.a, world.b], [product.id])  # type: ignore[list-item]
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["status"] == "requested"
        assert body["anchor_ids"] == sorted([world.a.id, world.b.id])
        assert body["product_ids"] == [product.id]
        async with db.transaction() as session:
            stream = await session.get(Stream, body["stream_id"])
        assert stream is not None
        assert stream.booking_id == body["id"]
        assert stream.status == "scheduled"
        assert stream.scheduled_start == at(2)

    async def test_anchor_already_booked_elsewhere_is_409_naming_the_clash(self, world: World) -> None:
        first = await world.booked(at(2), 60, [world.a], studio_id=world.studios[0])
        slot_id = await world.slot(at(2, 30), 60, world.studios[1])
        r = await world.book(slot_id, [world.b, world.a])
        assert r.status_code == 409
        assert r.json()["conflicts"] == [
            {
                "kind": "anchor",
                "booking_id": first["id"],
                "anchor_id": world.a.id,
                "slot_id": first["slot_id"],
                "starts_at": "2030-03-04T02:00:00Z",
                "ends_at": "2030-03-04T03:00:00Z",
                "detail": "the anchor is booked at an overlapping time",
            }
        ]

    async def test_anchor_clash_counts_the_buffer(self, world: World, settings: Settings) -> None:
        await world.booked(at(2), 60, [world.a], studio_id=world.studios[0])
        within = await world.slot(at(3, settings.booking_buffer_minutes - 1), 60, world.studios[1])
        r = await world.book(within, [world.a])
        assert r.status_code == 409
        assert [c["kind"] for c in r.json()["conflicts"]] == ["anchor"]
        beyond = await world.slot(at(6), 60, world.studios[1])
        assert (await world.book(beyond, [world.a])).status_code == 201

    async def test_each_clashing_anchor_is_named(self, world: World) -> None:
        one = await world.booked(at(2), 60, [world.a], studio_id=world.studios[0])
        two = await world.booked(at(2), 60, [world.b], studio_id=world.studios[1])
        third = await world.client.post("/api/studios", json={"name": "S3", "platform": "kuaishou"}, headers=world.organizer.headers)
        slot_id = await world.slot(at(2), 60, third.json()["id"])
        r = await world.book(slot_id, [world.a, world.b])
        assert r.status_code == 409
        assert {(c["kind"], c["anchor_id"], c["booking_id"]) for c in r.json()["conflicts"]} == {
            ("anchor", world.a.id, one["id"]),
            ("anchor", world.b.id, two["id"]),
        }

    async def test_studio_slot_already_booked_is_409_studio(self, world: World) -> None:
        first = await world.booked(at(2), 60, [world.a])
        r = await world.book(first["slot_id"], [world.b])
        assert r.status_code == 409
        assert [(c["kind"], c["booking_id"], c["studio_id"]) for c in r.json()["conflicts"]] == [("studio", first["id"], world.studios[0])]

    async def test_cancelled_booking_frees_anchor_and_studio(self, world: World) -> None:
        first = await world.booked(at(2), 60, [world.a])
        r = await world.client.post(f"/api/bookings/{first['id']}/cancel", headers=world.organizer.headers)
        assert r.status_code == 200
        again = await world.book(first["slot_id"], [world.a])
        assert again.status_code == 201, again.text

    async def test_too_little_notice_is_409_notice(self, world: World, settings: Settings) -> None:
        slot_id = await world.slot(at(0, settings.booking_min_notice_minutes - 5))
        r = await world.book(slot_id, [world.a])
        assert r.status_code == 409
        assert [c["kind"] for c in r.json()["conflicts"]] == ["notice"]

    async def test_outside_availability_is_409_and_inside_is_fine(self, world: World) -> None:
        # Mondays 09:00-12:00 Shanghai = 01:00-04:00 UTC on 2030-03-04.
        windows = {"windows": [{"weekday": 0, "starts": "09:00", "ends": "12:00"}]}
        r = await world.client.put(f"/api/anchors/{world.a.id}/availability", json=windows, headers=world.a.user.headers)
        assert r.status_code == 200, r.text
        assert r.json() == windows
        late = await world.slot(at(3, 30), 60)  # 11:30-12:30 local
        r = await world.book(late, [world.a])
        assert r.status_code == 409
        assert [(c["kind"], c["anchor_id"]) for c in r.json()["conflicts"]] == [("availability", world.a.id)]
        inside = await world.slot(at(2), 60, world.studios[1])  # 10:00-11:00 local
        assert (await world.book(inside, [world.a])).status_code == 201
        tuesday = await world.slot(at(26), 60)  # Tuesday 10:00 local: no window that day
        assert (await world.book(tuesday, [world.a])).status_code == 409

    async def test_weekly_limit_is_409_weekly_limit(self, world: World) -> None:
        r = await world.client.put(
            f"/api/anchors/{world.a.id}/limits", json={"max_broadcasts_per_week": 2}, headers=world.organizer.headers
        )
        assert r.status_code == 200, r.text
        assert r.json()["max_broadcasts_per_week"] == 2
        await world.booked(at(2), 30, [world.a])
        await world.booked(at(26), 30, [world.a])
        slot_id = await world.slot(at(50), 30)
        r = await world.book(slot_id, [world.a])
        assert r.status_code == 409
        assert [c["kind"] for c in r.json()["conflicts"]] == ["weekly_limit"]
        next_week = await world.slot(at(24 * 7 + 2), 30)
        assert (await world.book(next_week, [world.a])).status_code == 201

    async def test_daily_air_time_limit_is_409_daily_limit(self, world: World, settings: Settings) -> None:
        settings.anchor_max_air_minutes_per_day = 120
        await world.booked(at(2), 90, [world.a])
        slot_id = await world.slot(at(5), 45)
        r = await world.book(slot_id, [world.a])
        assert r.status_code == 409
        assert [c["kind"] for c in r.json()["conflicts"]] == ["daily_limit"]
        fits = await world.slot(at(6), 30)
        assert (await world.book(fits, [world.a])).status_code == 201

    async def test_product_of_another_county_is_422(self, world: World) -> None:
        other = await world.make.county()
        product = await world.make.product(other.id)  # type: ignore[arg-type]
        slot_id = await world.slot(at(2))
        r = await world.book(slot_id, [world.a], [product.id])  # type: ignore[list-item]
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "product_ids"

    async def test_product_of_a_co_hosts_county_is_fine(self, world: World) -> None:
        other = await world.make.county()
        guest = await world.cadre(other.id)
        await world.make.user(Role.organizer, county_ids=[world.county_id, other.id])  # type: ignore[list-item]
        product = await world.make.product(other.id)  # type: ignore[arg-type]
        slot_id = await world.slot(at(2))
        r = await world.book(slot_id, [world.a, guest], [product.id], by=world.admin)  # type: ignore[list-item]
        assert r.status_code == 201, r.text

    async def test_a_booking_ahead_does_not_depend_on_todays_free_stock(self, world: World) -> None:
        # Unpaid orders may hold every unit today; by the broadcast they may be back on the shelf.
        product = await world.make.product(world.county_id, stock=0)
        slot_id = await world.slot(at(24 * 3))
        r = await world.book(slot_id, [world.a], [product.id])  # type: ignore[list-item]
        assert r.status_code == 201, r.text
        assert r.json()["product_ids"] == [product.id]

    async def test_unknown_slot_or_anchor_is_422(self, world: World) -> None:
        r = await world.client.post("/api/bookings", json={"slot_id": 999, "anchor_ids": [world.a.id]}, headers=world.organizer.headers)
        assert r.status_code == 422
        slot_id = await world.slot(at(2))
        r = await world.client.post("/api/bookings", json={"slot_id": slot_id, "anchor_ids": [999]}, headers=world.organizer.headers)
        assert r.status_code == 422

    async def test_repeated_anchor_is_422(self, world: World) -> None:
        slot_id = await world.slot(at(2))
        r = await world.client.post(
            "/api/bookings", json={"slot_id": slot_id, "anchor_ids": [world.a.id, world.a.id]}, headers=world.organizer.headers
        )
        assert r.status_code == 422


class TestWhoMayBook:
    async def test_cadre_books_themselves_with_a_co_host(self, world: World) -> None:
        slot_id = await world.slot(at(2))
        r = await world.book(slot_id, [world.a, world.b], by=world.a.user)
        assert r.status_code == 201, r.text
        assert r.json()["created_by"] == world.a.user.id

    async def test_cadre_cannot_book_someone_else(self, world: World) -> None:
        slot_id = await world.slot(at(2))
        r = await world.book(slot_id, [world.b], by=world.a.user)
        assert r.status_code == 403

    async def test_organizer_of_another_county_cannot_book(self, world: World) -> None:
        other = await world.make.county()
        stranger = await world.make.user(Role.organizer, county_ids=[other.id])  # type: ignore[list-item]
        slot_id = await world.slot(at(2))
        r = await world.book(slot_id, [world.a], by=stranger)
        assert r.status_code == 403

    async def test_viewer_cannot_book(self, world: World) -> None:
        viewer = await world.make.user(Role.viewer)
        slot_id = await world.slot(at(2))
        assert (await world.book(slot_id, [world.a], by=viewer)).status_code == 403

    async def test_anonymous_is_401(self, world: World) -> None:
        r = await world.client.post("/api/bookings", json={"slot_id": 1, "anchor_ids": [1]})
        assert r.status_code == 401


class TestTransitions:
    async def test_confirm_twice_changes_nothing_the_second_time(self, world: World) -> None:
        booking = await world.booked(at(2), confirm=False)
        url = f"/api/bookings/{booking['id']}/confirm"
        first = await world.client.post(url, headers=world.organizer.headers)
        second = await world.client.post(url, headers=world.organizer.headers)
        assert first.status_code == second.status_code == 200
        assert first.json()["status"] == second.json()["status"] == "confirmed"
        assert first.json()["confirmed_at"] == second.json()["confirmed_at"]

    async def test_cadre_cannot_confirm(self, world: World) -> None:
        booking = await world.booked(at(2), confirm=False)
        r = await world.client.post(f"/api/bookings/{booking['id']}/confirm", headers=world.a.user.headers)
        assert r.status_code == 403

    async def test_confirming_a_cancelled_booking_is_409(self, world: World) -> None:
        booking = await world.booked(at(2), confirm=False)
        assert (await world.client.post(f"/api/bookings/{booking['id']}/cancel", headers=world.a.user.headers)).status_code == 200
        r = await world.client.post(f"/api/bookings/{booking['id']}/confirm", headers=world.organizer.headers)
        assert r.status_code == 409
        assert r.json()["type"].endswith("invalid-state")

    async def test_cancel_cancels_the_stream_and_twice_is_harmless(self, world: World, db: Database) -> None:
        booking = await world.booked(at(2))
        url = f"/api/bookings/{booking['id']}/cancel"
        assert (await world.client.post(url, headers=world.organizer.headers)).json()["status"] == "cancelled"
        again = await world.client.post(url, headers=world.organizer.headers)
        assert again.status_code == 200
        assert again.json()["status"] == "cancelled"
        async with db.transaction() as session:
            stream = await session.get(Stream, booking["stream_id"])
        assert stream is not None and stream.status == "cancelled"

    async def test_cancelling_a_live_booking_is_409(self, world: World, db: Database) -> None:
        booking = await world.booked(at(2))
        async with db.transaction() as session:
            row = await session.get(Booking, booking["id"])
            assert row is not None
            row.status = "live"
            session.add(row)
        r = await world.client.post(f"/api/bookings/{booking['id']}/cancel", headers=world.organizer.headers)
        assert r.status_code == 409

    async def test_other_cadre_cannot_cancel(self, world: World) -> None:
        booking = await world.booked(at(2), anchors=[world.a])
        r = await world.client.post(f"/api/bookings/{booking['id']}/cancel", headers=world.b.user.headers)
        assert r.status_code == 403

    async def test_unknown_booking_is_404(self, world: World) -> None:
        r = await world.client.post("/api/bookings/999/confirm", headers=world.organizer.headers)
        assert r.status_code == 404


class TestListBookings:
    async def test_filters_by_anchor_time_and_status(self, world: World) -> None:
        one = await world.booked(at(2), anchors=[world.a])
        two = await world.booked(at(2), anchors=[world.b], studio_id=world.studios[1], confirm=False)
        three = await world.booked(at(30), anchors=[world.a, world.b])
        get = world.client.get
        h = world.organizer.headers
        assert [b["id"] for b in (await get("/api/bookings", params={"anchor_id": world.a.id}, headers=h)).json()["items"]] == [
            one["id"],
            three["id"],
        ]
        assert [b["id"] for b in (await get("/api/bookings", params={"from": at(10).isoformat()}, headers=h)).json()["items"]] == [
            three["id"]
        ]
        assert [b["id"] for b in (await get("/api/bookings", params={"to": at(10).isoformat()}, headers=h)).json()["items"]] == [
            one["id"],
            two["id"],
        ]
        assert [b["id"] for b in (await get("/api/bookings", params={"status": "requested"}, headers=h)).json()["items"]] == [two["id"]]

    async def test_by_the_counties_of_its_anchors_and_who_organizes_it(self, world: World, db: Database) -> None:
        other_county = await world.make.county()
        outsider = await world.cadre(other_county.id)
        mine = await world.booked(at(2), anchors=[world.a])
        shared = await world.booked(at(5), anchors=[world.b, outsider], confirm=False, by=world.admin)
        # Only the outsider's: in a shared studio, since the first county's studios air its own broadcasts.
        studio = await world.client.post("/api/studios", json={"name": "Shared", "platform": "douyin"}, headers=world.admin.headers)
        theirs = await world.booked(at(8), anchors=[outsider], confirm=False, by=world.admin, studio_id=studio.json()["id"])
        page = PageParams(limit=10, after_id=None)
        their_organizer = Principal(id=0, username="o", role=Role.organizer, display_name="O", county_ids=frozenset({other_county.id}))  # type: ignore[arg-type]
        async with db.sessionmaker() as session:
            rows, _ = await bookings.list_bookings(
                session, page, anchor_id=None, starts_from=None, starts_to=None, status=None, county_ids={world.county_id}
            )
            assert [b.id for b in rows] == [mine["id"], shared["id"]]
            rows, _ = await bookings.list_bookings(
                session, page, anchor_id=None, starts_from=None, starts_to=None, status=None, county_ids=set()
            )
            assert rows == []
            assert (await bookings.require_organizer(session, their_organizer, theirs["id"])).id == theirs["id"]
            assert (await bookings.require_organizer(session, their_organizer, shared["id"])).id == shared["id"]
            with pytest.raises(Forbidden):
                await bookings.require_organizer(session, their_organizer, mine["id"])


class TestConcurrentBookings:
    async def test_two_simultaneous_bookings_of_one_anchor_exactly_one_wins(self, world: World, db: Database) -> None:
        for round_ in range(4):
            start = at(2 + round_ * 3)
            slots = [await world.slot(start, 60, world.studios[0]), await world.slot(start, 60, world.studios[1])]
            results = await asyncio.gather(*(world.book(s, [world.a]) for s in slots))
            codes = sorted(r.status_code for r in results)
            assert codes == [201, 409], [r.text for r in results]
            loser = next(r for r in results if r.status_code == 409)
            winner = next(r for r in results if r.status_code == 201)
            assert loser.json()["conflicts"][0]["booking_id"] == winner.json()["id"]
        async with db.transaction() as session:
            count = len((await session.scalars(select(col(Booking.id)))).all())
            streams = len((await session.scalars(select(col(Stream.id)))).all())
        assert count == streams == 4

    async def test_two_simultaneous_bookings_of_one_slot_exactly_one_wins(self, world: World) -> None:
        for round_ in range(3):
            slot_id = await world.slot(at(2 + round_ * 3), 60)
            results = await asyncio.gather(world.book(slot_id, [world.a]), world.book(slot_id, [world.b]))
            assert sorted(r.status_code for r in results) == [201, 409]
            assert next(r for r in results if r.status_code == 409).json()["conflicts"][0]["kind"] == "studio"

    async def test_parallel_co_host_bookings_do_not_deadlock(self, world: World) -> None:
        # a+b and b+a at the same time in different studios: locks are taken in id order.
        start = at(2)
        s1, s2 = await world.slot(start, 60, world.studios[0]), await world.slot(start, 60, world.studios[1])
        body1 = {"slot_id": s1, "anchor_ids": [world.a.id, world.b.id]}
        body2 = {"slot_id": s2, "anchor_ids": [world.b.id, world.a.id]}
        results = await asyncio.wait_for(
            asyncio.gather(
                world.client.post("/api/bookings", json=body1, headers=world.organizer.headers),
                world.client.post("/api/bookings", json=body2, headers=world.organizer.headers),
            ),
            timeout=30,
        )
        assert sorted(r.status_code for r in results) == [201, 409]


class TestOpenApi:
    async def test_scheduling_paths_are_documented(self, client: httpx.AsyncClient) -> None:
        paths = (await client.get("/openapi.json")).json()["paths"]
        for path in (
            "/api/studios",
            "/api/slots",
            "/api/bookings",
            "/api/bookings/{booking_id}/confirm",
            "/api/anchors/{anchor_id}/schedule.ics",
        ):
            assert path in paths
