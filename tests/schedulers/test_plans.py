"""Campaign plans through the API: propose, apply all or none, re-plan, and who may."""

from __future__ import annotations

from typing import Any

import httpx
from sqlmodel import col, select

from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from schedulers.models import ACTIVE_BOOKING_STATUSES, Booking
from tests.schedulers.conftest import World, at


async def campaign(world: World, slots: list[tuple[float, int]]) -> tuple[int, list[int]]:
    """A campaign with slots at (hours after T0, studio index)."""
    r = await world.client.post(
        "/api/campaigns",
        json={"name": "消费帮扶月", "starts_at": at(0).isoformat(), "ends_at": at(24 * 30).isoformat()},
        headers=world.organizer.headers,
    )
    campaign_id = int(r.json()["id"])
    ids = []
    for hours, studio in slots:
        body = {
            "studio_id": world.studios[studio],
            "starts_at": at(hours).isoformat(),
            "ends_at": at(hours + 1).isoformat(),
            "campaign_id": campaign_id,
        }
        created = await world.client.post("/api/slots", json=body, headers=world.organizer.headers)
        assert created.status_code == 201, created.text
        ids.append(int(created.json()["id"]))
    return campaign_id, ids


async def plan(world: World, campaign_id: int, **body: Any) -> httpx.Response:
    return await world.client.post(
        f"/api/campaigns/{campaign_id}/plans", json={"time_limit_seconds": 5, **body}, headers=world.organizer.headers
    )


async def active_bookings(db: Database) -> list[Booking]:
    async with db.sessionmaker() as session:
        return list((await session.scalars(select(Booking).where(col(Booking.status).in_(ACTIVE_BOOKING_STATUSES)))).all())


class TestCreatePlan:
    async def test_fills_every_open_slot_with_a_free_anchor(self, world: World) -> None:
        campaign_id, slots = await campaign(world, [(2, 0), (2, 1), (6, 0)])
        r = await plan(world, campaign_id)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["status"] == "optimal"
        assert body["objective"] == body["bound"]
        assert sorted(a["slot_id"] for a in body["assignments"]) == slots
        at_two = [a["anchor_ids"][0] for a in body["assignments"] if a["slot_id"] in slots[:2]]
        assert len(set(at_two)) == 2  # one anchor cannot host two studios at once
        assert body["unfilled"] == []

    async def test_a_slot_too_soon_is_unfilled_with_notice(self, world: World) -> None:
        campaign_id, slots = await campaign(world, [(0.5, 0), (5, 0)])
        body = (await plan(world, campaign_id)).json()
        assert body["unfilled"] == [{"slot_id": slots[0], "reason": "notice"}]

    async def test_booked_slots_and_busy_anchors_are_kept(self, world: World) -> None:
        campaign_id, slots = await campaign(world, [(2, 0), (2, 1)])
        booked = await world.book(slots[0], [world.a])
        assert booked.status_code == 201
        body = (await plan(world, campaign_id)).json()
        assert body["assignments"] == [{"slot_id": slots[1], "anchor_ids": [world.b.id], "product_ids": []}]

    async def test_organizer_plans_only_with_its_own_counties_anchors(self, world: World) -> None:
        other = await world.make.county()
        assert other.id is not None
        await world.cadre(other.id)
        campaign_id, _ = await campaign(world, [(2, 0), (2, 1), (6, 1)])
        body = (await plan(world, campaign_id)).json()
        used = {a["anchor_ids"][0] for a in body["assignments"]}
        assert used <= {world.a.id, world.b.id}

    async def test_products_of_the_anchors_county_are_presented(self, world: World) -> None:
        product = await world.make.product(world.county_id)
        campaign_id, _ = await campaign(world, [(2, 0)])
        body = (await plan(world, campaign_id)).json()
        assert body["assignments"][0]["product_ids"] == [product.id]

    async def test_cadre_cannot_plan(self, world: World) -> None:
        campaign_id, _ = await campaign(world, [(2, 0)])
        r = await world.client.post(f"/api/campaigns/{campaign_id}/plans", json={}, headers=world.a.user.headers)
        assert r.status_code == 403

    async def test_unknown_campaign_is_404(self, world: World) -> None:
        assert (await plan(world, 424242)).status_code == 404


