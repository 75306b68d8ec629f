"""Consumption statistics scoped to the reader: an organizer's figures cover only its counties."""

from __future__ import annotations

import httpx

from livecommerce.kit.principal import Role
from tests.factories import Factory


async def _county_with_a_subscription(client: httpx.AsyncClient, make: Factory, quantity: int) -> tuple[int, dict[str, str]]:
    county = await make.county()
    product = await make.product(county.id, price_fen=1000, stock=100)
    organizer = await make.user(Role.organizer, county_ids=[county.id])
    body = {"unit_name": "County Government", "unit_type": "government", "items": [{"product_id": product.id, "quantity": quantity}]}
    assert (await client.post("/api/subscriptions", json=body, headers=organizer.headers)).status_code == 201
    assert county.id is not None
    return county.id, organizer.headers


class TestConsumptionScope:
    async def test_organizer_sees_only_its_counties(self, client: httpx.AsyncClient, make: Factory) -> None:
        mine, headers = await _county_with_a_subscription(client, make, 3)
        await _county_with_a_subscription(client, make, 5)
        by_county = (await client.get("/api/stats/consumption?group_by=county", headers=headers)).json()
        assert [(i["county_id"], i["gross_fen"]) for i in by_county["items"]] == [(mine, 3000)]
        by_channel = (await client.get("/api/stats/consumption?group_by=channel", headers=headers)).json()
        assert by_channel["total"]["gross_fen"] == 3000

    async def test_admin_sees_every_county(self, client: httpx.AsyncClient, make: Factory) -> None:
        await _county_with_a_subscription(client, make, 3)
        await _county_with_a_subscription(client, make, 5)
        admin = await make.user(Role.admin)
        stats = (await client.get("/api/stats/consumption?group_by=county", headers=admin.headers)).json()
        assert stats["total"]["gross_fen"] == 8000
        assert len(stats["items"]) == 2
