"""A live stream selling one county's produce."""

from __future__ import annotations

import pytest

from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from tests.factories import Factory
from tests.livecommerce.orders.helpers import Shop, open_stream


@pytest.fixture
async def shop(make: Factory, db: Database) -> Shop:
    county = await make.county()
    assert county.id is not None
    household = await make.household(county.id)
    splits = [(f"household:{household.id}", 7000), (f"county:{county.id}", 2000), ("platform", 1000)]
    product = await make.product(county.id, splits=splits, price_fen=1990, stock=100)
    other = await make.product(county.id, splits=splits, price_fen=500, stock=10)
    anchor = await make.anchor(county.id)
    assert product.id and other.id and anchor.id and household.id
    stream_id = await open_stream(db, anchor.id, [product.id, other.id])
    organizer = await make.user(Role.organizer, county_ids=[county.id])
    cadre = await make.user(Role.cadre, county_ids=[county.id], anchor_id=anchor.id)
    return Shop(county.id, product.id, other.id, stream_id, organizer, cadre, household.id)
