"""PATCH /api/stations/{id}: staff of the station's county rename it or correct its village, audited."""

from __future__ import annotations

import httpx
from sqlmodel import col, select

from livecommerce.audit.models import AuditRecord
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from tests.factories import Factory


class TestUpdateStation:
    async def test_the_countys_organizer_renames_it_and_the_change_is_audited(
        self, client: httpx.AsyncClient, db: Database, make: Factory
    ) -> None:
        county = await make.county()
        station = await make.station(county.id, name="Shiling store", village="Shiling")  # type: ignore[arg-type]
        organizer = await make.user(Role.organizer, county_ids=[county.id])  # type: ignore[list-item]
        r = await client.patch(
            f"/api/stations/{station.id}", json={"name": "Shiling station", "village": "Xintang"}, headers=organizer.headers
        )
        assert r.status_code == 200, r.text
        assert (r.json()["name"], r.json()["village"], r.json()["county_id"]) == ("Shiling station", "Xintang", county.id)
        assert (await client.get(f"/api/stations/{station.id}")).json()["name"] == "Shiling station"
        async with db.transaction() as session:
            rows = (await session.scalars(select(AuditRecord).where(col(AuditRecord.target) == f"station:{station.id}"))).all()
        assert [(row.action, row.actor_id) for row in rows] == [("station.updated", organizer.id)]
        assert rows[0].details == {
            "name": {"from": "Shiling store", "to": "Shiling station"},
            "village": {"from": "Shiling", "to": "Xintang"},
        }

    async def test_one_field_alone_leaves_the_other(self, client: httpx.AsyncClient, make: Factory) -> None:
        county = await make.county()
        station = await make.station(county.id, village="Shiling")  # type: ignore[arg-type]
        admin = await make.user(Role.admin)
        r = await client.patch(f"/api/stations/{station.id}", json={"name": "Renamed"}, headers=admin.headers)
        assert r.status_code == 200, r.text
        assert r.json()["village"] == "Shiling"

    async def test_another_countys_organizer_is_403(self, client: httpx.AsyncClient, make: Factory) -> None:
        county, other = await make.county(), await make.county()
        station = await make.station(county.id)  # type: ignore[arg-type]
        stranger = await make.user(Role.organizer, county_ids=[other.id])  # type: ignore[list-item]
        r = await client.patch(f"/api/stations/{station.id}", json={"name": "Mine"}, headers=stranger.headers)
        assert r.status_code == 403, r.text
        assert r.headers["content-type"].startswith("application/problem+json")

    async def test_a_cadre_is_403_and_anonymous_401(self, client: httpx.AsyncClient, make: Factory) -> None:
        county = await make.county()
        station = await make.station(county.id)  # type: ignore[arg-type]
        cadre = await make.user(Role.cadre, county_ids=[county.id])  # type: ignore[list-item]
        assert (await client.patch(f"/api/stations/{station.id}", json={"name": "x"}, headers=cadre.headers)).status_code == 403
        assert (await client.patch(f"/api/stations/{station.id}", json={"name": "x"})).status_code == 401

    async def test_an_unknown_station_is_404(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        assert (await client.patch("/api/stations/999999", json={"name": "x"}, headers=admin.headers)).status_code == 404

    async def test_bad_bodies_are_422(self, client: httpx.AsyncClient, make: Factory) -> None:
        county = await make.county()
        station = await make.station(county.id)  # type: ignore[arg-type]
        admin = await make.user(Role.admin)
        for body in ({"name": None}, {"village": ""}, {"county_id": county.id}, {"name": 5}):
            r = await client.patch(f"/api/stations/{station.id}", json=body, headers=admin.headers)
            assert r.status_code == 422, (body, r.text)
