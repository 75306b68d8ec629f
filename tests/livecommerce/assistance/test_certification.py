"""Product certification: granted and revoked by admins, shown on products, counted by the day, audited."""

from __future__ import annotations

import httpx
from sqlmodel import col, select

from livecommerce.audit.models import AuditRecord
from livecommerce.kit.clock import FrozenClock
from livecommerce.kit.db import Database
from tests.livecommerce.assistance.conftest import Office, certify, local


async def _certified(client: httpx.AsyncClient, office: Office, product_id: int) -> bool:
    response = await client.get(f"/api/products/{product_id}", headers=office.organizer.headers)
    assert response.status_code == 200, response.text
    return bool(response.json()["certified"])


class TestGrantCertification:
    async def test_admin_certifies_and_the_product_shows_certified(self, client: httpx.AsyncClient, office: Office) -> None:
        product_id = office.product_ids[0]
        assert not await _certified(client, office, product_id)
        response = await certify(client, office, product_id)
        assert response.status_code == 201, response.text
        assert (response.json()["certificate_no"], response.json()["valid_until"]) == (f"GD-{product_id}", "2027-12-31")
        assert await _certified(client, office, product_id)
        assert not await _certified(client, office, office.product_ids[1])

    async def test_products_list_shows_certified(self, client: httpx.AsyncClient, office: Office) -> None:
        await certify(client, office, office.product_ids[0])
        items = (await client.get(f"/api/products?county_id={office.county_id}")).json()["items"]
        assert {i["id"]: i["certified"] for i in items} == {office.product_ids[0]: True, office.product_ids[1]: False}

    async def test_organizer_may_not_certify(self, client: httpx.AsyncClient, office: Office) -> None:
        body = {"certificate_no": "GD-1", "valid_until": "2027-12-31"}
        response = await client.post(f"/api/products/{office.product_ids[0]}/certification", json=body, headers=office.organizer.headers)
        assert response.status_code == 403

    async def test_certificate_already_expired_is_422(self, client: httpx.AsyncClient, office: Office) -> None:
        assert (await certify(client, office, office.product_ids[0], valid_until="2025-02-28")).status_code == 422

    async def test_unknown_product_is_404(self, client: httpx.AsyncClient, office: Office) -> None:
        assert (await certify(client, office, 999_999)).status_code == 404

    async def test_grant_is_audited(self, client: httpx.AsyncClient, db: Database, office: Office) -> None:
        await certify(client, office, office.product_ids[0])
        async with db.sessionmaker() as session:
            actions = list(
                await session.scalars(select(col(AuditRecord.action)).where(col(AuditRecord.target) == f"product:{office.product_ids[0]}"))
            )
        assert "product.certified" in actions


class TestExpiry:
    async def test_expired_certificate_stops_counting_the_day_after_it_expires(
        self, client: httpx.AsyncClient, office: Office, clock: FrozenClock
    ) -> None:
        product_id = office.product_ids[0]
        await certify(client, office, product_id, valid_until="2025-06-10")
        clock.set(local("2025-06-10 23:59"))
        assert await _certified(client, office, product_id)
        clock.set(local("2025-06-11 00:00"))
        assert not await _certified(client, office, product_id)


class TestRevokeCertification:
    async def test_revoked_product_is_no_longer_certified_and_the_revocation_is_audited(
        self, client: httpx.AsyncClient, db: Database, office: Office, clock: FrozenClock
    ) -> None:
        product_id = office.product_ids[0]
        await certify(client, office, product_id)
        response = await client.delete(f"/api/products/{product_id}/certification", headers=office.admin.headers)
        assert response.status_code == 204, response.text
        assert not await _certified(client, office, product_id)
        async with db.sessionmaker() as session:
            actions = list(await session.scalars(select(col(AuditRecord.action)).where(col(AuditRecord.target) == f"product:{product_id}")))
        assert "product.certification_revoked" in actions

    async def test_revoking_without_a_certificate_in_force_is_404(self, client: httpx.AsyncClient, office: Office) -> None:
        response = await client.delete(f"/api/products/{office.product_ids[0]}/certification", headers=office.admin.headers)
        assert response.status_code == 404

    async def test_organizer_may_not_revoke(self, client: httpx.AsyncClient, office: Office) -> None:
        await certify(client, office, office.product_ids[0])
        response = await client.delete(f"/api/products/{office.product_ids[0]}/certification", headers=office.organizer.headers)
        assert response.status_code == 403

    async def test_recertified_after_revocation(self, client: httpx.AsyncClient, office: Office, clock: FrozenClock) -> None:
        product_id = office.product_ids[0]
        await certify(client, office, product_id)
        await client.delete(f"/api/products/{product_id}/certification", headers=office.admin.headers)
        clock.set(local("2025-03-02 10:00"))
        assert (await certify(client, office, product_id)).status_code == 201
        assert await _certified(client, office, product_id)
