"""Households under anti-relapse monitoring: shown on households, set by staff of the household's county."""

from __future__ import annotations

import httpx

from livecommerce.kit.principal import Role
from tests.factories import Factory
from tests.livecommerce.assistance.conftest import Office


class TestMonitoredHousehold:
    async def test_registered_household_is_not_monitored_by_default(self, client: httpx.AsyncClient, office: Office) -> None:
        body = {"county_id": office.county_id, "name": "李四", "village": "Shiling", "registration_no": "441821000001"}
        response = await client.post("/api/households", json=body, headers=office.organizer.headers)
        assert response.status_code == 201, response.text
        assert response.json()["monitored"] is False

    async def test_household_registered_as_monitored(self, client: httpx.AsyncClient, office: Office) -> None:
        body = {"county_id": office.county_id, "name": "李四", "village": "Shiling", "registration_no": "441821000002", "monitored": True}
        response = await client.post("/api/households", json=body, headers=office.organizer.headers)
        assert response.json()["monitored"] is True

    async def test_organizer_of_the_county_sets_monitoring(self, client: httpx.AsyncClient, make: Factory, office: Office) -> None:
        household = await make.household(office.county_id)
        response = await client.patch(f"/api/households/{household.id}", json={"monitored": True}, headers=office.organizer.headers)
        assert response.status_code == 200, response.text
        assert response.json()["monitored"] is True
        seen = (await client.get(f"/api/households/{household.id}", headers=office.organizer.headers)).json()
        assert seen["monitored"] is True

    async def test_organizer_of_another_county_is_403(self, client: httpx.AsyncClient, make: Factory, office: Office) -> None:
        household = await make.household(office.county_id)
        other = await make.county()
        stranger = await make.user(Role.organizer, county_ids=[other.id])
        response = await client.patch(f"/api/households/{household.id}", json={"monitored": True}, headers=stranger.headers)
        assert response.status_code == 403
        seen = (await client.get(f"/api/households/{household.id}", headers=office.organizer.headers)).json()
        assert seen["monitored"] is False

    async def test_cadre_may_not_set_monitoring(self, client: httpx.AsyncClient, make: Factory, office: Office) -> None:
        household = await make.household(office.county_id)
        cadre = await make.user(Role.cadre, county_ids=[office.county_id])
        response = await client.patch(f"/api/households/{household.id}", json={"monitored": True}, headers=cadre.headers)
        assert response.status_code == 403

    async def test_non_boolean_monitored_is_422(self, client: httpx.AsyncClient, make: Factory, office: Office) -> None:
        household = await make.household(office.county_id)
        response = await client.patch(f"/api/households/{household.id}", json={"monitored": "yes"}, headers=office.organizer.headers)
        assert response.status_code == 422