class TestApplyPlan:
    async def test_books_and_confirms_every_assignment_without_conflicts(self, world: World, db: Database) -> None:
        campaign_id, slots = await campaign(world, [(2, 0), (2, 1), (6, 0)])
        proposal = (await plan(world, campaign_id)).json()
        r = await world.client.post(f"/api/campaigns/{campaign_id}/plans/{proposal['id']}/apply", headers=world.organizer.headers)
        assert r.status_code == 200, r.text
        assert r.json()["applied_at"] is not None
        made = await active_bookings(db)
        assert sorted(b.slot_id for b in made) == slots
        assert {b.status for b in made} == {"confirmed"}

    async def test_a_changed_calendar_books_nothing_and_is_409(self, world: World, db: Database) -> None:
        campaign_id, slots = await campaign(world, [(2, 0), (6, 0)])
        proposal = (await plan(world, campaign_id)).json()
        taken = next(a for a in proposal["assignments"] if a["slot_id"] == slots[1])
        # Meanwhile someone books the second slot by hand.
        anchor = world.a if taken["anchor_ids"][0] != world.a.id else world.b
        assert (await world.book(slots[1], [anchor])).status_code == 201
        before = len(await active_bookings(db))
        r = await world.client.post(f"/api/campaigns/{campaign_id}/plans/{proposal['id']}/apply", headers=world.organizer.headers)
        assert r.status_code == 409
        assert any(c.get("planned_slot_id") == slots[1] for c in r.json()["conflicts"])
        assert len(await active_bookings(db)) == before  # the first assignment was not booked either

    async def test_applying_twice_is_409(self, world: World) -> None:
        campaign_id, _ = await campaign(world, [(2, 0)])
        proposal = (await plan(world, campaign_id)).json()
        url = f"/api/campaigns/{campaign_id}/plans/{proposal['id']}/apply"
        assert (await world.client.post(url, headers=world.organizer.headers)).status_code == 200
        assert (await world.client.post(url, headers=world.organizer.headers)).status_code == 409

    async def test_viewer_cannot_apply(self, world: World) -> None:
        campaign_id, _ = await campaign(world, [(2, 0)])
        proposal = (await plan(world, campaign_id)).json()
        viewer = await world.make.user(Role.viewer)
        r = await world.client.post(f"/api/campaigns/{campaign_id}/plans/{proposal['id']}/apply", headers=viewer.headers)
        assert r.status_code == 403


class TestReplan:
    async def test_after_a_cancellation_only_the_freed_slot_is_planned(self, world: World, db: Database) -> None:
        campaign_id, slots = await campaign(world, [(2, 0), (6, 0), (10, 0)])
        proposal = (await plan(world, campaign_id)).json()
        applied = await world.client.post(f"/api/campaigns/{campaign_id}/plans/{proposal['id']}/apply", headers=world.organizer.headers)
        assert applied.status_code == 200
        before = {b.slot_id: b.id for b in await active_bookings(db)}
        cancelled = before[slots[1]]
        assert (await world.client.post(f"/api/bookings/{cancelled}/cancel", headers=world.organizer.headers)).status_code == 200
        again = (await plan(world, campaign_id)).json()
        assert [a["slot_id"] for a in again["assignments"]] == [slots[1]]
        after = {b.slot_id: b.id for b in await active_bookings(db)}
        assert {s: after[s] for s in (slots[0], slots[2])} == {s: before[s] for s in (slots[0], slots[2])}


class TestPlanPage:
    async def page(self, world: World, path: str, token: str) -> httpx.Response:
        world.client.cookies.set("lc_token", token)
        try:
            return await world.client.get(path, headers={"Accept-Language": "en"})
        finally:
            world.client.cookies.clear()

    async def test_shows_the_plan_beside_the_current_bookings(self, world: World) -> None:
        campaign_id, slots = await campaign(world, [(2, 0), (6, 0)])
        assert (await world.book(slots[0], [world.a])).status_code == 201
        proposal = (await plan(world, campaign_id)).json()
        r = await self.page(world, f"/manage/plans/{proposal['id']}", world.organizer.token)
        assert r.status_code == 200, r.text
        assert f'data-slot-id="{slots[0]}"' in r.text and f'data-slot-id="{slots[1]}"' in r.text
        assert world.a.anchor.name in r.text  # booked now, in the first row
        assert "kept as booked" in r.text
        assert 'id="plan-apply"' in r.text

    async def test_viewer_is_sent_to_sign_in(self, world: World) -> None:
        campaign_id, _ = await campaign(world, [(2, 0)])
        proposal = (await plan(world, campaign_id)).json()
        viewer = await world.make.user(Role.viewer)
        r = await self.page(world, f"/manage/plans/{proposal['id']}", viewer.token)
        assert r.status_code in (302, 303, 307)
        assert "/login" in r.headers["location"]

    async def test_unknown_plan_is_404(self, world: World) -> None:
        r = await self.page(world, "/manage/plans/424242", world.organizer.token)
        assert r.status_code == 404
