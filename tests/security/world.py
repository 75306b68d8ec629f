"""Two counties seen from each role: everything on the `in` side belongs to the callers, the `out` side to others.

The callers (a viewer, a cadre hosting the `in` anchor, an organizer of the `in` county and an
admin) act on targets of either side; helpers make the fresh streams, orders and bookings that
state-changing calls need.
"""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import httpx
from sqlmodel import col, select

from livecommerce.accounts.models import User, UserCounty
from livecommerce.accounts.security import create_access_token, hash_password
from livecommerce.broadcasts import service as streams_service
from livecommerce.catalog.schemas import AnchorCreate, HouseholdCreate, ProductCreate, Split, StationCreate
from livecommerce.kit.clock import utcnow
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from livecommerce.kit.settings import Settings
from livecommerce.payments.webhook import sign
from tests.factories import ROOT, Factory

PASSWORD = "correct horse battery"
_PASSWORD_HASH = hash_password(PASSWORD)
ROLES = ("anonymous", "viewer", "cadre", "organizer", "admin")
Scope = Literal["in", "out"]
_seq = itertools.count(1)


@dataclass
class Call:
    """One HTTP request to make."""

    method: str
    url: str
    json: Any = None
    data: dict[str, str] | None = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Side:
    """A county with its household, station, anchor, product, and the people who belong to it."""

    county_id: int
    household_id: int
    household_name: str
    registration_no: str
    station_id: int
    anchor_id: int
    product_id: int
    viewer_id: int
    cadre_id: int
    organizer_id: int
    cached: dict[str, Any] = field(default_factory=dict)


