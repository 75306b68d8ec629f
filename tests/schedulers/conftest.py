"""Fixtures for scheduling: a frozen clock, a county with its organizer, anchors with their cadres, studios."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from livecommerce.catalog.models import Anchor, County
from livecommerce.kit.clock import Clock, FrozenClock
from livecommerce.kit.principal import Role
from tests.factories import Factory, TestUser

# Monday 2030-03-04, 08:00 in Asia/Shanghai.
T0 = datetime(2030, 3, 4, 0, 0, tzinfo=UTC)


def at(hours: float = 0, minutes: float = 0) -> datetime:
    """A moment relative to T0."""
    return T0 + timedelta(hours=hours, minutes=minutes)


@pytest.fixture
def clock() -> Clock:
    return FrozenClock(T0)


@dataclass
class Cadre:
    anchor: Anchor
    user: TestUser

    @property
    def id(self) -> int:
        assert self.anchor.id is not None
        return self.anchor.id


@dataclass
class World:
    """One county with an organizer, two cadre anchors, two studios; helpers that call the API."""

    client: httpx.AsyncClient
    make: Factory
    county: County
    organizer: TestUser
    admin: TestUser
    a: Cadre
    b: Cadre
    studios: list[int] = field(default_factory=list)

    async def cadre(self, county_id: int | None = None) -> Cadre:
        anchor = await self.make.anchor(county_id or self.county_id)
        user = await self.make.user(Role.cadre, county_ids=[county_id or self.county_id], anchor_id=anchor.id)
        return Cadre(anchor, user)

    @property
    def county_id(self) -> int:
        assert self.county.id is not None
        return self.county.id

    async def studio(self) -> int:
        r = await self.client.post(
            "/api/studios", json={"name": f"Studio {len(self.studios) + 1}", "platform": "douyin"}, headers=self.organizer.headers
        )
        assert r.status_code == 201, r.text
        self.studios.append(r.json()["id"])
        return int(r.json()["id"])

    async def slot(self, start: datetime, minutes: int = 60, studio_id: int | None = None) -> int:
        body = {
            "studio_id": studio_id or self.studios[0],
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=minutes)).isoformat(),
        }
        r = await self.client.post("/api/slots", json=body, headers=self.organizer.headers)
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    async def book(
        self, slot_id: int, anchors: list[Cadre], products: list[int] | None = None, *, by: TestUser | None = None, **extra: Any
    ) -> httpx.Response:
        body = {"slot_id": slot_id, "anchor_ids": [c.id for c in anchors], "product_ids": products or [], **extra}
        return await self.client.post("/api/bookings", json=body, headers=(by or self.organizer).headers)

    async def booked(
        self,
        start: datetime,
        minutes: int = 60,
        anchors: list[Cadre] | None = None,
        *,
        confirm: bool = True,
        studio_id: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        slot_id = await self.slot(start, minutes, studio_id)
        r = await self.book(slot_id, anchors or [self.a], **extra)
        assert r.status_code == 201, r.text
        if confirm:
            r = await self.client.post(f"/api/bookings/{r.json()['id']}/confirm", headers=self.organizer.headers)
            assert r.status_code == 200, r.text
        return dict(r.json())


@pytest.fixture
async def world(client: httpx.AsyncClient, make: Factory) -> World:
    county = await make.county()
    organizer = await make.user(Role.organizer, county_ids=[county.id])  # type: ignore[list-item]
    admin = await make.user(Role.admin)
    w = World(client=client, make=make, county=county, organizer=organizer, admin=admin, a=None, b=None)  # type: ignore[arg-type]
    w.a = await w.cadre()
    w.b = await w.cadre()
    await w.studio()
    await w.studio()
    return w
