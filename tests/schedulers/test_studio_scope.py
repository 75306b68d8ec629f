"""Studios belong to a county or are shared: who sees them and their slots, who adds and changes them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlmodel import col, select

from livecommerce.audit.models import AuditRecord
from livecommerce.kit.clock import utcnow
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from tests import factories
from tests.factories import Factory
from tests.schedulers.conftest import World, at


async def _studio(client: httpx.AsyncClient, who: factories.TestUser, **body: Any) -> httpx.Response:
    return await client.post("/api/studios", json={"name": "Room", "platform": "douyin", **body}, headers=who.headers)


async def _slot(client: httpx.AsyncClient, who: factories.TestUser, studio_id: int, days: int = 3) -> httpx.Response:
    start = utcnow().replace(microsecond=0) + timedelta(days=days)
    body = {"studio_id": studio_id, "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()}
    return await client.post("/api/slots", json=body, headers=who.headers)


async def _ids(client: httpx.AsyncClient, who: factories.TestUser, url: str) -> set[int]:
    r = await client.get(url, headers=who.headers)
    assert r.status_code == 200, r.text
    return {item["id"] for item in r.json()["items"]}


async def _other_county(make: Factory) -> tuple[int, factories.TestUser]:
    county = await make.county()
    assert county.id is not None
    return county.id, await make.user(Role.organizer, county_ids=[county.id])


class TestCreateStudio:
    async def test_an_organizer_leaving_out_the_county_gets_its_own(self, world: World) -> None:
        r = await _studio(world.client, world.organizer)
        assert r.status_code == 201, r.text
        assert r.json()["county_id"] == world.county_id

    async def test_an_admin_leaving_out_the_county_adds_a_shared_studio(self, world: World) -> None:
        r = await _studio(world.client, world.admin)
        assert r.status_code == 201, r.text
        assert r.json()["county_id"] is None

    async def test_an_organizer_may_not_add_a_shared_studio(self, world: World) -> None:
        r = await _studio(world.client, world.organizer, county_id=None)
        assert r.status_code == 403, r.text
        assert r.headers["content-type"].startswith("application/problem+json")

    async def test_an_organizer_may_not_add_a_studio_in_another_county(self, world: World, make: Factory) -> None:
        other, _ = await _other_county(make)
        assert (await _studio(world.client, world.organizer, county_id=other)).status_code == 403

    async def test_an_organizer_of_two_counties_must_name_one(self, world: World, make: Factory) -> None:
        other = await make.county()
        both = await make.user(Role.organizer, county_ids=[world.county_id, other.id])  # type: ignore[list-item]
        r = await _studio(world.client, both)
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["county_id"]
        assert (await _studio(world.client, both, county_id=other.id)).status_code == 201

    async def test_an_unknown_county_is_422(self, world: World) -> None:
        r = await _studio(world.client, world.admin, county_id=999_999)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "county_id"


class TestWhoSeesWhat:
    async def test_another_countys_organizer_sees_neither_the_studio_nor_its_slots(self, world: World, make: Factory) -> None:
        mine = (await _studio(world.client, world.organizer)).json()["id"]
        slot = (await _slot(world.client, world.organizer, mine)).json()["id"]
        shared = (await _studio(world.client, world.admin)).json()["id"]
        shared_slot = (await _slot(world.client, world.admin, shared, days=4)).json()["id"]
        _, stranger = await _other_county(make)

        assert mine not in await _ids(world.client, stranger, "/api/studios?limit=200")
        assert shared in await _ids(world.client, stranger, "/api/studios?limit=200")
        seen_slots = await _ids(world.client, stranger, "/api/slots?limit=200")
        assert slot not in seen_slots
        assert shared_slot in seen_slots
        assert not await _ids(world.client, stranger, f"/api/slots?studio_id={mine}")

    async def test_the_countys_organizer_and_admins_see_it(self, world: World) -> None:
        mine = (await _studio(world.client, world.organizer)).json()["id"]
        slot = (await _slot(world.client, world.organizer, mine)).json()["id"]
        for who in (world.organizer, world.admin):
            assert mine in await _ids(world.client, who, "/api/studios?limit=200")
            assert slot in await _ids(world.client, who, "/api/slots?limit=200")

    async def test_a_viewer_sees_only_shared_studios(self, world: World, make: Factory) -> None:
        mine = (await _studio(world.client, world.organizer)).json()["id"]
        shared = (await _studio(world.client, world.admin)).json()["id"]
        viewer = await make.user(Role.viewer)
        seen = await _ids(world.client, viewer, "/api/studios?limit=200")
        assert shared in seen
        assert mine not in seen


class TestSlotsInAStudio:
    async def test_a_slot_in_another_countys_studio_is_403(self, world: World, make: Factory) -> None:
        mine = (await _studio(world.client, world.organizer)).json()["id"]
        _, stranger = await _other_county(make)
        r = await _slot(world.client, stranger, mine)
        assert r.status_code == 403, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "Room" in r.json()["detail"]

    async def test_any_organizer_may_put_a_slot_in_a_shared_studio(self, world: World, make: Factory) -> None:
        shared = (await _studio(world.client, world.admin)).json()["id"]
        _, stranger = await _other_county(make)
        assert (await _slot(world.client, stranger, shared)).status_code == 201


class TestUpdateStudio:
    async def test_the_countys_organizer_renames_it_and_the_change_is_audited(self, world: World, db: Database) -> None:
        mine = (await _studio(world.client, world.organizer)).json()["id"]
        r = await world.client.patch(
            f"/api/studios/{mine}", json={"name": "Tea hall", "platform": "kuaishou"}, headers=world.organizer.headers
        )
        assert r.status_code == 200, r.text
        assert (r.json()["name"], r.json()["platform"], r.json()["county_id"]) == ("Tea hall", "kuaishou", world.county_id)
        async with db.transaction() as session:
            rows = (await session.scalars(select(AuditRecord).where(col(AuditRecord.target) == f"studio:{mine}"))).all()
        updated = [row for row in rows if row.action == "studio.updated"]
        assert len(updated) == 1
        assert updated[0].actor_id == world.organizer.id
        assert updated[0].details["name"] == {"from": "Room", "to": "Tea hall"}

    async def test_an_unchanged_patch_records_nothing(self, world: World, db: Database) -> None:
        mine = (await _studio(world.client, world.organizer)).json()["id"]
        r = await world.client.patch(f"/api/studios/{mine}", json={"name": "Room"}, headers=world.organizer.headers)
        assert r.status_code == 200, r.text
        async with db.transaction() as session:
            rows = (await session.scalars(select(AuditRecord).where(col(AuditRecord.action) == "studio.updated"))).all()
        assert [row for row in rows if row.target == f"studio:{mine}"] == []

    async def test_another_countys_organizer_is_403(self, world: World, make: Factory) -> None:
        mine = (await _studio(world.client, world.organizer)).json()["id"]
        _, stranger = await _other_county(make)
        r = await world.client.patch(f"/api/studios/{mine}", json={"name": "Mine now"}, headers=stranger.headers)
        assert r.status_code == 403, r.text

    async def test_only_admins_change_a_shared_studio(self, world: World) -> None:
        shared = (await _studio(world.client, world.admin)).json()["id"]
        r = await world.client.patch(f"/api/studios/{shared}", json={"name": "Ours"}, headers=world.organizer.headers)
        assert r.status_code == 403, r.text
        r = await world.client.patch(f"/api/studios/{shared}", json={"name": "Ours"}, headers=world.admin.headers)
        assert r.status_code == 200, r.text

    async def test_a_cadre_is_403(self, world: World) -> None:
        mine = (await _studio(world.client, world.organizer)).json()["id"]
        r = await world.client.patch(f"/api/studios/{mine}", json={"name": "x"}, headers=world.a.user.headers)
        assert r.status_code == 403, r.text

    async def test_an_unknown_studio_is_404(self, world: World) -> None:
        r = await world.client.patch("/api/studios/999999", json={"name": "x"}, headers=world.admin.headers)
        assert r.status_code == 404, r.text

    async def test_a_name_cannot_be_removed_or_emptied(self, world: World) -> None:
        mine = (await _studio(world.client, world.organizer)).json()["id"]
        for body in ({"name": None}, {"name": ""}, {"county_id": 1}):
            r = await world.client.patch(f"/api/studios/{mine}", json=body, headers=world.organizer.headers)
            assert r.status_code == 422, (body, r.text)


class TestBookingAnotherCountysStudio:
    """A county's studio airs its own county's broadcasts; a shared one airs anyone's."""

    async def test_anchors_of_another_county_are_refused_with_a_studio_county_clash(self, world: World, make: Factory) -> None:
        other, _ = await _other_county(make)
        guest = await world.cadre(other)
        mine = await world.studio()  # the organizer's county's studio
        slot = await world.slot(at(2), studio_id=mine)
        r = await world.book(slot, [guest], by=world.admin)
        assert r.status_code == 409, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert [(c["kind"], c["studio_id"]) for c in r.json()["conflicts"]] == [("studio_county", mine)]
        assert (await world.client.get("/api/bookings", headers=world.admin.headers)).json()["items"] == []

    async def test_own_county_a_joint_broadcast_and_a_shared_studio_are_fine(self, world: World, make: Factory) -> None:
        other, _ = await _other_county(make)
        guest = await world.cadre(other)
        mine = await world.studio()
        shared = (await _studio(world.client, world.admin)).json()["id"]
        start = at(2)
        assert (await world.book(await world.slot(start, studio_id=mine), [world.a], by=world.admin)).status_code == 201
        joint = await world.book(await world.slot(start + timedelta(hours=3), studio_id=mine), [world.b, guest], by=world.admin)
        assert joint.status_code == 201, joint.text
        in_shared = await world.book(await world.slot(start + timedelta(hours=6), studio_id=shared), [guest], by=world.admin)
        assert in_shared.status_code == 201, in_shared.text

    async def test_moving_a_booking_into_another_countys_studio_is_refused_and_changes_nothing(self, world: World, make: Factory) -> None:
        other, _ = await _other_county(make)
        guest = await world.cadre(other)
        shared = (await _studio(world.client, world.admin)).json()["id"]
        mine = await world.studio()
        start = at(2)
        booking = (await world.book(await world.slot(start, studio_id=shared), [guest], by=world.admin)).json()
        target = await world.slot(start + timedelta(hours=3), studio_id=mine)
        r = await world.client.post(f"/api/bookings/{booking['id']}/reschedule", json={"slot_id": target}, headers=world.admin.headers)
        assert r.status_code == 409, r.text
        assert [c["kind"] for c in r.json()["conflicts"]] == ["studio_county"]
        again = await world.client.get(f"/api/bookings/{booking['id']}", headers=world.admin.headers)
        assert again.json()["slot_id"] == booking["slot_id"]

    async def test_the_planner_puts_no_anchor_in_another_countys_studio(self, world: World, make: Factory) -> None:
        other, _ = await _other_county(make)
        await world.cadre(other)
        foreign = (await _studio(world.client, world.admin, county_id=other)).json()["id"]
        campaign = await world.client.post(
            "/api/campaigns",
            json={"name": "消费帮扶月", "starts_at": at(0).isoformat(), "ends_at": at(24 * 30).isoformat()},
            headers=world.admin.headers,
        )
        campaign_id = campaign.json()["id"]
        start = at(2)
        body = {"studio_id": foreign, "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()}
        slot = await world.client.post("/api/slots", json={**body, "campaign_id": campaign_id}, headers=world.admin.headers)
        assert slot.status_code == 201, slot.text
        # The organizer of the first county plans with its own anchors only: none may use the other county's studio.
        r = await world.client.post(f"/api/campaigns/{campaign_id}/plans", json={"time_limit_seconds": 5}, headers=world.organizer.headers)
        assert r.status_code == 201, r.text
        assert r.json()["assignments"] == []
        assert r.json()["unfilled"] == [{"slot_id": slot.json()["id"], "reason": "studio_county"}]
