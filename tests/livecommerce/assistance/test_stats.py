"""Consumption statistics by unit type, of certified products only, and of what reached monitored households; scoped."""

from __future__ import annotations

from typing import Any

import httpx

from livecommerce.kit.clock import FrozenClock
from livecommerce.kit.principal import Role
from tests.factories import Factory, TestUser
from tests.livecommerce.assistance.conftest import Office, certify, local
from tests.livecommerce.assistance.test_quota import subscribe
from tests.livecommerce.assistance.test_units import add_unit

PERIOD = {"from": "2025-03-01", "to": "2025-03-31"}


async def stats(client: httpx.AsyncClient, reader: TestUser, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/stats/consumption", params={**PERIOD, **params}, headers=reader.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def by_key(body: dict[str, Any], figure: str = "gross_fen") -> dict[str, int]:
    return {i["key"]: i[figure] for i in body["items"]}


async def unit(client: httpx.AsyncClient, office: Office, unit_type: str) -> int:
    response = await add_unit(client, office.organizer.headers, name=f"A {unit_type}", unit_type=unit_type, county_id=office.county_id)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def purchases(client: httpx.AsyncClient, make: Factory, office: Office) -> dict[str, int]:
    """A school and an enterprise buy; one product certified, one crediting a household under monitoring (1000 fen each)."""
    certified, plain = office.product_ids
    assert (await certify(client, office, certified)).status_code == 201
    watched = await make.household(office.county_id, monitored=True)
    county_share = (f"county:{office.county_id}", 3000)
    helping = await make.product(office.county_id, price_fen=1000, stock=100, splits=[(f"household:{watched.id}", 7000), county_share])
    assert helping.id is not None
    school, enterprise = await unit(client, office, "school"), await unit(client, office, "enterprise")
    await subscribe(client, office, school, certified, 2)  # 2000, certified
    await subscribe(client, office, school, helping.id, 1)  # 1000, 700 of it to the monitored household
    refunded = await subscribe(client, office, enterprise, plain, 3)  # 3000, refunded below
    body = {"unit_name": "Township canteen", "unit_type": "government", "items": [{"product_id": plain, "quantity": 4}]}
    assert (await client.post("/api/subscriptions", json=body, headers=office.organizer.headers)).status_code == 201  # names no unit
    return {"refunded": refunded}


class TestByUnitType:
    async def test_sales_and_refunds_fall_to_the_buying_units_type(
        self, client: httpx.AsyncClient, make: Factory, office: Office, clock: FrozenClock
    ) -> None:
        made = await purchases(client, make, office)
        clock.set(local("2025-03-02 10:00"))
        assert (await client.post(f"/api/orders/{made['refunded']}/refund", headers=office.organizer.headers)).status_code == 200
        body = await stats(client, office.organizer, group_by="unit_type")
        assert body["group_by"] == "unit_type"
        assert by_key(body) == {"party": 0, "government": 0, "enterprise": 3000, "school": 3000, "union": 0, "none": 4000}
        assert by_key(body, "refunded_fen")["enterprise"] == 3000
        assert by_key(body, "orders") == {"party": 0, "government": 0, "enterprise": 1, "school": 2, "union": 0, "none": 1}
        # The ledger-leg path agrees with the daily aggregates on the whole.
        aggregate = await stats(client, office.organizer, group_by="county")
        assert body["total"] == aggregate["total"]

    async def test_unknown_grouping_is_422(self, client: httpx.AsyncClient, office: Office) -> None:
        response = await client.get("/api/stats/consumption", params={"group_by": "province"}, headers=office.admin.headers)
        assert response.status_code == 422


class TestFilters:
    async def test_certified_only_counts_products_certified_when_paid(
        self, client: httpx.AsyncClient, make: Factory, office: Office
    ) -> None:
        await purchases(client, make, office)
        body = await stats(client, office.organizer, group_by="county", certified_only="true")
        assert body["certified_only"] is True
        assert body["total"]["gross_fen"] == 2000
        assert by_key(await stats(client, office.organizer, group_by="unit_type", certified_only="true"))["school"] == 2000

    async def test_monitored_counts_what_reached_monitored_households(
        self, client: httpx.AsyncClient, make: Factory, office: Office
    ) -> None:
        await purchases(client, make, office)
        body = await stats(client, office.organizer, group_by="channel", monitored="true")
        assert body["monitored_only"] is True
        assert (body["total"]["gross_fen"], body["total"]["household_fen"]) == (1000, 700)
        assert by_key(body)["unit_subscription"] == 1000

    async def test_a_certificate_granted_after_the_sale_does_not_count_it(
        self, client: httpx.AsyncClient, make: Factory, office: Office, clock: FrozenClock
    ) -> None:
        school = await unit(client, office, "school")
        await subscribe(client, office, school, office.product_ids[1], 5)
        clock.set(local("2025-03-05 10:00"))
        assert (await certify(client, office, office.product_ids[1])).status_code == 201
        assert (await stats(client, office.organizer, certified_only="true"))["total"]["gross_fen"] == 0


class TestScope:
    async def test_an_organizer_never_sees_another_countys_figures(self, client: httpx.AsyncClient, make: Factory, office: Office) -> None:
        await purchases(client, make, office)
        other = await make.county()
        product = await make.product(other.id, price_fen=1000, stock=100)  # type: ignore[arg-type]
        organizer = await make.user(Role.organizer, county_ids=[other.id])  # type: ignore[list-item]
        their_school = await add_unit(client, organizer.headers, name="Their school", unit_type="school", county_id=other.id)
        body = {"unit_id": their_school.json()["id"], "items": [{"product_id": product.id, "quantity": 9}]}
        assert (await client.post("/api/subscriptions", json=body, headers=organizer.headers)).status_code == 201
        for params in (
            {"group_by": "unit_type"},
            {"group_by": "county", "certified_only": "true"},
            {"group_by": "channel", "monitored": "true"},
        ):
            mine = await stats(client, office.organizer, **params)
            theirs = await stats(client, organizer, **params)
            assert all(i["county_id"] in (None, office.county_id) for i in mine["items"])
            assert theirs["total"]["gross_fen"] == (9000 if params.get("group_by") == "unit_type" else 0)
        assert by_key(await stats(client, office.organizer, group_by="unit_type"))["school"] == 3000
        everyone = await stats(client, office.admin, group_by="unit_type")
        assert by_key(everyone)["school"] == 12000
