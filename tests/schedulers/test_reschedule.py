"""Rescheduling through the booking rules, and an organizer's audited override of the notice rule."""

from __future__ import annotations

from typing import Any

import httpx
from sqlmodel import col, select

from livecommerce.audit.models import AuditRecord
from livecommerce.broadcasts.models import Stream
from livecommerce.kit.db import Database
from tests.factories import TestUser
from tests.schedulers.conftest import World, at


async def reschedule(world: World, booking_id: int, slot_id: int, by: TestUser | None = None, **extra: Any) -> httpx.Response:
    body = {"slot_id": slot_id, **extra}
    return await world.client.post(f"/api/bookings/{booking_id}/reschedule", json=body, headers=(by or world.organizer).headers)


async def audit_actions(db: Database, target: str) -> list[AuditRecord]:
    async with db.sessionmaker() as session:
        return list(
            (await session.scalars(select(AuditRecord).where(col(AuditRecord.target) == target).order_by(col(AuditRecord.id)))).all()
        )


class TestReschedule:
    async def test_moves_the_booking_and_its_stream(self, world: World, db: Database) -> None:
        booking = await world.booked(at(2))
        target = await world.slot(at(6), 90, world.studios[1])
        r = await reschedule(world, booking["id"], target, by=world.a.user)
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["slot_id"], body["studio_id"], body["starts_at"]) == (
            target,
            world.studios[1],
            at(6).isoformat().replace("+00:00", "Z"),
        )
        assert body["status"] == "requested"  # agreed to the old time only: asks again
        async with db.sessionmaker() as session:
            stream = await session.get(Stream, booking["stream_id"])
        assert stream is not None
        assert (stream.scheduled_start, stream.scheduled_end, stream.studio_id) == (at(6), at(7, 30), world.studios[1])
        assert [a.action for a in await audit_actions(db, f"booking:{booking['id']}")][-1] == "booking.rescheduled"

    async def test_the_old_slot_is_free_again(self, world: World) -> None:
        booking = await world.booked(at(2))
        old = booking["slot_id"]
        await reschedule(world, booking["id"], await world.slot(at(6)))
        r = await world.book(old, [world.b])
        assert r.status_code == 201, r.text

    async def test_moving_onto_a_clash_is_409_with_conflicts(self, world: World) -> None:
        busy = await world.booked(at(6), anchors=[world.b], studio_id=world.studios[1])
        mine = await world.booked(at(2), anchors=[world.a, world.b])
        same_time = await world.slot(at(6), 60, world.studios[0])  # a free studio, but b is on air then
        r = await reschedule(world, mine["id"], same_time)
        assert r.status_code == 409
        assert ("anchor", busy["id"]) in {(c["kind"], c.get("booking_id")) for c in r.json()["conflicts"]}

    async def test_its_own_time_does_not_clash_with_itself(self, world: World) -> None:
        booking = await world.booked(at(2), 60)
        overlapping = await world.slot(at(2, 30), 60, world.studios[1])
        r = await reschedule(world, booking["id"], overlapping)
        assert r.status_code == 200, r.text

    async def test_live_booking_cannot_move(self, world: World, db: Database) -> None:
        from schedulers.models import Booking

        booking = await world.booked(at(2))
        async with db.transaction() as session:
            row = await session.get(Booking, booking["id"])
            assert row is not None
            row.status = "live"
            session.add(row)
        r = await reschedule(world, booking["id"], await world.slot(at(6)))
        assert r.status_code == 409

    async def test_outsider_cadre_is_403(self, world: World) -> None:
        booking = await world.booked(at(2))
        outsider = await world.cadre()
        assert (await reschedule(world, booking["id"], await world.slot(at(6)), by=outsider.user)).status_code == 403


class TestNoticeOverride:
    async def test_short_notice_without_override_is_409(self, world: World) -> None:
        slot_id = await world.slot(at(0, 20))
        r = await world.book(slot_id, [world.a])
        assert r.status_code == 409
        assert [c["kind"] for c in r.json()["conflicts"]] == ["notice"]

    async def test_organizer_overrides_with_an_audited_reason(self, world: World, db: Database) -> None:
        slot_id = await world.slot(at(0, 20))
        r = await world.book(slot_id, [world.a], notice_override_reason="副县长临时有空")
        assert r.status_code == 201, r.text
        records = await audit_actions(db, f"booking:{r.json()['id']}")
        override = next(a for a in records if a.action == "booking.notice_overridden")
        assert override.details["reason"] == "副县长临时有空"

    async def test_cadre_cannot_override(self, world: World) -> None:
        slot_id = await world.slot(at(0, 20))
        r = await world.book(slot_id, [world.a], by=world.a.user, notice_override_reason="I am in a hurry")
        assert r.status_code == 403

    async def test_override_does_not_lift_other_rules(self, world: World) -> None:
        await world.booked(at(2), anchors=[world.a])
        slot_id = await world.slot(at(0, 20), 120, world.studios[1])
        r = await world.book(slot_id, [world.a], notice_override_reason="still busy")
        assert r.status_code == 409
        assert {c["kind"] for c in r.json()["conflicts"]} == {"anchor"}  # the notice clash is lifted, the overlap is not

    async def test_override_on_reschedule(self, world: World) -> None:
        booking = await world.booked(at(2))
        soon = await world.slot(at(0, 20), 30, world.studios[1])
        assert (await reschedule(world, booking["id"], soon)).status_code == 409
        r = await reschedule(world, booking["id"], soon, notice_override_reason="moved up by the county")
        assert r.status_code == 200, r.text
