"""Certified-only campaigns: bookings of uncertified products are refused, and the planner keeps to the rule."""

from __future__ import annotations

from typing import Any

import httpx

from livecommerce.broadcasts.models import Stream
from livecommerce.kit.db import Database
from tests.schedulers.conftest import World, at


async def certified_campaign(world: World, *, certified_only: bool = True) -> int:
    body = {"name": "扶贫产品专场", "starts_at": at(0).isoformat(), "ends_at": at(24 * 30).isoformat(), "certified_only": certified_only}
    r = await world.client.post("/api/campaigns", json=body, headers=world.organizer.headers)
    assert r.status_code == 201, r.text
    assert r.json()["certified_only"] is certified_only
    return int(r.json()["id"])


async def campaign_slot(world: World, campaign_id: int, hours: float, studio: int = 0) -> int:
    body = {
        "studio_id": world.studios[studio],
        "starts_at": at(hours).isoformat(),
        "ends_at": at(hours + 1).isoformat(),
        "campaign_id": campaign_id,
    }
    r = await world.client.post("/api/slots", json=body, headers=world.organizer.headers)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def certify(world: World, product_id: int, valid_until: str = "2030-12-31") -> None:
    body = {"certificate_no": f"GD-{product_id}", "valid_until": valid_until}
    r = await world.client.post(f"/api/products/{product_id}/certification", json=body, headers=world.admin.headers)
    assert r.status_code == 201, r.text


def uncertified(response: httpx.Response) -> list[dict[str, Any]]:
    return [c for c in response.json().get("conflicts", []) if c["kind"] == "uncertified"]


class TestBooking:
    async def test_an_uncertified_product_is_refused_with_a_conflict_naming_it(self, world: World) -> None:
        product = await world.make.product(world.county_id, name="连江口土鸡蛋")
        slot_id = await campaign_slot(world, await certified_campaign(world), 3)
        r = await world.book(slot_id, [world.a], [product.id])  # type: ignore[list-item]
        assert r.status_code == 409, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        [clash] = uncertified(r)
        assert clash["product_id"] == product.id
        assert "连江口土鸡蛋" in clash["detail"]

    async def test_every_uncertified_product_is_named_and_the_certified_one_is_not(self, world: World) -> None:
        good, bad1, bad2 = [await world.make.product(world.county_id) for _ in range(3)]
        await certify(world, good.id)  # type: ignore[arg-type]
        slot_id = await campaign_slot(world, await certified_campaign(world), 3)
        r = await world.book(slot_id, [world.a], [good.id, bad1.id, bad2.id])  # type: ignore[list-item]
        assert r.status_code == 409
        assert sorted(c["product_id"] for c in uncertified(r)) == sorted([bad1.id, bad2.id])

    async def test_a_certified_product_is_booked_and_its_stream_keeps_the_rule(self, world: World, db: Database) -> None:
        product = await world.make.product(world.county_id)
        await certify(world, product.id)  # type: ignore[arg-type]
        slot_id = await campaign_slot(world, await certified_campaign(world), 3)
        r = await world.book(slot_id, [world.a], [product.id])  # type: ignore[list-item]
        assert r.status_code == 201, r.text
        async with db.sessionmaker() as session:
            stream = await session.get(Stream, r.json()["stream_id"])
        assert stream is not None and stream.certified_only

    async def test_an_ordinary_campaign_takes_uncertified_products(self, world: World, db: Database) -> None:
        product = await world.make.product(world.county_id)
        slot_id = await campaign_slot(world, await certified_campaign(world, certified_only=False), 3)
        r = await world.book(slot_id, [world.a], [product.id])  # type: ignore[list-item]
        assert r.status_code == 201, r.text
        async with db.sessionmaker() as session:
            stream = await session.get(Stream, r.json()["stream_id"])
        assert stream is not None and not stream.certified_only

    async def test_a_certificate_counts_through_its_last_day_and_not_the_day_after(self, world: World) -> None:
        product = await world.make.product(world.county_id)
        await certify(world, product.id, valid_until="2030-03-05")  # type: ignore[arg-type]
        campaign_id = await certified_campaign(world)
        last_day = await campaign_slot(world, campaign_id, 24 + 14)  # 2030-03-05 22:00-23:00 in Shanghai
        day_after = await campaign_slot(world, campaign_id, 48 + 1)  # 2030-03-06 09:00
        assert (await world.book(last_day, [world.a], [product.id])).status_code == 201  # type: ignore[list-item]
        refused = await world.book(day_after, [world.b], [product.id])  # type: ignore[list-item]
        assert refused.status_code == 409
        assert [c["product_id"] for c in uncertified(refused)] == [product.id]

    async def test_a_revoked_certificate_no_longer_counts(self, world: World) -> None:
        product = await world.make.product(world.county_id)
        await certify(world, product.id)  # type: ignore[arg-type]
        r = await world.client.delete(f"/api/products/{product.id}/certification", headers=world.admin.headers)
        assert r.status_code == 204
        slot_id = await campaign_slot(world, await certified_campaign(world), 3)
        assert (await world.book(slot_id, [world.a], [product.id])).status_code == 409  # type: ignore[list-item]

    async def test_moving_a_booking_into_a_certified_only_campaign_checks_its_products(self, world: World) -> None:
        product = await world.make.product(world.county_id)
        ordinary = await campaign_slot(world, await certified_campaign(world, certified_only=False), 3)
        booked = await world.book(ordinary, [world.a], [product.id])  # type: ignore[list-item]
        assert booked.status_code == 201
        strict = await campaign_slot(world, await certified_campaign(world), 6)
        r = await world.client.post(
            f"/api/bookings/{booked.json()['id']}/reschedule", json={"slot_id": strict}, headers=world.organizer.headers
        )
        assert r.status_code == 409, r.text
        assert [c["product_id"] for c in uncertified(r)] == [product.id]


class TestPlanner:
    async def test_plans_present_certified_products_only_and_skip_counties_without_any(self, world: World) -> None:
        certified = await world.make.product(world.county_id)
        await world.make.product(world.county_id)  # uncertified: never presented
        await certify(world, certified.id, valid_until="2030-03-05")  # type: ignore[arg-type]
        campaign_id = await certified_campaign(world)
        before_expiry = await campaign_slot(world, campaign_id, 3)
        after_expiry = await campaign_slot(world, campaign_id, 48 + 3)
        r = await world.client.post(f"/api/campaigns/{campaign_id}/plans", json={"time_limit_seconds": 5}, headers=world.organizer.headers)
        assert r.status_code == 201, r.text
        body = r.json()
        assert [(a["slot_id"], a["product_ids"]) for a in body["assignments"]] == [(before_expiry, [certified.id])]
        assert body["unfilled"] == [{"slot_id": after_expiry, "reason": "uncertified"}]
        applied = await world.client.post(f"/api/campaigns/{campaign_id}/plans/{body['id']}/apply", headers=world.organizer.headers)
        assert applied.status_code == 200, applied.text
