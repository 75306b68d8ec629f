"""The websocket route over a real socket (uvicorn in this loop), on both backends."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
import websockets
from sqlalchemy import event
from websockets.exceptions import ConnectionClosed, InvalidStatus

from livecommerce.broadcasts.events import append_event
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from tests.factories import Factory
from tests.streams.relay.conftest import append_events, connect, live_stream, receive_json, receive_until

COALESCED = ("viewers.updated", "sales.updated")


class TestLiveDelivery:
    async def test_viewer_receives_committed_events_in_seq_order(self, server: str, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        async with connect(server, stream.id) as ws:
            last = await append_events(db, stream.id, 5)
            got = await receive_until(ws, last, skip_types=COALESCED)
        pinned = [m for m in got if m["type"] == "product.pinned"]
        assert [m["data"]["n"] for m in pinned] == [0, 1, 2, 3, 4]
        assert set(got[0]) == {"seq", "type", "stream_id", "ts", "data"}
        assert all(m["stream_id"] == stream.id for m in got)

    async def test_every_seq_arrives_once_with_no_gap(self, server: str, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        async with connect(server, stream.id, since=0) as ws:
            await append_events(db, stream.id, 30)
            async with db.transaction() as session:
                last = await append_event(session, stream.id, "product.pinned", {"n": "last"})
            got = await receive_until(ws, last.seq)
        assert [m["seq"] for m in got] == list(range(1, last.seq + 1))

    async def test_two_viewers_of_one_stream_both_receive(self, server: str, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        async with connect(server, stream.id, since=1) as first, connect(server, stream.id, since=1) as second:
            await append_events(db, stream.id, 3)
            last = await append_marker(db, stream.id)
            one = await receive_until(first, last)
            two = await receive_until(second, last)
        assert [m["seq"] for m in one] == [m["seq"] for m in two] == list(range(2, last + 1))
        assert [m["data"]["n"] for m in one if m["type"] == "product.pinned"] == [0, 1, 2, "marker"]

    async def test_events_written_without_the_hook_arrive_through_the_poll(self, server: str, make: Factory, db: Database) -> None:
        # A scheduler worker in another process writes to the outbox without publishing.
        stream = await live_stream(make, db)
        async with connect(server, stream.id) as ws:
            async with db.sessionmaker() as session:
                event = await append_event(session, stream.id, "stream.ended", {"by": "worker"})
                await session.commit()
            got = await receive_until(ws, event.seq, skip_types=COALESCED)
        assert got[-1]["type"] == "stream.ended"


class TestResume:
    async def test_since_replays_missed_events_then_live_ones_without_duplicates(self, server: str, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        await append_events(db, stream.id, 10)
        async with connect(server, stream.id, since=4) as ws:
            last = await append_events(db, stream.id, 3)
            got = await receive_until(ws, last)
        assert [m["seq"] for m in got] == list(range(5, last + 1))
        assert len([m for m in got if m["type"] == "product.pinned"]) >= 10

    async def test_since_beyond_the_bus_history_is_served_from_the_outbox(self, server: str, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        last = await append_events(db, stream.id, 1100)  # more than the bus keeps (1000)
        async with connect(server, stream.id, since=1) as ws:
            got = await receive_until(ws, last, timeout=30)
        assert [m["seq"] for m in got] == list(range(2, last + 1))

    async def test_since_zero_replays_the_whole_stream(self, server: str, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        async with connect(server, stream.id, since=0) as ws:
            first = await receive_json(ws)
        assert first["seq"] == 1
        assert first["type"] == "stream.started"

    async def test_reconnect_with_last_seq_continues_exactly(self, server: str, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        async with connect(server, stream.id, since=0) as ws:
            first = await append_events(db, stream.id, 4)
            before = await receive_until(ws, first)
        await append_events(db, stream.id, 4)  # missed while away
        async with connect(server, stream.id, since=before[-1]["seq"]) as ws:
            last = await append_events(db, stream.id, 2)
            after = await receive_until(ws, last)
        seqs = [m["seq"] for m in before + after]
        assert seqs == list(range(1, last + 1))


class TestAudience:
    async def test_anonymous_viewers_see_masked_buyers_and_no_staff_fields(self, server: str, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        async with connect(server, stream.id) as ws:
            async with db.transaction() as session:
                event = await append_event(
                    session, stream.id, "order.placed", {"order_id": 7, "buyer": "王小明", "buyer_id": 42, "total_fen": 1990}
                )
            got = await receive_until(ws, event.seq, skip_types=COALESCED)
        assert got[-1]["data"] == {"order_id": 7, "buyer": "王**", "total_fen": 1990}

    async def test_staff_see_the_whole_event(self, server: str, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        organizer = await make.user(Role.organizer, county_ids=[stream.county_id])
        async with connect(server, stream.id, token=organizer.token) as ws:
            async with db.transaction() as session:
                event = await append_event(session, stream.id, "order.placed", {"order_id": 7, "buyer": "王**", "buyer_id": 42})
            got = await receive_until(ws, event.seq, skip_types=COALESCED)
        assert got[-1]["data"]["buyer_id"] == 42

    async def test_token_in_the_authorization_header_is_accepted(self, server: str, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        admin = await make.user(Role.admin)
        async with connect(server, stream.id, since=0, additional_headers=admin.headers) as ws:
            assert (await receive_json(ws))["seq"] == 1

    async def test_viewer_role_gets_the_public_view(self, server: str, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        viewer = await make.user(Role.viewer)
        async with connect(server, stream.id, token=viewer.token) as ws:
            async with db.transaction() as session:
                event = await append_event(session, stream.id, "order.paid", {"order_id": 1, "buyer_id": 5, "buyer": "李**"})
            got = await receive_until(ws, event.seq, skip_types=COALESCED)
        assert "buyer_id" not in got[-1]["data"]


class TestRefusedHandshake:
    async def test_unknown_stream_is_404_problem(self, server: str, make: Factory, db: Database) -> None:
        with pytest.raises(InvalidStatus) as info:
            async with connect(server, 999999):
                pass
        assert info.value.response.status_code == 404
        assert json.loads(info.value.response.body)["status"] == 404

    async def test_bad_token_is_401(self, server: str, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        with pytest.raises(InvalidStatus) as info:
            async with connect(server, stream.id, token="not-a-token"):
                pass
        assert info.value.response.status_code == 401

    @pytest.mark.parametrize("since", ["-1", "abc", "1.5"])
    async def test_malformed_since_is_422(self, server: str, make: Factory, db: Database, since: str) -> None:
        stream = await live_stream(make, db)
        with pytest.raises(InvalidStatus) as info:
            async with websockets.connect(f"{server}/ws/streams/{stream.id}?since={since}"):
                pass
        assert info.value.response.status_code == 422


class TestHandshakeOfARelayedStream:
    async def test_another_anonymous_viewer_is_admitted_without_a_query(self, server: str, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        statements: list[str] = []

        def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)

        async with connect(server, stream.id) as first:
            last = await append_events(db, stream.id, 1)
            await receive_until(first, last, skip_types=COALESCED)
            engines = {db.engine.sync_engine, db.read_engine.sync_engine}
            for engine in engines:
                event.listen(engine, "before_cursor_execute", note)
            try:
                async with connect(server, stream.id) as second:
                    last = await append_events(db, stream.id, 1)
                    got = await receive_until(second, last, skip_types=COALESCED)
            finally:
                for engine in engines:
                    event.remove(engine, "before_cursor_execute", note)
        assert got[-1]["seq"] == last
        assert not [s for s in statements if "FROM streams" in s], statements

    async def test_a_bad_token_is_still_401(self, server: str, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        async with connect(server, stream.id):
            with pytest.raises(InvalidStatus) as info:
                async with connect(server, stream.id, token="not-a-token"):
                    pass
        assert info.value.response.status_code == 401

    async def test_an_unknown_stream_is_still_404_while_another_is_relayed(self, server: str, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        async with connect(server, stream.id):
            with pytest.raises(InvalidStatus) as info:
                async with connect(server, 999999):
                    pass
        assert info.value.response.status_code == 404


class TestSlowConsumer:
    async def test_stalled_viewer_is_cut_off_while_a_healthy_one_keeps_receiving(
        self, server: str, make: Factory, db: Database, app: Any
    ) -> None:
        app.state.relay.viewer_buffer = 20
        stream = await live_stream(make, db)
        stalled_sock = socket.socket()
        stalled_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        host, port = server.removeprefix("ws://").split(":")
        stalled_sock.connect((host, int(port)))
        stalled_sock.setblocking(False)
        # Large events get past the kernel's socket buffers (up to 4 MiB on Linux) quickly.
        big = "x" * 50_000
        # max_queue=1: the client library stops reading the socket once one message waits.
        async with (
            connect(server, stream.id, since=1, sock=stalled_sock, max_queue=1) as stalled,
            connect(server, stream.id, since=1, max_queue=None) as healthy,
        ):
            reading = asyncio.create_task(receive_until(healthy, 152, timeout=30))  # stream.started, 150, marker
            await append_events(db, stream.id, 150, blob=big)
            last = await append_marker(db, stream.id)
            got = await reading
            got += await receive_until(healthy, last) if got[-1]["seq"] < last else []
            assert [m["seq"] for m in got] == list(range(2, last + 1))
            assert len([m for m in got if m["type"] == "product.pinned"]) == 151  # with the marker
            received: list[int] = []
            with pytest.raises(ConnectionClosed) as info:
                async with asyncio.timeout(20):
                    while True:
                        received.append(json.loads(await stalled.recv())["seq"])
        assert info.value.rcvd is not None and info.value.rcvd.code == 4008
        assert received == list(range(2, 2 + len(received)))  # a gap-free prefix, then the cut
        assert len(received) < 150


async def append_marker(db: Database, stream_id: int) -> int:
    """Append one more event and return its seq (everything before it is committed)."""
    async with db.transaction() as session:
        return (await append_event(session, stream_id, "product.pinned", {"n": "marker"})).seq


class TestPresence:
    async def test_viewer_count_goes_out_as_viewers_updated(self, server: str, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        async with connect(server, stream.id) as first, connect(server, stream.id):
            async with asyncio.timeout(10):
                while True:
                    message = await receive_json(first)
                    if message["type"] == "viewers.updated" and message["data"]["count"] == 2:
                        break

    async def test_one_signed_in_viewer_in_two_tabs_counts_once(self, server: str, make: Factory, db: Database) -> None:
        stream = await live_stream(make, db)
        viewer = await make.user(Role.viewer)
        async with (
            connect(server, stream.id, token=viewer.token) as first,
            connect(server, stream.id, token=viewer.token),
            connect(server, stream.id),
        ):
            counts: list[int] = []
            async with asyncio.timeout(10):
                while not counts or counts[-1] != 2:
                    message = await receive_json(first)
                    if message["type"] == "viewers.updated":
                        counts.append(message["data"]["count"])
            await asyncio.sleep(0.5)  # a count of three would come within a coalescer tick or two
            while True:
                try:
                    message = await receive_json(first, timeout=0.3)
                except TimeoutError:
                    break
                if message["type"] == "viewers.updated":
                    counts.append(message["data"]["count"])
        assert max(counts) == 2


class TestShutdown:
    async def test_relay_stop_closes_viewers_with_going_away(self, server: str, make: Factory, db: Database, app: Any) -> None:
        stream = await live_stream(make, db)
        async with connect(server, stream.id) as ws:
            await asyncio.sleep(0.1)
            stopping = asyncio.create_task(app.state.relay.stop())
            with pytest.raises(ConnectionClosed) as info:
                async with asyncio.timeout(5):
                    while True:
                        await ws.recv()
            await stopping
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001
        assert app.state.relay.viewers == set()
