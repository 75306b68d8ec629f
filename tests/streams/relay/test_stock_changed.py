"""Every change of a featured product's buckets reaches viewers as `stock.changed`, whoever made it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from livecommerce.broadcasts import service as broadcasts
from livecommerce.kit.clock import utcnow
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from livecommerce.kit.signals import StockChange, stock_changed
from streams.relay.outbox import outbox_after
from tests.factories import Factory
from tests.streams.relay.conftest import connect, live_stream, receive_json


async def next_of_type(ws: Any, type: str, timeout: float = 1.0) -> dict[str, Any]:
    """The next message of one type, within `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            message = await receive_json(ws)
            if message["type"] == type:
                return message


async def stock_events(db: Database, stream_id: int) -> list[dict[str, Any]]:
    return [e["data"] for e in await outbox_after(db, stream_id, 0) if e["type"] == "stock.changed"]


class TestStaffStockEdit:
    async def test_a_staff_stock_cut_reaches_a_connected_viewer_within_a_second(
        self, server: str, client: httpx.AsyncClient, make: Factory, db: Database
    ) -> None:
        stream = await live_stream(make, db)
        admin = await make.user(Role.admin)
        async with connect(server, stream.id) as ws:
            r = await client.patch(f"/api/products/{stream.product_id}", json={"stock": 3}, headers=admin.headers)
            assert r.status_code == 200, r.text
            message = await next_of_type(ws, "stock.changed")
        assert message["data"] == {"product_id": stream.product_id, "stock": 3, "reserved": 0, "sold": 0}

    async def test_an_edit_that_leaves_stock_alone_announces_nothing(self, client: httpx.AsyncClient, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        admin = await make.user(Role.admin)
        r = await client.patch(f"/api/products/{stream.product_id}", json={"description": "Free-range"}, headers=admin.headers)
        assert r.status_code == 200, r.text
        assert await stock_events(db, stream.id) == []


class TestStockChangedSignal:
    async def test_every_live_stream_featuring_the_product_gets_it_with_the_deal(self, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        async with db.transaction() as session:
            await stock_changed.send(session, (StockChange(stream.product_id, 7, 2, 1, deal_id=4, remaining=5),))
        assert await stock_events(db, stream.id) == [
            {"product_id": stream.product_id, "stock": 7, "reserved": 2, "sold": 1, "deal_id": 4, "remaining": 5}
        ]

    async def test_streams_not_live_or_not_featuring_it_get_nothing(self, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        other = await make.product(stream.county_id)
        assert other.id is not None
        async with db.transaction() as session:
            await stock_changed.send(session, (StockChange(other.id, 1, 0, 0),))
            await broadcasts.end_stream(session, stream.id, now=utcnow())
        async with db.transaction() as session:
            await stock_changed.send(session, (StockChange(stream.product_id, 1, 0, 0),))
        assert await stock_events(db, stream.id) == []
