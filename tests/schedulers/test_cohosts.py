"""Co-hosts are invited, not added: a booking is confirmed once each has accepted (or an organizer confirmed for them)."""

from __future__ import annotations

import httpx

from tests.factories import TestUser
from tests.schedulers.conftest import World, at


async def accept(world: World, booking_id: int, by: TestUser) -> httpx.Response:
    return await world.client.post(f"/api/bookings/{booking_id}/accept", headers=by.headers)


class TestCoHosts:
    async def test_cadre_books_several_anchors_and_the_co_host_is_invited(self, world: World) -> None:
        slot_id = await world.slot(at(2))
        r = await world.book(slot_id, [world.a, world.b], by=world.a.user)
        assert r.status_code == 201, r.text
        assert r.json()["anchor_ids"] == [world.a.id, world.b.id]
        assert r.json()["cohosts"] == [{"anchor_id": world.b.id, "accepted": False}]

    async def test_host_first_order_is_kept(self, world: World) -> None:
        slot_id = await world.slot(at(2))
        r = await world.book(slot_id, [world.b, world.a], by=world.b.user)
        assert r.json()["anchor_ids"] == [world.b.id, world.a.id]

    async def test_co_host_accepting_then_organizer_confirms(self, world: World) -> None:
        slot_id = await world.slot(at(2))
        booking = (await world.book(slot_id, [world.a, world.b], by=world.a.user)).json()
        r = await accept(world, booking["id"], world.b.user)
        assert r.status_code == 200, r.text
        assert r.json()["cohosts"] == [{"anchor_id": world.b.id, "accepted": True}]
        assert r.json()["status"] == "requested"  # the county has not agreed yet
        confirmed = await world.client.post(f"/api/bookings/{booking['id']}/confirm", headers=world.organizer.headers)
        assert confirmed.json()["status"] == "confirmed"

    async def test_organizer_agreeing_first_waits_for_the_other_countys_co_host(self, world: World) -> None:
        other = await world.make.county()
        assert other.id is not None
        guest = await world.cadre(other.id)
        slot_id = await world.slot(at(2))
        booking = (await world.book(slot_id, [world.a, guest], by=world.a.user)).json()
        r = await world.client.post(f"/api/bookings/{booking['id']}/confirm", headers=world.organizer.headers)
        assert r.json()["status"] == "requested"
        assert r.json()["cohosts"] == [{"anchor_id": guest.id, "accepted": False}]
        r = await accept(world, booking["id"], guest.user)
        assert r.json()["status"] == "requested"  # the guest's county still has to agree to lend its anchor
        assert r.json()["pending_county_ids"] == [other.id]

    async def test_only_the_co_hosts_own_cadre_accepts(self, world: World) -> None:
        slot_id = await world.slot(at(2))
        booking = (await world.book(slot_id, [world.a, world.b], by=world.a.user)).json()
        outsider = await world.cadre()
        assert (await accept(world, booking["id"], outsider.user)).status_code == 403
        assert (await accept(world, booking["id"], world.a.user)).status_code == 403  # the host is not invited
        assert (await accept(world, booking["id"], world.organizer)).status_code == 403

    async def test_accepting_twice_changes_nothing(self, world: World) -> None:
        slot_id = await world.slot(at(2))
        booking = (await world.book(slot_id, [world.a, world.b], by=world.a.user)).json()
        first = await accept(world, booking["id"], world.b.user)
        second = await accept(world, booking["id"], world.b.user)
        assert first.json() == second.json()
