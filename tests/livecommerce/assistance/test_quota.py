"""A unit's quota: paid purchases of certified products by it and its children in a year, refunds subtracted."""

from __future__ import annotations

import httpx

from livecommerce.kit.clock import FrozenClock
from livecommerce.kit.principal import Role
from tests.factories import Factory
from tests.livecommerce.assistance.conftest import Office, certify, local
from tests.livecommerce.assistance.test_units import add_unit


async def subscribe(client: httpx.AsyncClient, office: Office, unit_id: int, product_id: int, quantity: int) -> int:
    """A paid subscription by the unit (products cost 1000 fen each); its order id."""
    body = {"unit_id": unit_id, "items": [{"product_id": product_id, "quantity": quantity}]}
    response = await client.post("/api/subscriptions", json=body, headers=office.organizer.headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def quota(client: httpx.AsyncClient, office: Office, unit_id: int, year: int) -> dict[str, int]:
    response = await client.get(f"/api/units/{unit_id}/quota?year={year}", headers=office.organizer.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    return {k: body[k] for k in ("quota_fen", "completed_fen", "completion_bp")}


async def _enterprise_and_union(client: httpx.AsyncClient, office: Office) -> tuple[int, int]:
    enterprise = (await add_unit(client, office.organizer.headers, name="SOE", unit_type="enterprise", county_id=office.county_id)).json()
    union = (await add_unit(client, office.organizer.headers, name="SOE Union", unit_type="union", parent_unit_id=enterprise["id"])).json()
    return int(enterprise["id"]), int(union["id"])


class TestQuota:
    async def test_unit_and_union_purchases_across_a_year_boundary_with_a_refund(
        self, client: httpx.AsyncClient, office: Office, clock: FrozenClock
    ) -> None:
        certified, uncertified = office.product_ids
        assert (await certify(client, office, certified)).status_code == 201
        enterprise, union = await _enterprise_and_union(client, office)
        clock.set(local("2025-05-01 09:00"))
        await subscribe(client, office, enterprise, certified, 10)  # 10000, counts
        await subscribe(client, office, union, certified, 5)  # 5000, counts toward the parent
        refunded = await subscribe(client, office, union, certified, 3)  # 3000, refunded below
        await subscribe(client, office, enterprise, uncertified, 7)  # never counts
        clock.set(local("2025-07-01 09:00"))
        assert (await client.post(f"/api/orders/{refunded}/refund", headers=office.organizer.headers)).status_code == 200
        clock.set(local("2025-12-31 23:59"))
        await subscribe(client, office, enterprise, certified, 1)  # last minute of 2025
        clock.set(local("2026-01-01 00:00"))
        await subscribe(client, office, enterprise, certified, 2)  # first minute of 2026
        assert await quota(client, office, enterprise, 2025) == {"quota_fen": 100_000, "completed_fen": 16_000, "completion_bp": 1600}
        assert await quota(client, office, enterprise, 2026) == {"quota_fen": 100_000, "completed_fen": 2_000, "completion_bp": 200}
        assert await quota(client, office, union, 2025) == {"quota_fen": 100_000, "completed_fen": 5_000, "completion_bp": 500}

    async def test_refund_in_the_next_year_is_subtracted_in_that_year(
        self, client: httpx.AsyncClient, office: Office, clock: FrozenClock
    ) -> None:
        await certify(client, office, office.product_ids[0])
        enterprise, _ = await _enterprise_and_union(client, office)
        clock.set(local("2025-12-20 10:00"))
        order = await subscribe(client, office, enterprise, office.product_ids[0], 4)
        clock.set(local("2026-01-05 10:00"))
        assert (await client.post(f"/api/orders/{order}/refund", headers=office.organizer.headers)).status_code == 200
        assert (await quota(client, office, enterprise, 2025))["completed_fen"] == 4_000
        assert (await quota(client, office, enterprise, 2026))["completed_fen"] == -4_000

    async def test_purchase_after_the_certificate_expired_does_not_count(
        self, client: httpx.AsyncClient, office: Office, clock: FrozenClock
    ) -> None:
        await certify(client, office, office.product_ids[0], valid_until="2025-06-10")
        enterprise, _ = await _enterprise_and_union(client, office)
        clock.set(local("2025-06-10 23:00"))
        await subscribe(client, office, enterprise, office.product_ids[0], 1)
        clock.set(local("2025-06-11 00:01"))
        await subscribe(client, office, enterprise, office.product_ids[0], 2)
        assert (await quota(client, office, enterprise, 2025))["completed_fen"] == 1_000

    async def test_completion_passes_10000_bp_when_the_share_is_exceeded(
        self, client: httpx.AsyncClient, office: Office, clock: FrozenClock
    ) -> None:
        await certify(client, office, office.product_ids[0])
        unit = (
            await add_unit(
                client, office.organizer.headers, annual_food_budget_fen=50_000, reserved_share_bp=1500, county_id=office.county_id
            )
        ).json()
        await subscribe(client, office, unit["id"], office.product_ids[0], 10)
        assert await quota(client, office, unit["id"], 2025) == {"quota_fen": 7_500, "completed_fen": 10_000, "completion_bp": 13_333}

    async def test_organizer_of_another_county_never_sees_the_quota(self, client: httpx.AsyncClient, make: Factory, office: Office) -> None:
        enterprise, _ = await _enterprise_and_union(client, office)
        other = await make.county()
        stranger = await make.user(Role.organizer, county_ids=[other.id])
        assert (await client.get(f"/api/units/{enterprise}/quota?year=2025", headers=stranger.headers)).status_code == 403

    async def test_year_out_of_range_is_422(self, client: httpx.AsyncClient, office: Office) -> None:
        enterprise, _ = await _enterprise_and_union(client, office)
        assert (await client.get(f"/api/units/{enterprise}/quota?year=1999", headers=office.organizer.headers)).status_code == 422
