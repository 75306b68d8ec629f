"""A scripted broadcast for review tests: viewers, pins, a flash deal and orders at known minutes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from livecommerce.broadcasts import service as broadcasts
from livecommerce.broadcasts.audience import record_viewer
from livecommerce.broadcasts.events import EventType, append_event
from livecommerce.kit.clock import FrozenClock
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from schedulers.models import Booking, Campaign, Slot, Studio
from tests.factories import Factory, TestUser

# Minute 0 of the broadcast is 10:00 UTC; it goes live 20 s into it.
MINUTE0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def at(minute: int, second: int = 0) -> datetime:
    """A time `minute:second` into the broadcast's clock minutes."""
    return MINUTE0 + timedelta(minutes=minute, seconds=second)


async def new_stream(make: Factory, county_id: int, anchor_id: int, product_ids: list[int], *, title: str = "Harvest") -> int:
    """A scheduled stream hosted by the anchor and featuring the products."""
    async with make.db.transaction() as session:
        stream = await broadcasts.create_stream(
            session,
            title=title,
            scheduled_start=at(0),
            scheduled_end=at(60),
            anchor_ids=[anchor_id],
            product_ids=product_ids,
        )
    assert stream.id is not None
    return stream.id


async def go_live(db: Database, stream_id: int, when: datetime) -> None:
    async with db.transaction() as session:
        await broadcasts.start_stream(session, stream_id, now=when)


async def end(db: Database, stream_id: int, when: datetime) -> None:
    async with db.transaction() as session:
        await broadcasts.end_stream(session, stream_id, now=when)


async def viewers_now(db: Database, stream_id: int, count: int, when: datetime) -> None:
    """What the relay's coalescer writes when the number watching changes."""
    async with db.transaction() as session:
        await append_event(session, stream_id, EventType.viewers_updated, {"count": count}, ts=when)


async def watched(db: Database, stream_id: int, user: TestUser, when: datetime) -> None:
    """What the websocket handler records when a signed-in viewer connects."""
    async with db.transaction() as session:
        await record_viewer(session, stream_id, user.id, now=when)


async def pin(db: Database, stream_id: int, product_id: int, when: datetime) -> None:
    async with db.transaction() as session:
        await broadcasts.pin_product(session, stream_id, product_id, now=when)


async def flash(db: Database, stream_id: int, type: str, deal_id: int, product_id: int, when: datetime) -> None:
    """A flash-deal event as the contract fixes it (the deals themselves are built elsewhere)."""
    data = {
        "deal_id": deal_id,
        "product_id": product_id,
        "price_fen": 1000,
        "quantity": 5,
        "remaining": 5,
        "starts_at": when.isoformat(),
        "ends_at": when.isoformat(),
    }
    async with db.transaction() as session:
        await append_event(session, stream_id, type, data, ts=when)


