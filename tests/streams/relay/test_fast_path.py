"""The hub's fast path: frames encoded once per audience and written straight to uvicorn's transports."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from livecommerce.broadcasts.events import append_event
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from streams.relay.fastpath import fast_socket
from streams.relay.hub import Hub, Viewer, make_frame
from tests.factories import Factory
from tests.streams.relay.conftest import append_events, connect, live_stream, receive_until

COALESCED = ("viewers.updated", "sales.updated")


def hub_of(app: Any, stream_id: int) -> Hub:
    hub: Hub = app.state.relay.hubs[stream_id]
    return hub


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def live_viewers(app: Any, stream_id: int, count: int) -> list[Viewer]:
    """Wait until `count` viewers of the stream are on the fast path; return them."""
    hub = hub_of(app, stream_id)
    await until(lambda: len(hub.live) == count)
    return list(hub.live)


async def receive_pinned(ws: Any, count: int, timeout: float = 40.0) -> list[dict[str, Any]]:
    """Every message until `count` product.pinned events have arrived."""
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while len([m for m in got if m["type"] == "product.pinned"]) < count:
            got.append(json.loads(await ws.recv()))
    return got


class TestMakeFrame:
    def test_public_and_staff_frames_are_encoded_once_each(self) -> None:
        envelope = {"seq": 3, "type": "order.placed", "stream_id": 1, "ts": "t", "data": {"buyer": "王小明", "buyer_id": 42}}
        frame = make_frame(envelope)
        assert json.loads(frame.public_wire[2:])["data"] == {"buyer": "王**"}
        assert json.loads(frame.staff_wire[2:])["data"] == {"buyer": "王小明", "buyer_id": 42}
        assert frame.public_wire[0] == 0x81  # FIN + text, unmasked: one frame serves every client of the audience
        assert frame.public_wire[1] == len(frame.public.encode())

    def test_an_event_without_private_data_shares_one_encoding(self) -> None:
        frame = make_frame({"seq": 1, "type": "product.pinned", "stream_id": 1, "ts": "t", "data": {"product_id": 5}})
        assert frame.public_wire is frame.staff_wire

    def test_a_long_event_gets_the_extended_length_header(self) -> None:
        frame = make_frame({"seq": 1, "type": "product.pinned", "stream_id": 1, "ts": "t", "data": {"blob": "x" * 70_000}})
        assert frame.public_wire[1] == 127
        assert int.from_bytes(frame.public_wire[2:10], "big") == len(frame.public.encode())


class TestFastSocket:
    async def test_a_send_that_is_not_a_uvicorn_connection_has_no_fast_path(self) -> None:
        async def send(message: Any) -> None:
            pass

        assert fast_socket(send) is None

    @pytest.mark.filterwarnings("ignore::uvicorn.config.UvicornDeprecationWarning")
    async def test_the_legacy_websockets_protocol_falls_back_to_the_asgi_send(
        self, legacy_server: str, make: Factory, db: Database, app: Any
    ) -> None:
        stream = await live_stream(make, db)
        async with connect(legacy_server, stream.id, since=0) as ws:
            last = await append_events(db, stream.id, 20)
            got = await receive_until(ws, last)
            [viewer] = hub_of(app, stream.id).viewers
            assert viewer.fast is None and not viewer.live
        assert [m["seq"] for m in got] == list(range(1, last + 1))


class TestLiveFanOut:
    async def test_caught_up_viewers_are_written_to_directly_in_seq_order(self, server: str, make: Factory, db: Database, app: Any) -> None:
        stream = await live_stream(make, db)
        await append_events(db, stream.id, 30)
        async with connect(server, stream.id, since=0) as first, connect(server, stream.id, since=10) as second:
            await live_viewers(app, stream.id, 2)  # each caught up from history first
            last = await append_events(db, stream.id, 20)
            one = await receive_until(first, last)
            two = await receive_until(second, last)
            assert len(hub_of(app, stream.id).live) == 2
        assert [m["seq"] for m in one] == list(range(1, last + 1))
        assert [m["seq"] for m in two] == list(range(11, last + 1))

    async def test_staff_and_anonymous_viewers_get_their_own_encoding(self, server: str, make: Factory, db: Database, app: Any) -> None:
        stream = await live_stream(make, db)
        organizer = await make.user(Role.organizer, county_ids=[stream.county_id])
        async with connect(server, stream.id) as anonymous, connect(server, stream.id, token=organizer.token) as staff:
            viewers = await live_viewers(app, stream.id, 2)
            assert sorted(v.staff for v in viewers) == [False, True]
            async with db.transaction() as session:
                event = await append_event(session, stream.id, "order.placed", {"order_id": 7, "buyer": "王小明", "buyer_id": 42})
            public = await receive_until(anonymous, event.seq, skip_types=COALESCED)
            whole = await receive_until(staff, event.seq, skip_types=COALESCED)
        assert public[-1]["data"] == {"order_id": 7, "buyer": "王**"}
        assert whole[-1]["data"] == {"order_id": 7, "buyer": "王小明", "buyer_id": 42}

    async def test_a_viewer_joining_mid_stream_gets_its_backlog_before_joining_the_broadcast(
        self, server: str, make: Factory, db: Database, app: Any
    ) -> None:
        stream = await live_stream(make, db)
        await append_events(db, stream.id, 10)
        async with connect(server, stream.id) as watching:
            await live_viewers(app, stream.id, 1)
            publishing = asyncio.create_task(append_events(db, stream.id, 120))
            await until(lambda: hub_of(app, stream.id).last_seq >= 50, timeout=20)
            async with connect(server, stream.id, since=5) as joining:
                last = await publishing
                got = await receive_until(joining, last, timeout=20)
                await live_viewers(app, stream.id, 2)
            await receive_until(watching, last, timeout=20)
        assert [m["seq"] for m in got] == list(range(6, last + 1))


class TestBackpressure:
    async def test_a_burst_over_the_byte_bound_is_read_from_history_without_a_cut(
        self, server: str, make: Factory, db: Database, app: Any
    ) -> None:
        app.state.relay.viewer_buffer_bytes = 16 * 1024
        stream = await live_stream(make, db)
        async with connect(server, stream.id, since=1, max_queue=None) as ws:
            [viewer] = await live_viewers(app, stream.id, 1)
            async with db.transaction() as session:  # one commit: the hub gets 200 events at once (400 KB)
                for i in range(200):
                    last = (await append_event(session, stream.id, "product.pinned", {"n": i, "blob": "x" * 2000})).seq
            got = await receive_until(ws, last, timeout=20)
            assert [m["seq"] for m in got] == list(range(2, last + 1))
            async with db.transaction() as session:
                marker = (await append_event(session, stream.id, "product.pinned", {"n": "marker"})).seq
            await receive_until(ws, marker)
            await until(lambda: viewer.live)  # caught up again: back on the fast path
            assert not viewer.closing.done()

    @pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "queued"])
    async def test_a_stalled_client_is_cut_off_while_healthy_ones_receive_everything(
        self, server: str, make: Factory, db: Database, app: Any, fast_path: bool
    ) -> None:
        relay = app.state.relay
        relay.fast_path = fast_path
        relay.viewer_buffer_bytes = 64 * 1024
        relay.viewer_buffer = 20
        stream = await live_stream(make, db)
        stalled_sock = socket.socket()
        stalled_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        host, port = server.removeprefix("ws://").split(":")
        stalled_sock.connect((host, int(port)))
        stalled_sock.setblocking(False)
        async with (
            connect(server, stream.id, since=1, sock=stalled_sock, max_queue=1) as stalled,
            connect(server, stream.id, since=1, max_queue=None) as first,
            connect(server, stream.id, since=1, max_queue=None) as second,
        ):
            if fast_path:
                await live_viewers(app, stream.id, 3)
            readers = [asyncio.create_task(receive_pinned(ws, 150)) for ws in (first, second)]
            last = await append_events(db, stream.id, 150, blob="x" * 50_000)  # past the kernel buffers (up to 4 MiB)
            for got in await asyncio.gather(*readers):
                assert [m["seq"] for m in got] == list(range(2, last + 1))
            received: list[int] = []
            with pytest.raises(ConnectionClosed) as info:
                async with asyncio.timeout(20):
                    while True:
                        received.append(json.loads(await stalled.recv())["seq"])
        assert info.value.rcvd is not None and info.value.rcvd.code == 4008
        assert info.value.rcvd.reason == f"too slow; reconnect with since={received[-1]}"
        assert received == list(range(2, 2 + len(received)))
        assert len(received) < 150
        async with connect(server, stream.id, since=received[-1]) as resumed:
            rest = await receive_until(resumed, last)
        assert [m["seq"] for m in rest] == list(range(received[-1] + 1, last + 1))
