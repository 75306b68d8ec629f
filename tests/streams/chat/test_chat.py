"""In-stream chat over the websocket, and its moderation endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from livecommerce.kit.clock import Clock, utcnow
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Principal, Role
from livecommerce.kit.settings import Settings
from streams.chat.models import ChatMessage, ChatMute
from streams.chat.poster import ChatPoster
from streams.chat.service import ChatRefused, ChatRules, Refusal
from streams.relay.outbox import outbox_after
from tests import factories
from tests.factories import Factory
from tests.livecommerce.orders.helpers import open_stream
from tests.streams.relay.conftest import LiveStream, connect, live_stream, receive_json

COALESCED = ("viewers.updated", "sales.updated")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"chat_blocked_words": ["SpamWord"], "chat_messages_per_window": 3, "chat_window_seconds": 60})


async def next_of(ws: Any, *types: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next message of one of the types."""
    async with asyncio.timeout(timeout):
        while True:
            message = await receive_json(ws)
            if message["type"] in types:
                return message


async def nothing_of(ws: Any, *types: str, seconds: float = 0.7) -> None:
    """No message of these types arrives within `seconds`."""
    with pytest.raises(TimeoutError):
        await next_of(ws, *types, timeout=seconds)


async def say(ws: Any, text: Any) -> None:
    await ws.send(json.dumps({"type": "chat.send", "text": text}))


async def chatter(make: Factory, name: str = "张小凡") -> factories.TestUser:
    return await make.user(Role.viewer, display_name=name)


@pytest.fixture
async def stream(make: Factory, db: Database) -> LiveStream:
    return await live_stream(make, db)


class TestDelivery:
    async def test_a_message_reaches_every_viewer_with_its_seq_and_a_masked_author(
        self, server: str, make: Factory, stream: LiveStream
    ) -> None:
        alice = await chatter(make)
        async with connect(server, stream.id, token=alice.token) as sender, connect(server, stream.id) as anonymous:
            await say(sender, "  好吃吗？ ")
            mine = await next_of(sender, "chat.message", "chat.refused")
            theirs = await next_of(anonymous, "chat.message")
        assert mine == theirs
        assert mine["data"]["text"] == "好吃吗？"
        assert mine["data"]["author"] == "张**"
        assert "user_id" not in mine["data"]
        assert isinstance(mine["seq"], int) and isinstance(mine["data"]["message_id"], int)

    async def test_staff_see_the_author_in_full_with_the_user_id(self, server: str, make: Factory, stream: LiveStream) -> None:
        alice = await chatter(make)
        admin = await make.user(Role.admin)
        async with connect(server, stream.id, token=alice.token) as sender, connect(server, stream.id, token=admin.token) as staff:
            await say(sender, "hello")
            message = await next_of(staff, "chat.message")
        assert message["data"]["author"] == "张小凡"
        assert message["data"]["user_id"] == alice.id

    async def test_resume_replays_chat(self, server: str, make: Factory, stream: LiveStream) -> None:
        alice = await chatter(make)
        async with connect(server, stream.id, token=alice.token) as sender:
            await say(sender, "first")
            first = await next_of(sender, "chat.message")
        async with connect(server, stream.id, since=first["seq"] - 1) as late:
            assert await next_of(late, "chat.message") == first


