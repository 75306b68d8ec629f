"""Fixtures for consumption assistance: a frozen clock on the offices' calendar, a county with staff and products."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from livecommerce.kit.clock import Clock, FrozenClock
from livecommerce.kit.principal import Role
from tests.factories import Factory, TestUser

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(text: str) -> datetime:
    """An instant given as Asia/Shanghai wall time, e.g. "2025-12-31 23:59"."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.fixture
def clock() -> Clock:
    return FrozenClock(local("2025-03-01 10:00"))


@dataclass
class Office:
    county_id: int
    admin: TestUser
    organizer: TestUser
    product_ids: list[int]


@pytest.fixture
async def office(make: Factory) -> Office:
    county = await make.county()
    products = [await make.product(county.id, price_fen=1000, stock=1000) for _ in range(2)]
    admin = await make.user(Role.admin)
    organizer = await make.user(Role.organizer, county_ids=[county.id])
    return Office(county.id, admin, organizer, [p.id for p in products if p.id is not None])


async def certify(client: httpx.AsyncClient, office: Office, product_id: int, valid_until: str = "2027-12-31") -> httpx.Response:
    """Grant a certificate as the admin."""
    body = {"certificate_no": f"GD-{product_id}", "valid_until": valid_until}
    return await client.post(f"/api/products/{product_id}/certification", json=body, headers=office.admin.headers)