@dataclass
class Shop:
    """Orders through the HTTP API at the times the clock is set to."""

    client: httpx.AsyncClient
    clock: FrozenClock
    stream_id: int

    async def order(self, buyer: TestUser, items: list[tuple[int, int]], when: datetime) -> dict[str, Any]:
        self.clock.set(when)
        r = await self.client.post(
            f"/api/streams/{self.stream_id}/orders",
            json={"items": [{"product_id": p, "quantity": q} for p, q in items]},
            headers={**buyer.headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    async def pay(self, buyer: TestUser, order_id: int, when: datetime) -> None:
        self.clock.set(when)
        r = await self.client.post(f"/api/orders/{order_id}/pay", headers=buyer.headers)
        assert r.status_code == 200, r.text

    async def cancel(self, buyer: TestUser, order_id: int, when: datetime) -> None:
        self.clock.set(when)
        r = await self.client.post(f"/api/orders/{order_id}/cancel", headers=buyer.headers)
        assert r.status_code == 200, r.text

    async def refund(self, staff: TestUser, order_id: int, when: datetime) -> None:
        self.clock.set(when)
        r = await self.client.post(f"/api/orders/{order_id}/refund", headers=staff.headers)
        assert r.status_code == 200, r.text


async def in_campaign(db: Database, campaign_name: str, stream_ids: list[int], campaign_id: int | None = None) -> int:
    """Book the streams into slots of one campaign (rows written directly: the booking rules are not under test)."""
    async with db.transaction() as session:
        if campaign_id is None:
            campaign = Campaign(name=campaign_name, starts_at=at(-60 * 24), ends_at=at(60 * 24))
            session.add(campaign)
            await session.flush()
            campaign_id = campaign.id
        studio = Studio(name=f"Studio {uuid.uuid4().hex[:6]}", platform="douyin")
        session.add(studio)
        await session.flush()
        assert studio.id is not None
        for n, stream_id in enumerate(stream_ids):
            slot = Slot(studio_id=studio.id, campaign_id=campaign_id, starts_at=at(n * 120), ends_at=at(n * 120 + 60))
            session.add(slot)
            await session.flush()
            assert slot.id is not None
            session.add(Booking(slot_id=slot.id, stream_id=stream_id, status="ended", starts_at=slot.starts_at, ends_at=slot.ends_at))
        await session.flush()
    assert campaign_id is not None
    return campaign_id


@dataclass
class Broadcast:
    """The scripted broadcast and the people in it."""

    stream_id: int
    county_id: int
    anchor_id: int
    oranges: int
    chicken: int
    host: TestUser
    organizer: TestUser
    buyers: dict[str, TestUser]
    order_ids: dict[str, int]


async def scripted_broadcast(make: Factory, client: httpx.AsyncClient, clock: FrozenClock) -> Broadcast:
    """Live 10:00:20–10:06:30; viewers join and leave; two pins; a flash deal; four orders paid, one cancelled, one refunded."""
    db = make.db
    county = await make.county(name="Yangshan")
    anchor = await make.anchor(county.id, name="Li Ming")
    oranges = await make.product(county.id, name="Sugar oranges", price_fen=3990, stock=50)
    chicken = await make.product(county.id, name="Free-range chicken", price_fen=12800, stock=50)
    host = await make.user(Role.cadre, anchor_id=anchor.id, county_ids=[county.id])
    organizer = await make.user(Role.organizer, county_ids=[county.id])
    buyers = {name: await make.user(Role.viewer, display_name=name) for name in ("A", "B", "C", "D", "E")}
    stream_id = await new_stream(make, county.id, anchor.id, [oranges.id, chicken.id])
    shop = Shop(client, clock, stream_id)

    await go_live(db, stream_id, at(0, 20))
    await watched(db, stream_id, buyers["A"], at(0, 25))
    await viewers_now(db, stream_id, 1, at(0, 30))
    await pin(db, stream_id, oranges.id, at(0, 40))
    await watched(db, stream_id, buyers["B"], at(1, 0))
    await watched(db, stream_id, buyers["C"], at(1, 2))
    a1 = await shop.order(buyers["A"], [(oranges.id, 2)], at(1, 5))
    await viewers_now(db, stream_id, 3, at(1, 10))
    await shop.pay(buyers["A"], a1["id"], at(1, 20))
    await viewers_now(db, stream_id, 2, at(1, 50))
    b1 = await shop.order(buyers["B"], [(chicken.id, 1)], at(2, 0))
    await pin(db, stream_id, chicken.id, at(2, 15))
    c1 = await shop.order(buyers["C"], [(oranges.id, 1)], at(2, 30))
    await shop.cancel(buyers["C"], c1["id"], at(2, 40))
    await flash(db, stream_id, "flash.announced", 7, chicken.id, at(3, 0))
    await watched(db, stream_id, buyers["E"], at(3, 1))
    await watched(db, stream_id, buyers["B"], at(3, 2))  # B comes back: still one viewer
    await viewers_now(db, stream_id, 4, at(3, 5))
    await shop.pay(buyers["B"], b1["id"], at(3, 10))
    await flash(db, stream_id, "flash.started", 7, chicken.id, at(3, 30))
    a2 = await shop.order(buyers["A"], [(oranges.id, 1)], at(4, 0))
    await shop.pay(buyers["A"], a2["id"], at(4, 10))
    await viewers_now(db, stream_id, 1, at(4, 40))
    d1 = await shop.order(buyers["D"], [(chicken.id, 1)], at(4, 50))  # D buys without having watched signed in
    await shop.pay(buyers["D"], d1["id"], at(5, 0))
    await shop.refund(organizer, a2["id"], at(5, 10))
    await flash(db, stream_id, "flash.ended", 7, chicken.id, at(5, 30))
    await end(db, stream_id, at(6, 30))
    clock.set(at(10))
    return Broadcast(
        stream_id=stream_id,
        county_id=county.id,
        anchor_id=anchor.id,
        oranges=oranges.id,
        chicken=chicken.id,
        host=host,
        organizer=organizer,
        buyers=buyers,
        order_ids={"a1": a1["id"], "b1": b1["id"], "c1": c1["id"], "a2": a2["id"], "d1": d1["id"]},
    )
