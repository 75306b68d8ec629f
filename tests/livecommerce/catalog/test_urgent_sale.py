"""The urgent-sale flag: a product on urgent sale until a deadline, listed first on the home page's upcoming broadcasts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from livecommerce.broadcasts import service as streams_service
from livecommerce.kit.clock import FrozenClock
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from tests.factories import Factory, TestUser

NOW = datetime(2030, 6, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


async def staffed_product(make: Factory) -> tuple[int, TestUser]:
    county = await make.county()
    assert county.id is not None
    product = await make.product(county.id)
    assert product.id is not None
    return product.id, await make.user(Role.organizer, county_ids=[county.id])


class TestUrgentFlag:
    async def test_urgent_until_its_deadline_then_not(self, client: httpx.AsyncClient, make: Factory, clock: FrozenClock) -> None:
        product_id, organizer = await staffed_product(make)
        deadline = NOW + timedelta(days=3)
        r = await client.patch(f"/api/products/{product_id}", json={"urgent_until": deadline.isoformat()}, headers=organizer.headers)
        assert r.status_code == 200, r.text
        assert (r.json()["urgent"], datetime.fromisoformat(r.json()["urgent_until"])) == (True, deadline)
        clock.set(deadline - timedelta(seconds=1))
        assert (await client.get(f"/api/products/{product_id}")).json()["urgent"] is True
        clock.set(deadline)
        assert (await client.get(f"/api/products/{product_id}")).json()["urgent"] is False

    async def test_null_ends_the_urgent_sale(self, client: httpx.AsyncClient, make: Factory) -> None:
        product_id, organizer = await staffed_product(make)
        body = {"urgent_until": (NOW + timedelta(days=1)).isoformat()}
        assert (await client.patch(f"/api/products/{product_id}", json=body, headers=organizer.headers)).status_code == 200
        r = await client.patch(f"/api/products/{product_id}", json={"urgent_until": None}, headers=organizer.headers)
        assert (r.status_code, r.json()["urgent"], r.json()["urgent_until"]) == (200, False, None)

    async def test_a_deadline_without_an_offset_is_422(self, client: httpx.AsyncClient, make: Factory) -> None:
        product_id, organizer = await staffed_product(make)
        r = await client.patch(f"/api/products/{product_id}", json={"urgent_until": "2030-06-03T10:00:00"}, headers=organizer.headers)
        assert r.status_code == 422


class TestHomePage:
    async def test_a_broadcast_offering_an_urgent_product_comes_first_among_the_upcoming(
        self, client: httpx.AsyncClient, make: Factory, db: Database
    ) -> None:
        county = await make.county()
        assert county.id is not None
        anchor = await make.anchor(county.id)
        ordinary, perishable = await make.product(county.id), await make.product(county.id)
        assert anchor.id and ordinary.id and perishable.id
        ids = []
        async with db.transaction() as session:
            for hours, product_id in ((2, ordinary.id), (30, perishable.id)):
                stream = await streams_service.create_stream(
                    session,
                    title=f"broadcast at +{hours}h",
                    scheduled_start=NOW + timedelta(hours=hours),
                    scheduled_end=NOW + timedelta(hours=hours + 1),
                    anchor_ids=[anchor.id],
                    product_ids=[product_id],
                )
                ids.append(stream.id)
        soon, later = ids
        page = (await client.get("/", headers={"Accept-Language": "en"})).text
        assert page.index(f'data-stream-id="{soon}"') < page.index(f'data-stream-id="{later}"')
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        body = {"urgent_until": (NOW + timedelta(days=2)).isoformat()}
        assert (await client.patch(f"/api/products/{perishable.id}", json=body, headers=organizer.headers)).status_code == 200
        page = (await client.get("/", headers={"Accept-Language": "en"})).text
        assert page.index(f'data-stream-id="{later}"') < page.index(f'data-stream-id="{soon}"')
        assert page.count('data-urgent="1"') == 1 and "Urgent sale" in page
