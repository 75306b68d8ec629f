"""Test data written through the real services, with bearer headers for each user."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from livecommerce.accounts import service as accounts
from livecommerce.accounts.schemas import UserCreate
from livecommerce.accounts.security import create_access_token
from livecommerce.catalog import service as catalog
from livecommerce.catalog.models import Anchor, County, Household, Product, Station
from livecommerce.catalog.schemas import AnchorCreate, CountyCreate, HouseholdCreate, ProductCreate, Split, StationCreate
from livecommerce.kit.clock import utcnow
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Principal, Role
from livecommerce.kit.settings import Settings

_seq = itertools.count(1)
ROOT = Principal(id=0, username="factory", role=Role.admin, display_name="factory")


@dataclass
class TestUser:
    __test__ = False  # a user made for tests, not a test class for pytest to collect

    id: int
    username: str
    role: Role
    token: str
    anchor_id: int | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Factory:
    """Creates rows through the services, each in its own committed transaction."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def token_for(self, user_id: int, token_version: int = 0) -> str:
        return create_access_token(
            user_id=user_id, token_version=token_version, secret=self.settings.secret_key, now=utcnow(), ttl_seconds=3600
        )

    async def user(
        self,
        role: Role | str = Role.viewer,
        *,
        county_ids: list[int] | None = None,
        anchor_id: int | None = None,
        display_name: str | None = None,
    ) -> TestUser:
        n = next(_seq)
        role = Role(role)
        data = UserCreate(
            username=f"{role.value}{n}",
            password="correct horse battery",
            role=role,
            display_name=display_name or f"{role.value.title()} {n}",
            county_ids=county_ids or [],
            anchor_id=anchor_id,
        )
        async with self.db.transaction() as session:
            user = await accounts.create_user(session, data)
        assert user.id is not None
        return TestUser(id=user.id, username=user.username, role=role, token=self.token_for(user.id), anchor_id=anchor_id)

    async def county(self, **overrides: Any) -> County:
        n = next(_seq)
        data = CountyCreate(**{"name": f"County {n}", "code": f"C{n:05d}", "city": "Qingyuan", "province": "Guangdong", **overrides})
        async with self.db.transaction() as session:
            return await catalog.create_county(session, data)

    async def station(self, county_id: int, **overrides: Any) -> Station:
        data = StationCreate(**{"county_id": county_id, "name": f"Station {next(_seq)}", "village": "Shiling", **overrides})
        async with self.db.transaction() as session:
            return await catalog.create_station(session, ROOT, data)

    async def household(self, county_id: int, **overrides: Any) -> Household:
        n = next(_seq)
        data = HouseholdCreate(
            **{"county_id": county_id, "name": f"陈家{n}", "village": "Shiling", "registration_no": f"4418210{n:06d}", **overrides}
        )
        async with self.db.transaction() as session:
            return await catalog.create_household(session, ROOT, data)

    async def anchor(self, county_id: int, **overrides: Any) -> Anchor:
        data = AnchorCreate(**{"name": f"Anchor {next(_seq)}", "title": "County head", "county_id": county_id, **overrides})
        async with self.db.transaction() as session:
            return await catalog.create_anchor(session, ROOT, data)

    async def product(
        self, county_id: int, *, splits: list[tuple[str, int]] | None = None, price_fen: int = 1990, stock: int = 100, **overrides: Any
    ) -> Product:
        if splits is None:
            household = await self.household(county_id)
            splits = [(f"household:{household.id}", 7000), (f"county:{county_id}", 2000), ("platform", 1000)]
        data = ProductCreate(
            **{
                "name": f"Product {next(_seq)}",
                "county_id": county_id,
                "unit": "box",
                "price_fen": price_fen,
                "stock": stock,
                "splits": [Split(party=p, bp=bp) for p, bp in splits],
                **overrides,
            }
        )
        async with self.db.transaction() as session:
            return await catalog.create_product(session, ROOT, data, utcnow())
