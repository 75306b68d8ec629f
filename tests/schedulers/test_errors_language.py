"""Scheduling refusals in the reader's language: a booking is named by its time, never by its id."""

from __future__ import annotations

from tests.schedulers.conftest import World, at


class TestBookingByTime:
    async def test_confirming_a_cancelled_booking_names_its_time_in_both_languages(self, world: World) -> None:
        booking = await world.booked(at(26), 60, [world.a], confirm=False)  # 2030-03-05 10:00 in Shanghai
        url = f"/api/bookings/{booking['id']}"
        assert (await world.client.post(f"{url}/cancel", headers=world.organizer.headers)).status_code == 200
        zh = await world.client.post(f"{url}/confirm", headers={**world.organizer.headers, "Accept-Language": "zh-CN"})
        en = await world.client.post(f"{url}/confirm", headers={**world.organizer.headers, "Accept-Language": "en"})
        assert zh.status_code == en.status_code == 409
        assert zh.json()["title"] == "当前状态下无法操作"
        assert zh.json()["detail"] == "2030-03-05 10:00 的预约已取消，无法确认。"
        assert en.json()["detail"] == "The booking at 2030-03-05 10:00 is cancelled and cannot be confirmed."
        assert zh.json()["type"] == en.json()["type"] == "/problems/invalid-state"

    async def test_a_clash_keeps_its_conflicts_whatever_the_language(self, world: World) -> None:
        first = await world.booked(at(30), 60, [world.a])
        second_slot = await world.slot(at(30), 60, world.studios[1])
        body = {"slot_id": second_slot, "anchor_ids": [world.a.id], "product_ids": []}
        zh = await world.client.post("/api/bookings", json=body, headers={**world.organizer.headers, "Accept-Language": "zh-CN"})
        en = await world.client.post("/api/bookings", json=body, headers={**world.organizer.headers, "Accept-Language": "en"})
        assert zh.status_code == en.status_code == 409
        assert zh.json()["conflicts"] == en.json()["conflicts"]
        assert any(c["booking_id"] == first["id"] for c in zh.json()["conflicts"])
        assert zh.json()["title"] == "冲突" and en.json()["title"] == "Conflict"
        assert zh.json()["detail"] == "该预约与日程冲突。" and en.json()["detail"] == "The booking clashes with the schedule."
