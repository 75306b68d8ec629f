"""Purchasing units: creation, who follows which, and subscriptions naming their unit."""

from __future__ import annotations

from typing import Any

import httpx

from livecommerce.kit.principal import Role
from tests.factories import Factory
from tests.livecommerce.assistance.conftest import Office


async def add_unit(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> httpx.Response:
    """POST /api/units with a few defaults."""
    body = {"name": "County Government", "unit_type": "government", "annual_food_budget_fen": 1_000_000, **fields}
    return await client.post("/api/units", json=body, headers=headers)


class TestCreateUnit:
    async def test_reserved_share_defaults_to_ten_percent(self, client: httpx.AsyncClient, office: Office) -> None:
        response = await add_unit(client, office.organizer.headers, county_id=office.county_id)
        assert response.status_code == 201, response.text
        assert (response.json()["reserved_share_bp"], response.json()["county_id"]) == (1000, office.county_id)

    async def test_union_without_parent_is_422(self, client: httpx.AsyncClient, office: Office) -> None:
        response = await add_unit(client, office.organizer.headers, unit_type="union", county_id=office.county_id)
        assert response.status_code == 422

    async def test_union_takes_its_parents_county(self, client: httpx.AsyncClient, office: Office) -> None:
        parent = (await add_unit(client, office.organizer.headers, unit_type="enterprise", county_id=office.county_id)).json()
        union = await add_unit(client, office.organizer.headers, name="Union", unit_type="union", parent_unit_id=parent["id"])
        assert union.status_code == 201, union.text
        assert (union.json()["parent_unit_id"], union.json()["county_id"]) == (parent["id"], office.county_id)

    async def test_unknown_parent_is_422(self, client: httpx.AsyncClient, office: Office) -> None:
        response = await add_unit(client, office.admin.headers, parent_unit_id=999_999)
        assert response.status_code == 422

    async def test_unknown_unit_type_is_422(self, client: httpx.AsyncClient, office: Office) -> None:
        assert (await add_unit(client, office.admin.headers, unit_type="club")).status_code == 422

    async def test_share_above_10000_bp_is_422(self, client: httpx.AsyncClient, office: Office) -> None:
        assert (await add_unit(client, office.admin.headers, reserved_share_bp=10001)).status_code == 422

    async def test_organizer_needs_a_county_it_acts_for(self, client: httpx.AsyncClient, make: Factory, office: Office) -> None:
        other = await make.county()
        assert (await add_unit(client, office.organizer.headers)).status_code == 403
        assert (await add_unit(client, office.organizer.headers, county_id=other.id)).status_code == 403

    async def test_admin_adds_a_provincial_unit(self, client: httpx.AsyncClient, office: Office) -> None:
        response = await add_unit(client, office.admin.headers, name="Provincial Party School", unit_type="school")
        assert response.status_code == 201, response.text
        assert response.json()["county_id"] is None

    async def test_viewer_may_not_add_a_unit(self, client: httpx.AsyncClient, make: Factory, office: Office) -> None:
        viewer = await make.user(Role.viewer)
        assert (await add_unit(client, viewer.headers, county_id=office.county_id)).status_code == 403


class TestReadUnits:
    async def test_organizer_lists_only_its_counties_units(self, client: httpx.AsyncClient, office: Office) -> None:
        mine = (await add_unit(client, office.organizer.headers, county_id=office.county_id)).json()
        await add_unit(client, office.admin.headers, name="Province")
        listed = (await client.get("/api/units", headers=office.organizer.headers)).json()["items"]
        assert [u["id"] for u in listed] == [mine["id"]]
        assert len((await client.get("/api/units", headers=office.admin.headers)).json()["items"]) == 2

    async def test_organizer_of_another_county_cannot_read_the_unit(self, client: httpx.AsyncClient, make: Factory, office: Office) -> None:
        unit = (await add_unit(client, office.organizer.headers, county_id=office.county_id)).json()
        other = await make.county()
        stranger = await make.user(Role.organizer, county_ids=[other.id])
        assert (await client.get(f"/api/units/{unit['id']}", headers=stranger.headers)).status_code == 403
        assert (await client.get(f"/api/units/{unit['id']}", headers=office.organizer.headers)).status_code == 200

    async def test_unknown_unit_is_404(self, client: httpx.AsyncClient, office: Office) -> None:
        assert (await client.get("/api/units/999999", headers=office.admin.headers)).status_code == 404


class TestSubscriptionNamingAUnit:
    async def test_subscription_takes_name_and_type_from_the_unit(self, client: httpx.AsyncClient, office: Office) -> None:
        unit = (
            await add_unit(client, office.organizer.headers, name="No. 1 Middle School", unit_type="school", county_id=office.county_id)
        ).json()
        body = {"unit_id": unit["id"], "items": [{"product_id": office.product_ids[0], "quantity": 2}]}
        response = await client.post("/api/subscriptions", json=body, headers=office.organizer.headers)
        assert response.status_code == 201, response.text
        assert (response.json()["unit_name"], response.json()["unit_type"]) == ("No. 1 Middle School", "school")

    async def test_subscription_by_name_and_type_still_works(self, client: httpx.AsyncClient, office: Office) -> None:
        body = {
            "unit_name": "County Party Committee",
            "unit_type": "party",
            "items": [{"product_id": office.product_ids[0], "quantity": 1}],
        }
        response = await client.post("/api/subscriptions", json=body, headers=office.organizer.headers)
        assert response.status_code == 201, response.text

    async def test_subscription_naming_no_unit_is_422(self, client: httpx.AsyncClient, office: Office) -> None:
        body = {"items": [{"product_id": office.product_ids[0], "quantity": 1}]}
        assert (await client.post("/api/subscriptions", json=body, headers=office.organizer.headers)).status_code == 422

    async def test_subscription_naming_an_unknown_unit_is_422(self, client: httpx.AsyncClient, office: Office) -> None:
        body = {"unit_id": 999_999, "items": [{"product_id": office.product_ids[0], "quantity": 1}]}
        response = await client.post("/api/subscriptions", json=body, headers=office.organizer.headers)
        assert response.status_code == 422
        product = (await client.get(f"/api/products/{office.product_ids[0]}")).json()
        assert product["sold"] == 0
