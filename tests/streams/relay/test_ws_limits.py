"""Websocket abuse limits: connections per address, message size, message rate."""

from __future__ import annotations

import contextlib
import json

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from livecommerce.kit.db import Database
from livecommerce.kit.settings import Settings
from tests.factories import Factory
from tests.streams.relay.conftest import connect, live_stream, receive_json


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "rate_limits_enabled": True,
            "ws_max_connections_per_address": 3,
            "ws_max_message_bytes": 256,
            "ws_max_messages_per_minute": 5,
        }
    )


async def _closed_with(ws: object) -> int | None:
    with contextlib.suppress(ConnectionClosed):
        while True:
            await receive_json(ws, timeout=5)
    return ws.close_code  # type: ignore[attr-defined,no-any-return]


class TestConnectionsPerAddress:
    async def test_connections_past_the_limit_are_refused_with_429_and_freed_on_close(
        self, server: str, make: Factory, db: Database
    ) -> None:
        stream = await live_stream(make, db)
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(3):
                await stack.enter_async_context(connect(server, stream.id))
            with pytest.raises(InvalidStatus) as info:
                async with connect(server, stream.id):
                    pass
            assert info.value.response.status_code == 429
            assert info.value.response.headers["Retry-After"] == "5"
            assert json.loads(info.value.response.body)["status"] == 429
        async with connect(server, stream.id, since=0) as ws:
            assert (await receive_json(ws))["type"] == "stream.started"


class TestLimitsOff:
    async def test_with_rate_limits_off_an_address_may_open_more(self, server: str, make: Factory, db: Database, app: object) -> None:
        app.state.settings = app.state.settings.model_copy(update={"rate_limits_enabled": False})  # type: ignore[attr-defined]
        stream = await live_stream(make, db)
        async with contextlib.AsyncExitStack() as stack:
            sockets = [await stack.enter_async_context(connect(server, stream.id, since=0)) for _ in range(5)]
            for ws in sockets:
                assert (await receive_json(ws))["type"] == "stream.started"


class TestIncomingMessages:
    async def test_a_message_over_the_size_limit_closes_with_1009(self, server: str, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        async with connect(server, stream.id) as ws:
            await ws.send("x" * 1000)
            assert await _closed_with(ws) == 1009

    async def test_a_chatty_client_is_closed_with_1008(self, server: str, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        async with connect(server, stream.id) as ws:
            for _ in range(6):
                await ws.send("ping")
            assert await _closed_with(ws) == 1008

    async def test_a_few_small_messages_are_tolerated(self, server: str, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        async with connect(server, stream.id, since=0) as ws:
            for _ in range(3):
                await ws.send("hello")
            assert (await receive_json(ws))["type"] == "stream.started"