class World:
    """The `in` and `out` sides, an admin, and helpers that call the app as any of them."""

    def __init__(self, client: httpx.AsyncClient, db: Database, settings: Settings, make: Factory) -> None:
        self.client = client
        self.db = db
        self.settings = settings
        self.make = make
        self.sides: dict[str, Side] = {}
        self.admin_id = 0
        self.studio_id = 0
        self._slot_at = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(days=2)

    async def build(self) -> World:
        """Create both sides, the admin and a studio."""
        self.admin_id = await self.user(Role.admin)
        for scope in ("in", "out"):
            self.sides[scope] = await self._side()
        r = await self.client.post("/api/studios", json={"name": "Studio", "platform": "douyin"}, headers=await self.headers("admin"))
        assert r.status_code == 201, r.text
        self.studio_id = int(r.json()["id"])
        return self

    async def _side(self) -> Side:
        county = await self.make.county()
        assert county.id is not None
        n = next(_seq)
        async with self.db.transaction() as session:
            from livecommerce.catalog import service as catalog

            household = await catalog.create_household(
                session,
                ROOT,
                HouseholdCreate(county_id=county.id, name=f"黄秀英{n}", village="Shiling", registration_no=f"44182119{n:06d}"),
            )
            station = await catalog.create_station(
                session, ROOT, StationCreate(county_id=county.id, name=f"Station {n}", village="Shiling")
            )
            anchor = await catalog.create_anchor(session, ROOT, AnchorCreate(name=f"Anchor {n}", title="County head", county_id=county.id))
            splits = [Split(party=f"household:{household.id}", bp=9000), Split(party="platform", bp=1000)]
            product = await catalog.create_product(
                session,
                ROOT,
                ProductCreate(name=f"Chicken {n}", county_id=county.id, unit="bird", price_fen=9900, stock=100_000, splits=splits),
                utcnow(),
            )
        assert household.id and station.id and anchor.id and product.id
        return Side(
            county_id=county.id,
            household_id=household.id,
            household_name=household.name,
            registration_no=household.registration_no,
            station_id=station.id,
            anchor_id=anchor.id,
            product_id=product.id,
            viewer_id=await self.user(Role.viewer),
            cadre_id=await self.user(Role.cadre, county_ids=[county.id], anchor_id=anchor.id),
            organizer_id=await self.user(Role.organizer, county_ids=[county.id]),
        )

    async def user(self, role: Role, *, county_ids: list[int] | None = None, anchor_id: int | None = None) -> int:
        """A user inserted directly (one precomputed hash: argon2 per user would dominate the test); its id."""
        n = next(_seq)
        async with self.db.transaction() as session:
            user = User(
                username=f"{role.value}_{n}_{uuid.uuid4().hex[:6]}",
                password_hash=_PASSWORD_HASH,
                role=role,
                display_name=f"王{role.value}{n}",
                anchor_id=anchor_id,
            )
            session.add(user)
            await session.flush()
            assert user.id is not None
            session.add_all(UserCounty(user_id=user.id, county_id=c) for c in county_ids or [])
        return user.id

    def caller_id(self, role: str) -> int | None:
        """The id of the user acting as `role` (None for anonymous)."""
        if role == "anonymous":
            return None
        if role == "admin":
            return self.admin_id
        return int(getattr(self.sides["in"], f"{role}_id"))

    async def headers(self, role: str) -> dict[str, str]:
        """A bearer header for the role's user, minted for its current credential version."""
        user_id = self.caller_id(role)
        return {} if user_id is None else await self.bearer(user_id)

    async def bearer(self, user_id: int) -> dict[str, str]:
        """A valid bearer header for any user."""
        return {"Authorization": f"Bearer {await self.token(user_id)}"}

    async def token(self, user_id: int, kind: str = "access") -> str:
        """A token for the user's current credential version."""
        async with self.db.sessionmaker() as session:
            version = await session.scalar(select(col(User.token_version)).where(col(User.id) == user_id))
        assert version is not None
        return create_access_token(
            user_id=user_id, token_version=version, secret=self.settings.secret_key, now=utcnow(), ttl_seconds=3600, kind=kind
        )

    async def username(self, user_id: int) -> str:
        """The user's sign-in name."""
        async with self.db.sessionmaker() as session:
            name = await session.scalar(select(col(User.username)).where(col(User.id) == user_id))
        assert name is not None
        return name

    # --- fresh state for calls that change it ------------------------------------------------

    async def stream(self, side: Side, *, live: bool = True) -> int:
        """A new stream hosted by the side's anchor featuring its product; live unless told otherwise."""
        now = utcnow()
        async with self.db.transaction() as session:
            stream = await streams_service.create_stream(
                session,
                title="Harvest live",
                scheduled_start=now + timedelta(minutes=1),
                scheduled_end=now + timedelta(hours=2),
                anchor_ids=[side.anchor_id],
                product_ids=[side.product_id],
            )
            assert stream.id is not None
            if live:
                await streams_service.start_stream(session, stream.id, now=now)
        return stream.id

    async def order(self, side: Side, *, paid: bool = False) -> dict[str, Any]:
        """A new order by the side's viewer in a live stream of the side; paid when asked."""
        stream_id = side.cached.get("live_stream") or await self.stream(side)
        side.cached["live_stream"] = stream_id
        headers = {**await self.bearer(side.viewer_id), "Idempotency-Key": uuid.uuid4().hex}
        body = {"items": [{"product_id": side.product_id, "quantity": 1}]}
        r = await self.client.post(f"/api/streams/{stream_id}/orders", json=body, headers=headers)
        assert r.status_code == 201, r.text
        order: dict[str, Any] = r.json()
        if paid:
            r = await self.client.post(f"/api/orders/{order['id']}/pay", headers=await self.bearer(side.viewer_id))
            assert r.status_code == 200, r.text
            order = r.json()
        return order

    async def slot(self) -> int:
        """A new slot on the studio, later than every slot before it."""
        self._slot_at += timedelta(hours=3)
        body = {
            "studio_id": self.studio_id,
            "starts_at": self._slot_at.isoformat(),
            "ends_at": (self._slot_at + timedelta(hours=1)).isoformat(),
        }
        r = await self.client.post("/api/slots", json=body, headers=await self.headers("admin"))
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    async def booking(self, side: Side) -> int:
        """A new requested booking of the side's anchor, made by the admin."""
        body = {"slot_id": await self.slot(), "anchor_ids": [side.anchor_id], "product_ids": [side.product_id]}
        r = await self.client.post("/api/bookings", json=body, headers=await self.headers("admin"))
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    async def cached(self, side: Side, key: str, make: Any) -> Any:
        """A target made once per side and reused by read-only calls."""
        if key not in side.cached:
            side.cached[key] = await make()
        return side.cached[key]

    def webhook(self, order: dict[str, Any]) -> Call:
        """A correctly signed payment notice for the order."""
        body = json.dumps(
            {
                "provider": "acme",
                "provider_txn_id": uuid.uuid4().hex,
                "order_id": order["id"],
                "amount_fen": order["total_fen"],
                "status": "paid",
            }
        ).encode()
        headers = {"X-Signature": sign(self.settings.payment_webhook_secret, body), "Content-Type": "application/json"}
        return Call("POST", "/api/payments/webhook", content=body, headers=headers)
