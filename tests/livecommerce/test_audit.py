"""The audit chain: appends, verification, and tampering detected."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from sqlmodel import col, select

from livecommerce.audit import service
from livecommerce.audit.models import AuditRecord
from livecommerce.broadcasts import service as streams_service
from livecommerce.kit.clock import utcnow
from livecommerce.kit.db import Database, sync_url
from livecommerce.kit.principal import Principal, Role
from tests.factories import ROOT, Factory
from tests.livecommerce import test_cli
from tests.livecommerce.orders.helpers import open_stream
from tests.livecommerce.test_cli import invoke

scratch_url = test_cli.scratch_url  # the CLI tests' fixture: an empty database of the backend under test


async def _append(db: Database, n: int) -> None:
    for i in range(n):
        async with db.transaction() as session:
            await service.record(session, ROOT, "product.price_changed", f"product:{i}", {"from": 100 + i, "to": 200 + i}, now=utcnow())


class TestVerify:
    async def test_untouched_chain_verifies(self, db: Database) -> None:
        await _append(db, 5)
        async with db.transaction() as session:
            result = await service.verify(session)
        assert result.ok and result.records == 5

    async def test_edited_record_is_detected(self, db: Database) -> None:
        await _append(db, 5)
        async with db.transaction() as session:
            await session.execute(text("UPDATE audit_records SET target = 'product:99' WHERE id = 3"))
        async with db.transaction() as session:
            result = await service.verify(session)
        assert not result.ok
        assert result.first_bad_id == 3

    async def test_removed_middle_record_is_detected(self, db: Database) -> None:
        await _append(db, 5)
        async with db.transaction() as session:
            await session.execute(text("DELETE FROM audit_records WHERE id = 2"))
        async with db.transaction() as session:
            result = await service.verify(session)
        assert not result.ok and result.first_bad_id == 3

    async def test_removed_last_record_is_detected(self, db: Database) -> None:
        await _append(db, 4)
        async with db.transaction() as session:
            await session.execute(text("DELETE FROM audit_records WHERE id = 4"))
        async with db.transaction() as session:
            result = await service.verify(session)
        assert not result.ok and result.first_bad_id is None

    async def test_concurrent_appends_keep_one_chain(self, db: Database) -> None:
        await asyncio.gather(*[_append(db, 3) for _ in range(8)])
        async with db.transaction() as session:
            result = await service.verify(session)
        assert result.ok and result.records == 24


class TestAuditEndpoints:
    async def test_admin_reads_log_and_verification(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        admin = await make.user(Role.admin)
        await _append(db, 3)
        r = await client.get("/api/audit", headers=admin.headers)
        assert r.status_code == 200
        assert [i["target"] for i in r.json()["items"]] == [f"user:{admin.id}", "product:0", "product:1", "product:2"]
        r = await client.get("/api/audit/verify", headers=admin.headers)
        assert r.json() == {"ok": True, "records": 4, "first_bad_id": None, "reason": None}

    async def test_organizer_may_not_read_audit(self, client: httpx.AsyncClient, make: Factory) -> None:
        organizer = await make.user(Role.organizer)
        assert (await client.get("/api/audit", headers=organizer.headers)).status_code == 403
        assert (await client.get("/api/audit")).status_code == 401


async def _records(db: Database, action: str) -> list[Any]:
    async with db.transaction() as session:
        return list(
            (await session.scalars(select(AuditRecord).where(col(AuditRecord.action) == action).order_by(col(AuditRecord.id)))).all()
        )


class TestProductChangesAreAudited:
    async def test_price_stock_and_split_changes_are_recorded_with_before_and_after(
        self, client: httpx.AsyncClient, db: Database, make: Factory
    ) -> None:
        county = await make.county()
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        household = await make.household(county.id)
        product = await make.product(county.id, price_fen=1990, stock=50, splits=[(f"household:{household.id}", 9000), ("platform", 1000)])
        body = {
            "price_fen": 2490,
            "stock": 80,
            "splits": [{"party": f"household:{household.id}", "bp": 8500}, {"party": "platform", "bp": 1500}],
        }
        r = await client.patch(f"/api/products/{product.id}", json=body, headers=organizer.headers)
        assert r.status_code == 200, r.text
        [record] = await _records(db, "product.updated")
        assert (record.actor_id, record.actor, record.target) == (organizer.id, organizer.username, f"product:{product.id}")
        assert record.details["price_fen"] == {"from": 1990, "to": 2490}
        assert record.details["stock"] == {"from": 50, "to": 80}
        assert record.details["splits"]["to"] == [[f"household:{household.id}", 8500], ["platform", 1500]]

    async def test_an_unchanged_value_records_nothing(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        county = await make.county()
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        product = await make.product(county.id, price_fen=1990)
        assert (await client.patch(f"/api/products/{product.id}", json={"price_fen": 1990}, headers=organizer.headers)).status_code == 200
        assert await _records(db, "product.updated") == []

    async def test_a_refused_change_records_nothing(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        county, other = await make.county(), await make.county()
        organizer = await make.user(Role.organizer, county_ids=[other.id])
        product = await make.product(county.id)
        assert (await client.patch(f"/api/products/{product.id}", json={"price_fen": 1}, headers=organizer.headers)).status_code == 403
        assert await _records(db, "product.updated") == []

    async def test_product_creation_is_recorded(self, db: Database, make: Factory) -> None:
        county = await make.county()
        product = await make.product(county.id, price_fen=3300, stock=7)
        [record] = await _records(db, "product.created")
        assert record.target == f"product:{product.id}"
        assert (record.details["price_fen"], record.details["stock"]) == (3300, 7)

    async def test_household_creation_records_ids_not_personal_data(self, db: Database, make: Factory) -> None:
        county = await make.county()
        household = await make.household(county.id, name="黄秀英", registration_no="441821195501010342")
        [record] = await _records(db, "household.created")
        assert record.target == f"household:{household.id}"
        assert "黄秀英" not in str(record.details) and "441821195501010342" not in str(record.details)


class TestPinsAreAudited:
    async def test_pin_records_the_actor_and_the_product(self, db: Database, make: Factory) -> None:
        county = await make.county()
        anchor = await make.anchor(county.id)
        product = await make.product(county.id)
        assert product.id is not None and anchor.id is not None
        stream_id = await open_stream(db, anchor.id, [product.id])
        cadre = Principal(id=42, username="cadre_zhou", role=Role.cadre, display_name="周", anchor_id=anchor.id)
        async with db.transaction() as session:
            await streams_service.pin_product(session, stream_id, product.id, now=utcnow(), actor=cadre)
        [record] = await _records(db, "stream.product_pinned")
        assert (record.actor_id, record.actor, record.target) == (42, "cadre_zhou", f"stream:{stream_id}")
        assert record.details == {"from": None, "to": product.id}

    async def test_pin_through_the_api_is_recorded(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        county = await make.county()
        anchor = await make.anchor(county.id)
        product = await make.product(county.id)
        assert product.id is not None and anchor.id is not None
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        stream_id = await open_stream(db, anchor.id, [product.id])
        r = await client.post(f"/api/streams/{stream_id}/pin", json={"product_id": product.id}, headers=organizer.headers)
        assert r.status_code == 200, r.text
        assert [r.target for r in await _records(db, "stream.product_pinned")] == [f"stream:{stream_id}"]


class TestBookingsAreAudited:
    async def test_create_confirm_and_cancel_are_recorded_by_whoever_did_them(
        self, client: httpx.AsyncClient, db: Database, make: Factory
    ) -> None:
        county = await make.county()
        anchor = await make.anchor(county.id)
        cadre = await make.user(Role.cadre, county_ids=[county.id], anchor_id=anchor.id)
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        studio = (await client.post("/api/studios", json={"name": "S", "platform": "douyin"}, headers=organizer.headers)).json()
        start = utcnow().replace(microsecond=0) + timedelta(days=3)
        slot = await client.post(
            "/api/slots",
            json={"studio_id": studio["id"], "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()},
            headers=organizer.headers,
        )
        booking = await client.post("/api/bookings", json={"slot_id": slot.json()["id"], "anchor_ids": [anchor.id]}, headers=cadre.headers)
        assert booking.status_code == 201, booking.text
        booking_id = booking.json()["id"]
        assert (await client.post(f"/api/bookings/{booking_id}/confirm", headers=organizer.headers)).status_code == 200
        assert (await client.post(f"/api/bookings/{booking_id}/confirm", headers=organizer.headers)).status_code == 200
        assert (await client.post(f"/api/bookings/{booking_id}/cancel", headers=cadre.headers)).status_code == 200
        recorded = [(r.action, r.actor_id) for r in await _all(db) if r.target == f"booking:{booking_id}"]
        # The organizer's confirmation is also its county's agreement; confirming twice records nothing more.
        assert recorded == [
            ("booking.created", cadre.id),
            ("booking.approved", organizer.id),
            ("booking.confirmed", organizer.id),
            ("booking.cancelled", cadre.id),
        ]


async def _all(db: Database) -> list[Any]:
    async with db.transaction() as session:
        return list((await session.scalars(select(AuditRecord).order_by(col(AuditRecord.id)))).all())


class TestVerifyCommand:
    def test_whole_chain_exits_0_and_a_tampered_row_exits_1(self, scratch_url: str) -> None:
        assert invoke(scratch_url, "migrate")[0] == 0
        code, output = invoke(scratch_url, "users", "create", "zhou", "--role", "admin", "--password", "long enough pass")
        assert code == 0, output
        invoke(scratch_url, "users", "create", "lihua", "--role", "viewer", "--password", "long enough pass")
        code, output = invoke(scratch_url, "audit", "verify")
        assert code == 0, output
        assert "whole" in output and "2 records" in output
        engine = create_engine(sync_url(scratch_url), poolclass=NullPool)
        try:
            with engine.begin() as conn:
                conn.execute(text("UPDATE audit_records SET actor = 'someone-else' WHERE id = (SELECT MIN(id) FROM audit_records)"))
        finally:
            engine.dispose()
        code, output = invoke(scratch_url, "audit", "verify")
        assert code == 1, output
        assert "broken" in output and "edited" in output

    def test_a_deleted_last_row_exits_1(self, scratch_url: str) -> None:
        assert invoke(scratch_url, "migrate")[0] == 0
        invoke(scratch_url, "users", "create", "zhou", "--role", "admin", "--password", "long enough pass")
        invoke(scratch_url, "users", "create", "lihua", "--role", "viewer", "--password", "long enough pass")
        engine = create_engine(sync_url(scratch_url), poolclass=NullPool)
        try:
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM audit_records WHERE id = (SELECT MAX(id) FROM audit_records)"))
        finally:
            engine.dispose()
        code, output = invoke(scratch_url, "audit", "verify")
        assert code == 1, output
        assert "removed" in output
