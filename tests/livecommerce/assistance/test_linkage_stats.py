"""Consumption statistics by the credited households' benefit linkage, and filtered to monitored or unmonitored households."""

from __future__ import annotations

from typing import Any

import httpx

from livecommerce.kit.clock import FrozenClock
from livecommerce.kit.principal import Role
from tests.factories import Factory
from tests.livecommerce.assistance.conftest import Office, local
from tests.livecommerce.assistance.test_quota import subscribe
from tests.livecommerce.assistance.test_stats import stats, unit

FIGURES = ("orders", "units", "gross_fen", "refunded_fen", "household_fen", "refunded_household_fen", "net_household_fen")
EMPTY = dict.fromkeys(FIGURES, 0)


def groups(body: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {i["key"]: {f: i[f] for f in FIGURES} for i in body["items"]}


def figures(**values: int) -> dict[str, int]:
    result = {**EMPTY, **values}
    result["net_household_fen"] = result["household_fen"] - result["refunded_household_fen"]
    return result


async def purchases(client: httpx.AsyncClient, make: Factory, office: Office, clock: FrozenClock) -> None:
    """Three lines at 1000 fen a unit, one refunded the next day.

    A (2 units): 60% to a monitored household of production linkage, 20% to an unmonitored one of employment.
    B (1 unit, refunded): 70% to an unmonitored household with no linkage recorded.
    C (3 units): all to the county, no household.
    """
    county = f"county:{office.county_id}"
    producing = await make.household(office.county_id, monitored=True, linkage_type="production")
    employed = await make.household(office.county_id, linkage_type="employment")
    unrecorded = await make.household(office.county_id)
    a = await make.product(
        office.county_id, price_fen=1000, splits=[(f"household:{producing.id}", 6000), (f"household:{employed.id}", 2000), (county, 2000)]
    )
    b = await make.product(office.county_id, price_fen=1000, splits=[(f"household:{unrecorded.id}", 7000), (county, 3000)])
    c = await make.product(office.county_id, price_fen=1000, splits=[(county, 10000)])
    assert a.id is not None and b.id is not None and c.id is not None
    school = await unit(client, office, "school")
    await subscribe(client, office, school, a.id, 2)
    refunded = await subscribe(client, office, school, b.id, 1)
    await subscribe(client, office, school, c.id, 3)
    clock.set(local("2025-03-02 10:00"))
    assert (await client.post(f"/api/orders/{refunded}/refund", headers=office.organizer.headers)).status_code == 200


class TestByLinkage:
    async def test_household_credits_fall_to_their_linkage_and_lines_to_each_type_they_credited(
        self, client: httpx.AsyncClient, make: Factory, office: Office, clock: FrozenClock
    ) -> None:
        await purchases(client, make, office, clock)
        body = await stats(client, office.organizer, group_by="linkage")
        assert body["group_by"] == "linkage"
        assert [i["linkage_type"] for i in body["items"]] == ["production", "employment", "dividend", "other", "not_recorded"]
        assert groups(body) == {
            "production": figures(orders=1, units=2, gross_fen=2000, household_fen=1200),
            "employment": figures(orders=1, units=2, gross_fen=2000, household_fen=400),
            "dividend": EMPTY,
            "other": EMPTY,
            "not_recorded": figures(orders=1, units=1, gross_fen=1000, refunded_fen=1000, household_fen=700, refunded_household_fen=700),
        }
        # The totals are the ledger's: every line, the county-only one too; household credits add up exactly.
        total = body["total"]
        assert (total["gross_fen"], total["refunded_fen"], total["household_fen"], total["refunded_household_fen"]) == (
            6000,
            1000,
            2300,
            700,
        )
        assert sum(g["household_fen"] for g in groups(body).values()) == total["household_fen"]
        assert total == (await stats(client, office.organizer, group_by="county"))["total"]

    async def test_linkage_grouping_with_certified_only_and_nothing_certified_is_all_zero(
        self, client: httpx.AsyncClient, make: Factory, office: Office, clock: FrozenClock
    ) -> None:
        await purchases(client, make, office, clock)
        body = await stats(client, office.organizer, group_by="linkage", certified_only="true")
        assert all(g == EMPTY for g in groups(body).values())
        assert body["total"]["gross_fen"] == 0


class TestMonitoredFilter:
    async def test_monitored_true_keeps_what_reached_monitored_households(
        self, client: httpx.AsyncClient, make: Factory, office: Office, clock: FrozenClock
    ) -> None:
        await purchases(client, make, office, clock)
        body = await stats(client, office.organizer, group_by="linkage", monitored="true")
        assert (body["monitored"], body["monitored_only"]) == (True, True)
        assert groups(body)["production"] == figures(orders=1, units=2, gross_fen=2000, household_fen=1200)
        assert groups(body)["employment"] == EMPTY  # its household is not monitored, though it shares line A
        assert (body["total"]["gross_fen"], body["total"]["household_fen"]) == (2000, 1200)

    async def test_monitored_false_keeps_what_reached_unmonitored_households(
        self, client: httpx.AsyncClient, make: Factory, office: Office, clock: FrozenClock
    ) -> None:
        await purchases(client, make, office, clock)
        body = await stats(client, office.organizer, group_by="linkage", monitored="false")
        assert (body["monitored"], body["monitored_only"]) == (False, False)
        assert groups(body) == {
            "production": EMPTY,
            "employment": figures(orders=1, units=2, gross_fen=2000, household_fen=400),
            "dividend": EMPTY,
            "other": EMPTY,
            "not_recorded": figures(orders=1, units=1, gross_fen=1000, refunded_fen=1000, household_fen=700, refunded_household_fen=700),
        }
        total = body["total"]
        assert (total["gross_fen"], total["refunded_fen"], total["household_fen"], total["refunded_household_fen"]) == (
            3000,
            1000,
            1100,
            700,
        )
        by_county = await stats(client, office.organizer, group_by="county", monitored="false")
        assert by_county["total"] == total

    async def test_no_monitored_filter_counts_everything(
        self, client: httpx.AsyncClient, make: Factory, office: Office, clock: FrozenClock
    ) -> None:
        await purchases(client, make, office, clock)
        body = await stats(client, office.organizer, group_by="channel")
        assert (body["monitored"], body["monitored_only"]) == (None, False)
        assert body["total"]["gross_fen"] == 6000

    async def test_a_monitored_filter_that_is_no_boolean_is_422(self, client: httpx.AsyncClient, office: Office) -> None:
        response = await client.get("/api/stats/consumption", params={"monitored": "perhaps"}, headers=office.admin.headers)
        assert response.status_code == 422


class TestScope:
    async def test_an_organizer_sees_only_its_countys_linkage_figures(
        self, client: httpx.AsyncClient, make: Factory, office: Office, clock: FrozenClock
    ) -> None:
        await purchases(client, make, office, clock)
        other = await make.county()
        assert other.id is not None
        theirs = await make.household(other.id, monitored=True, linkage_type="production")
        product = await make.product(other.id, price_fen=1000, splits=[(f"household:{theirs.id}", 5000), (f"county:{other.id}", 5000)])
        organizer = await make.user(Role.organizer, county_ids=[other.id])
        body = {"unit_name": "Their canteen", "unit_type": "school", "items": [{"product_id": product.id, "quantity": 4}]}
        assert (await client.post("/api/subscriptions", json=body, headers=organizer.headers)).status_code == 201
        for params in ({"group_by": "linkage"}, {"group_by": "linkage", "monitored": "true"}, {"group_by": "county", "monitored": "false"}):
            mine = await stats(client, office.organizer, **params)
            assert mine["total"]["gross_fen"] == {"true": 2000, "false": 3000}.get(str(params.get("monitored")), 6000)
        assert groups(await stats(client, organizer, group_by="linkage", monitored="true"))["production"]["household_fen"] == 2000
        everyone = await stats(client, office.admin, group_by="linkage", monitored="true")
        assert groups(everyone)["production"] == figures(orders=2, units=6, gross_fen=6000, household_fen=3200)


class TestByMechanism:
    async def test_each_line_falls_to_its_products_mechanism_and_the_groups_add_up_to_the_total(
        self, client: httpx.AsyncClient, make: Factory, office: Office, clock: FrozenClock
    ) -> None:
        county = f"county:{office.county_id}"
        home = await make.household(office.county_id)
        dividend = await make.product(
            office.county_id, price_fen=1000, splits=[(f"household:{home.id}", 5000), (county, 5000)], linkage_mechanism="dividend"
        )
        unrecorded = await make.product(office.county_id, price_fen=1000, splits=[(f"household:{home.id}", 8000), (county, 2000)])
        employing = await make.product(office.county_id, price_fen=1000, splits=[(county, 10000)], linkage_mechanism="employment")
        assert dividend.id is not None and unrecorded.id is not None and employing.id is not None
        school = await unit(client, office, "school")
        await subscribe(client, office, school, dividend.id, 2)
        refunded = await subscribe(client, office, school, unrecorded.id, 1)
        await subscribe(client, office, school, employing.id, 3)
        clock.set(local("2025-03-02 10:00"))
        assert (await client.post(f"/api/orders/{refunded}/refund", headers=office.organizer.headers)).status_code == 200
        body = await stats(client, office.organizer, group_by="mechanism")
        assert body["group_by"] == "mechanism"
        assert [i["linkage_mechanism"] for i in body["items"]] == ["production", "employment", "dividend", "other", "not_recorded"]
        assert groups(body) == {
            "production": EMPTY,
            "employment": figures(orders=1, units=3, gross_fen=3000),
            "dividend": figures(orders=1, units=2, gross_fen=2000, household_fen=1000),
            "other": EMPTY,
            "not_recorded": figures(orders=1, units=1, gross_fen=1000, refunded_fen=1000, household_fen=800, refunded_household_fen=800),
        }
        total = body["total"]
        for figure in FIGURES:
            assert sum(g[figure] for g in groups(body).values()) == total[figure], figure
        assert total == (await stats(client, office.organizer, group_by="county"))["total"]
