"""The audit chain: appends, verification, and tampering detected."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import text

from livecommerce.accounts.models import Role
from livecommerce.audit import service
from livecommerce.clock import utcnow
from livecommerce.db import Database
from tests.factories import ROOT, Factory


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
        await _append(db, 3)
        admin = await make.user(Role.admin)
        r = await client.get("/api/audit", headers=admin.headers)
        assert r.status_code == 200
        assert [i["target"] for i in r.json()["items"]] == ["product:0", "product:1", "product:2"]
        r = await client.get("/api/audit/verify", headers=admin.headers)
        assert r.json() == {"ok": True, "records": 3, "first_bad_id": None, "reason": None}

    async def test_organizer_may_not_read_audit(self, client: httpx.AsyncClient, make: Factory) -> None:
        organizer = await make.user(Role.organizer)
        assert (await client.get("/api/audit", headers=organizer.headers)).status_code == 403
        assert (await client.get("/api/audit")).status_code == 401