class TestRefusals:
    async def test_an_anonymous_viewer_is_refused_and_nobody_else_hears_it(self, server: str, make: Factory, stream: LiveStream) -> None:
        async with connect(server, stream.id) as anonymous, connect(server, stream.id) as other:
            await say(anonymous, "hi")
            assert (await next_of(anonymous, "chat.refused", "chat.message")) == {
                "type": "chat.refused",
                "stream_id": stream.id,
                "reason": "anonymous",
            }
            await nothing_of(other, "chat.message", "chat.refused")

    async def test_a_blocked_word_is_refused_whatever_its_case(self, server: str, make: Factory, stream: LiveStream) -> None:
        alice = await chatter(make)
        async with connect(server, stream.id, token=alice.token) as ws, connect(server, stream.id) as other:
            await say(ws, "buy from spamword.example")
            assert (await next_of(ws, "chat.refused", "chat.message"))["reason"] == "blocked_word"
            await nothing_of(other, "chat.message", "chat.refused")

    @pytest.mark.parametrize("text", ["", "   ", "x" * 201, 42])
    async def test_an_empty_long_or_non_text_message_is_refused(self, server: str, make: Factory, stream: LiveStream, text: Any) -> None:
        alice = await chatter(make)
        async with connect(server, stream.id, token=alice.token) as ws:
            await say(ws, text)
            assert (await next_of(ws, "chat.refused", "chat.message"))["reason"] == "invalid"

    async def test_a_message_of_200_characters_is_accepted(self, server: str, make: Factory, stream: LiveStream) -> None:
        alice = await chatter(make)
        async with connect(server, stream.id, token=alice.token) as ws:
            await say(ws, "好" * 200)
            assert (await next_of(ws, "chat.refused", "chat.message"))["type"] == "chat.message"

    async def test_too_many_messages_in_the_window_are_refused(self, server: str, make: Factory, stream: LiveStream) -> None:
        alice = await chatter(make)
        async with connect(server, stream.id, token=alice.token) as ws:
            for n in range(3):
                await say(ws, f"message {n}")
                assert (await next_of(ws, "chat.refused", "chat.message"))["type"] == "chat.message"
            await say(ws, "one too many")
            assert (await next_of(ws, "chat.refused", "chat.message"))["reason"] == "too_fast"

    async def test_a_muted_viewer_is_refused(self, server: str, client: httpx.AsyncClient, make: Factory, stream: LiveStream) -> None:
        alice = await chatter(make)
        admin = await make.user(Role.admin)
        async with connect(server, stream.id, token=alice.token) as ws, connect(server, stream.id) as other:
            await say(ws, "before")
            await next_of(ws, "chat.message")
            await next_of(other, "chat.message")
            r = await client.post(f"/api/streams/{stream.id}/mutes", json={"user_id": alice.id, "minutes": 5}, headers=admin.headers)
            assert r.status_code == 201, r.text
            await say(ws, "after")
            assert (await next_of(ws, "chat.refused", "chat.message"))["reason"] == "muted"
            await nothing_of(other, "chat.message")

    async def test_chat_is_closed_when_the_stream_is_not_live(
        self, server: str, client: httpx.AsyncClient, make: Factory, stream: LiveStream
    ) -> None:
        alice = await chatter(make)
        admin = await make.user(Role.admin)
        assert (await client.post(f"/api/streams/{stream.id}/end", headers=admin.headers)).status_code == 200
        async with connect(server, stream.id, token=alice.token) as ws:
            await say(ws, "anyone?")
            assert (await next_of(ws, "chat.refused", "chat.message"))["reason"] == "not_live"


class TestHide:
    async def test_a_hidden_message_reaches_everyone_as_chat_hidden(
        self, server: str, client: httpx.AsyncClient, make: Factory, stream: LiveStream
    ) -> None:
        alice = await chatter(make)
        admin = await make.user(Role.admin)
        async with connect(server, stream.id, token=alice.token) as ws, connect(server, stream.id) as other:
            await say(ws, "oops")
            message_id = (await next_of(ws, "chat.message"))["data"]["message_id"]
            r = await client.post(f"/api/streams/{stream.id}/chat/{message_id}/hide", headers=admin.headers)
            assert r.status_code == 200, r.text
            assert r.json()["message_id"] == message_id
            for viewer in (ws, other):
                assert (await next_of(viewer, "chat.hidden"))["data"] == {"message_id": message_id}

    async def test_hiding_twice_announces_once(
        self, client: httpx.AsyncClient, server: str, make: Factory, db: Database, stream: LiveStream
    ) -> None:
        alice = await chatter(make)
        admin = await make.user(Role.admin)
        async with connect(server, stream.id, token=alice.token) as ws:
            await say(ws, "oops")
            message_id = (await next_of(ws, "chat.message"))["data"]["message_id"]
        for _ in range(2):
            assert (await client.post(f"/api/streams/{stream.id}/chat/{message_id}/hide", headers=admin.headers)).status_code == 200
        assert [e["type"] for e in await outbox_after(db, stream.id, 0)].count("chat.hidden") == 1

    async def test_the_host_cadre_may_hide_and_a_viewer_may_not(
        self, server: str, client: httpx.AsyncClient, make: Factory, db: Database
    ) -> None:
        county = await make.county()
        anchor = await make.anchor(county.id)
        host = await make.user(Role.cadre, anchor_id=anchor.id)
        product = await make.product(county.id)
        assert anchor.id is not None and product.id is not None
        stream_id = await open_stream(db, anchor.id, [product.id])
        alice = await chatter(make)
        async with connect(server, stream_id, token=alice.token) as ws:
            await say(ws, "hello")
            message_id = (await next_of(ws, "chat.message"))["data"]["message_id"]
        path = f"/api/streams/{stream_id}/chat/{message_id}/hide"
        assert (await client.post(path, headers=alice.headers)).status_code == 403
        assert (await client.post(path)).status_code == 401
        assert (await client.post(path, headers=host.headers)).status_code == 200

    async def test_an_unknown_message_is_404(self, client: httpx.AsyncClient, make: Factory, stream: LiveStream) -> None:
        admin = await make.user(Role.admin)
        assert (await client.post(f"/api/streams/{stream.id}/chat/999999/hide", headers=admin.headers)).status_code == 404


