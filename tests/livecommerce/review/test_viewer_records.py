"""The websocket handler notes each signed-in viewer once (the unique viewers of a review); anonymous viewers are only counted live."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from livecommerce.broadcasts.audience import StreamViewer, unique_viewers
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from tests.factories import Factory
from tests.streams.relay.conftest import _serve, connect, live_stream


@pytest.fixture
async def server(app: Any) -> AsyncIterator[str]:
    async for url in _serve(app, ws="auto"):
        yield url


async def _recorded(db: Database, stream_id: int) -> list[int]:
    async with db.transaction() as session:
        rows = await session.scalars(select(StreamViewer.user_id).where(StreamViewer.stream_id == stream_id).order_by(StreamViewer.user_id))
        return list(rows.all())


class TestRecordViewer:
    async def test_a_signed_in_viewer_is_recorded_once_however_often_it_connects(self, server: str, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        viewer = await make.user(Role.viewer)
        for _ in range(2):
            async with connect(server, stream.id, since=0, token=viewer.token) as ws:
                await asyncio.wait_for(ws.recv(), 5)
        assert await _recorded(db, stream.id) == [viewer.id]
        async with db.transaction() as session:
            assert await unique_viewers(session, [stream.id]) == {stream.id: 1}

    async def test_an_anonymous_viewer_leaves_no_record(self, server: str, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        async with connect(server, stream.id, since=0) as ws:
            await asyncio.wait_for(ws.recv(), 5)
        assert await _recorded(db, stream.id) == []
