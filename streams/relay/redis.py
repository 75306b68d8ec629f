"""The Redis bus: pub/sub as the fast path between instances, a sorted set per stream as short history.

Pub/sub is fire-and-forget (a message published while a subscriber reconnects is gone), so
every (re)subscription starts with RESYNC and the relay catches up from the outbox table.
redis-py's asyncio PubSub does not reconnect by itself: `_listen` is that loop, with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from typing import Any

import structlog
from redis.asyncio import Redis

from streams.relay.bus import RESYNC, Envelope, Subscription

log = structlog.get_logger(__name__)

HISTORY_TTL_SECONDS = 24 * 3600


def connect_redis(url: str) -> Redis:
    """A client with timeouts suited to the relay (no call blocks a task for long)."""
    client: Redis = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=10)
    return client


def dumps(envelope: Envelope) -> str:
    """The compact JSON form used on the bus and on the wire."""
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)


class RedisBus:
    """Publishes to one channel per deployment; keeps each stream's recent envelopes by seq."""

    name = "redis"

    def __init__(self, client: Redis, prefix: str, history_size: int = 1000) -> None:
        self.client = client
        self.channel = f"{prefix}:relay:events"
        self.prefix = prefix
        self.history_size = history_size
        self._listeners: dict[Subscription, asyncio.Task[None]] = {}
        self._connected: dict[Subscription, bool] = {}

    def history_key(self, stream_id: int) -> str:
        """The sorted set (score = seq) of a stream's recent envelopes."""
        return f"{self.prefix}:relay:history:{stream_id}"

    async def start(self) -> None:
        """Nothing to do before the first subscription."""

    async def close(self) -> None:
        """Cancel and await every listener."""
        for subscription in list(self._listeners):
            await self.unsubscribe(subscription)

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        """Add to each stream's history and publish, in one MULTI so history is never behind a message."""
        if not envelopes:
            return
        streams: set[int] = set()
        async with self.client.pipeline(transaction=True) as pipe:
            for envelope in envelopes:
                text = dumps(envelope)
                stream_id = int(envelope["stream_id"])
                streams.add(stream_id)
                pipe.zadd(self.history_key(stream_id), {text: int(envelope["seq"])})
                pipe.publish(self.channel, text)
            for stream_id in streams:
                key = self.history_key(stream_id)
                pipe.zremrangebyrank(key, 0, -(self.history_size + 1))
                pipe.expire(key, HISTORY_TTL_SECONDS)
            await pipe.execute()

    async def subscribe(self) -> Subscription:
        """A subscription fed by its own pub/sub connection, resubscribing after any failure."""
        subscription = Subscription()
        self._connected[subscription] = False
        self._listeners[subscription] = asyncio.create_task(self._listen(subscription), name="relay-redis-listener")
        return subscription

    async def unsubscribe(self, subscription: Subscription) -> None:
        """Stop the subscription's listener and wait for it."""
        subscription.closed = True
        task = self._listeners.pop(subscription, None)
        self._connected.pop(subscription, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def history(self, stream_id: int, after_seq: int, limit: int = 500) -> list[Envelope]:
        """Recent envelopes with seq > after_seq, in seq order (by the sorted set's score)."""
        raw = await self.client.zrangebyscore(self.history_key(stream_id), f"({after_seq}", "+inf", start=0, num=limit)
        return [json.loads(item) for item in raw if isinstance(item, bytes | str)]

    async def readiness(self) -> str:
        """ "ok" when Redis answers and every subscription is connected."""
        try:
            async with asyncio.timeout(2):
                await self.client.ping()
        except Exception as exc:  # any failure to reach Redis means not ready
            return f"unavailable: {type(exc).__name__}"
        if not all(self._connected.values()):
            return "unavailable: pub/sub reconnecting"
        return "ok"

    async def _listen(self, subscription: Subscription) -> None:
        backoff = 0.05
        while not subscription.closed:
            pubsub = self.client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                self._connected[subscription] = True
                # Whatever was published while we were not subscribed is only in the outbox now.
                subscription.put(RESYNC)
                backoff = 0.05
                while not subscription.closed:
                    message: dict[str, Any] | None = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message["type"] == "message" and isinstance(message["data"], bytes | str):
                        subscription.put(json.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down, connection reset, timeouts: resubscribe
                if self._connected.get(subscription):
                    log.warning("relay_redis_subscription_lost", error=f"{type(exc).__name__}: {exc}")
                self._connected[subscription] = False
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)