class TestMutes:
    async def test_an_organizer_of_another_county_may_not_mute(self, client: httpx.AsyncClient, make: Factory, stream: LiveStream) -> None:
        other_county = await make.county()
        outsider = await make.user(Role.organizer, county_ids=[other_county.id])
        r = await client.post(f"/api/streams/{stream.id}/mutes", json={"user_id": 1, "minutes": 5}, headers=outsider.headers)
        assert r.status_code == 403

    async def test_a_user_who_never_chatted_here_is_404(self, client: httpx.AsyncClient, make: Factory, stream: LiveStream) -> None:
        admin = await make.user(Role.admin)
        viewer = await chatter(make)
        r = await client.post(f"/api/streams/{stream.id}/mutes", json={"user_id": viewer.id, "minutes": 5}, headers=admin.headers)
        assert r.status_code == 404

    @pytest.mark.parametrize("minutes", [0, -1, 10081, "5"])
    async def test_bad_minutes_are_422(self, client: httpx.AsyncClient, make: Factory, stream: LiveStream, minutes: Any) -> None:
        admin = await make.user(Role.admin)
        r = await client.post(f"/api/streams/{stream.id}/mutes", json={"user_id": 1, "minutes": minutes}, headers=admin.headers)
        assert r.status_code == 422


class TestBurst:
    async def test_concurrent_messages_get_contiguous_seqs_and_reach_everyone(
        self, server: str, db: Database, make: Factory, stream: LiveStream
    ) -> None:
        senders = [await chatter(make, f"观众{i}") for i in range(12)]
        async with contextlib.AsyncExitStack() as stack:
            watcher = await stack.enter_async_context(connect(server, stream.id))
            sockets = [await stack.enter_async_context(connect(server, stream.id, token=s.token)) for s in senders]
            await asyncio.gather(*(say(ws, f"第{i}条") for i, ws in enumerate(sockets)))
            got = [await next_of(watcher, "chat.message") for _ in senders]
        assert sorted(m["data"]["text"] for m in got) == sorted(f"第{i}条" for i in range(len(senders)))
        seqs = [m["seq"] for m in got]
        assert seqs == list(range(seqs[0], seqs[0] + len(senders)))
        assert len({m["data"]["message_id"] for m in got}) == len(senders)
        logged = [e for e in await outbox_after(db, stream.id, seqs[0] - 1, seqs[-1]) if e["type"] == "chat.message"]
        assert [e["seq"] for e in logged] == seqs


class TestPoster:
    """Messages of one stream posted together share transactions, each still decided on its own."""

    @staticmethod
    def principal(user: factories.TestUser) -> Principal:
        return Principal(id=user.id, username=user.username, role=Role.viewer, display_name="李四")

    async def test_a_batch_takes_contiguous_seqs_in_fewer_transactions(self, db: Database, make: Factory, stream: LiveStream) -> None:
        poster = ChatPoster(db, ChatRules(messages_per_window=5, window_seconds=10), Clock())
        users = [self.principal(await chatter(make)) for _ in range(30)]
        messages = await asyncio.gather(*(poster.post(stream.id, user, f"hello {i}") for i, user in enumerate(users)))
        assert len({m.id for m in messages}) == len(users)
        assert poster.batches_written < len(users)
        chats = [e for e in await outbox_after(db, stream.id, 0) if e["type"] == "chat.message"]
        assert [e["data"]["message_id"] for e in chats] == [m.id for m in messages]
        assert [e["seq"] for e in chats] == list(range(chats[0]["seq"], chats[0]["seq"] + len(users)))

    async def test_the_rate_limit_counts_earlier_messages_of_the_same_batch(self, db: Database, make: Factory, stream: LiveStream) -> None:
        poster = ChatPoster(db, ChatRules(messages_per_window=3, window_seconds=60), Clock())
        alice, bob = self.principal(await chatter(make)), self.principal(await chatter(make))
        posts = [poster.post(stream.id, alice, f"a{i}") for i in range(5)] + [poster.post(stream.id, bob, "b")]
        results = await asyncio.gather(*posts, return_exceptions=True)
        refused = [r for r in results if isinstance(r, ChatRefused)]
        assert [r.reason for r in refused] == [Refusal.too_fast, Refusal.too_fast]
        assert [r.text for r in results if not isinstance(r, BaseException)] == ["a0", "a1", "a2", "b"]
        assert poster.batches_written < len(posts)

    async def test_a_muted_sender_is_refused_without_holding_up_the_batch(self, db: Database, make: Factory, stream: LiveStream) -> None:
        poster = ChatPoster(db, ChatRules(), Clock())
        alice, bob = self.principal(await chatter(make)), self.principal(await chatter(make))
        async with db.transaction() as session:
            session.add(ChatMute(stream_id=stream.id, user_id=alice.id, until=utcnow() + timedelta(minutes=5)))
        results = await asyncio.gather(poster.post(stream.id, alice, "x"), poster.post(stream.id, bob, "y"), return_exceptions=True)
        assert isinstance(results[0], ChatRefused) and results[0].reason is Refusal.muted
        assert isinstance(results[1], ChatMessage) and results[1].text == "y"
