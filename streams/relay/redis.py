"""The Redis bus: pub/sub as the fast path between instances, a sorted set per stream as short history.

Pub/sub is fire-and-forget (a message published while a subscriber reconnects is gone), so
every (re)subscription starts with RESYNC and the relay catches up from the outbox table.
redis-py's asyncio PubSub does not reconnect by itself: `_listen` is that loop, with backoff.

Every channel and key starts with the deployment's namespace (see `streams.relay.namespace`),
and a stream's history key carries its epoch. Publishing is one script: an envelope whose seq
the history already holds with another event proves the database was rewound; the script drops
that history and reports the stream, whose epoch the publisher then renews.

A Redis that is alive but does not answer is worse than a dead one: every call here is bounded
by a short timeout, and after a failed history read the bus answers "unavailable" at once for
a moment, so catch-ups go to the outbox without waiting on Redis each time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from redis.asyncio import Redis

from streams.relay.bus import RESYNC, Envelope, StaleHistory, Subscription

log = structlog.get_logger(__name__)

HISTORY_TTL_SECONDS = 24 * 3600
PUBLISH_TIMEOUT_SECONDS = 1.0
HISTORY_TIMEOUT_SECONDS = 0.25
UNAVAILABLE_SECONDS = 2.0

# KEYS: the channel, then one history key per envelope. ARGV: history size, TTL, then seq and text per envelope.
_PUBLISH = """
local size = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local stale = {}
local touched = {}
for i = 2, #KEYS do
  local key = KEYS[i]
  local seq = ARGV[2 * i - 1]
  local text = ARGV[2 * i]
  local held = redis.call('zrangebyscore', key, seq, seq)
  local same = #held > 0
  for _, member in ipairs(held) do
    if member ~= text then same = false end
  end
  if #held > 0 and not same then
    redis.call('del', key)
    stale[#stale + 1] = key
  end
  if not same then
    redis.call('zadd', key, seq, text)
  end
  redis.call('publish', KEYS[1], text)
  touched[key] = true
end
for key, _ in pairs(touched) do
  redis.call('zremrangebyrank', key, 0, -(size + 1))
  redis.call('expire', key, ttl)
end
return stale
"""


def connect_redis(url: str) -> Redis:
    """A client with short timeouts: a hung Redis must never hold a task for long."""
    client: Redis = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0, health_check_interval=10)
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
        self._publish = client.register_script(_PUBLISH)
        self._unavailable_until = 0.0

    def history_key(self, stream_id: int, epoch: str = "") -> str:
        """The sorted set (score = seq) of a stream's recent envelopes in one epoch."""
        return f"{self.prefix}:relay:history:{stream_id}:{epoch}"

    async def start(self) -> None:
        """Nothing to do before the first subscription."""

    async def close(self) -> None:
        """Cancel and await every listener."""
        for subscription in list(self._listeners):
            await self.unsubscribe(subscription)

    async def publish(self, envelopes: Sequence[Envelope], epochs: Mapping[int, str] | None = None) -> set[int]:
        """Add to each stream's history and publish, in one script so history is never behind a message."""
        if not envelopes:
            return set()
        keys = [self.channel]
        args: list[Any] = [self.history_size, HISTORY_TTL_SECONDS]
        streams: dict[str, int] = {}
        for envelope in envelopes:
            stream_id = int(envelope["stream_id"])
            key = self.history_key(stream_id, (epochs or {}).get(stream_id, ""))
            streams[key] = stream_id
            keys.append(key)
            args += [int(envelope["seq"]), dumps(envelope)]
        async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):
            stale = await self._publish(keys=keys, args=args)
        return {streams[k.decode() if isinstance(k, bytes) else str(k)] for k in stale or []}

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

    async def history(self, stream_id: int, after_seq: int, limit: int = 500, epoch: str = "") -> list[Envelope]:
        """Recent envelopes of the epoch with seq > after_seq, in seq order (by the sorted set's score)."""
        loop = asyncio.get_running_loop()
        if loop.time() < self._unavailable_until:
            raise ConnectionError("redis did not answer a moment ago")
        try:
            async with asyncio.timeout(HISTORY_TIMEOUT_SECONDS):
                raw = await self.client.zrangebyscore(
                    self.history_key(stream_id, epoch), f"({after_seq}", "+inf", start=0, num=limit, withscores=True
                )
        except Exception:
            self._unavailable_until = loop.time() + UNAVAILABLE_SECONDS
            raise
        envelopes: list[Envelope] = []
        seen: set[int] = set()
        pairs: list[tuple[bytes | str, float]] = list(raw)  # type: ignore[arg-type]  # withscores=True gives pairs
        for item, score in pairs:
            if int(score) in seen:
                raise StaleHistory(f"two events under seq {int(score)} of stream {stream_id}")
            seen.add(int(score))
            envelopes.append(json.loads(item))
        return envelopes

    async def readiness(self) -> str:
        """ "ok" when Redis answers and every subscription is connected."""
        try:
            async with asyncio.timeout(1):
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
