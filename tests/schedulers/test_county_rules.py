"""County rules: anchors and products of a county are booked only with an organizer of that county agreeing."""

from __future__ import annotations

from typing import Any

import httpx

from livecommerce.kit.clock import FrozenClock
from livecommerce.kit.principal import Role
from tests.factories import TestUser
from tests.schedulers.conftest import Cadre, World, at


async def confirm(world: World, booking_id: int, by: TestUser) -> httpx.Response:
    return await world.client.post(f"/api/bookings/{booking_id}/confirm", headers=by.headers)


class Elsewhere:
    """County 3 with its vice mayor (a cadre), its product and its organizer."""

    def __init__(self, county_id: int, vice_mayor: Cadre, product_id: int, organizer: TestUser) -> None:
        self.county_id, self.vice_mayor, self.product_id, self.organizer = county_id, vice_mayor, product_id, organizer


async def elsewhere(world: World) -> Elsewhere:
    county = await world.make.county()
    assert county.id is not None
    vice_mayor = await world.cadre(county.id)
    product = await world.make.product(county.id)
    assert product.id is not None
    organizer = await world.make.user(Role.organizer, county_ids=[county.id])
    return Elsewhere(county.id, vice_mayor, product.id, organizer)


async def attack(world: World, other: Elsewhere) -> dict[str, Any]:
    """A county-1 cadre books county 3's vice mayor and products into his broadcast."""
    slot_id = await world.slot(at(2))
    r = await world.book(slot_id, [world.a, other.vice_mayor], [other.product_id], by=world.a.user)
    assert r.status_code == 201, r.text
    return dict(r.json())


class TestAcrossCounties:
    async def test_county_one_organizer_alone_does_not_confirm_county_three(self, world: World, clock: FrozenClock) -> None:
        other = await elsewhere(world)
        booking = await attack(world, other)
        assert booking["pending_county_ids"] == sorted([world.county_id, other.county_id])
        r = await confirm(world, booking["id"], world.organizer)
        assert r.status_code == 200
        assert r.json()["status"] == "requested"
        assert r.json()["pending_county_ids"] == [other.county_id]
        clock.set(at(2))
        started = await world.client.post(f"/api/streams/{booking['stream_id']}/start", headers=world.a.user.headers)
        assert started.status_code == 409

    async def test_both_counties_agreeing_confirms(self, world: World) -> None:
        other = await elsewhere(world)
        booking = await attack(world, other)
        assert (await confirm(world, booking["id"], world.organizer)).json()["status"] == "requested"
        r = await confirm(world, booking["id"], other.organizer)
        assert r.status_code == 200
        assert r.json()["status"] == "confirmed"
        assert r.json()["pending_county_ids"] == []
        assert all(c["accepted"] for c in r.json()["cohosts"])

    async def test_organizer_of_neither_county_is_403(self, world: World) -> None:
        other = await elsewhere(world)
        booking = await attack(world, other)
        third = await world.make.county()
        stranger = await world.make.user(Role.organizer, county_ids=[third.id])  # type: ignore[list-item]
        assert (await confirm(world, booking["id"], stranger)).status_code == 403

    async def test_admin_agrees_for_every_county(self, world: World) -> None:
        other = await elsewhere(world)
        booking = await attack(world, other)
        r = await confirm(world, booking["id"], world.admin)
        assert r.json()["status"] == "confirmed"

    async def test_organizer_cannot_book_only_another_countys_anchors(self, world: World) -> None:
        other = await elsewhere(world)
        slot_id = await world.slot(at(2))
        r = await world.book(slot_id, [other.vice_mayor], [other.product_id], by=world.organizer)
        assert r.status_code == 403

    async def test_cadre_cannot_book_another_countys_anchor_without_hosting(self, world: World) -> None:
        other = await elsewhere(world)
        slot_id = await world.slot(at(2))
        r = await world.book(slot_id, [other.vice_mayor], by=world.a.user)
        assert r.status_code == 403

    async def test_product_of_a_county_without_its_anchor_is_422(self, world: World) -> None:
        other = await elsewhere(world)
        slot_id = await world.slot(at(2))
        r = await world.book(slot_id, [world.a], [other.product_id], by=world.a.user)
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "product_ids"

    async def test_within_one_county_its_organizer_confirms_alone(self, world: World) -> None:
        booking = await world.booked(at(2), confirm=False)
        r = await confirm(world, booking["id"], world.organizer)
        assert r.json()["status"] == "confirmed"
