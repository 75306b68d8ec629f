"""Small notices between app instances ("user 12 changed: forget what you cached"), in process or through Redis.

A notice is a hint to drop a cache, never the truth: a subscriber that may have missed some
(it was disconnected, Redis restarted) is told to reset instead, and `healthy` is False
while it cannot hear notices, so callers stop trusting their caches. Publishing never makes
a request wait on Redis: it is handed to a background task with a short timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

log = structlog.get_logger(__name__)

OnNotice = Callable[[dict[str, Any]], None]
OnReset = Callable[[], None]


@dataclass
class _Listener:
    topic: str
    on_notice: OnNotice
    on_reset: OnReset


class Notices(Protocol):
    """Publish a notice on a topic to every instance (this one included); listen with a reset for lost ones."""

    healthy: bool

    def listen(self, topic: str, on_notice: OnNotice, on_reset: OnReset) -> None:
        """Call `on_notice(payload)` for each notice on `topic`, `on_reset()` when some may have been lost."""

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        """Send a notice, without waiting for it to be delivered."""

    async def start(self) -> None:
        """Begin delivering."""

    async def stop(self) -> None:
        """Stop delivering and release connections."""


@dataclass
class LocalNotices:
    """Notices within one process (the embedded mode): delivered at once, never lost."""

    healthy: bool = True
    listeners: list[_Listener] = field(default_factory=list)

    def listen(self, topic: str, on_notice: OnNotice, on_reset: OnReset) -> None:
        """Subscribe to a topic."""
        self.listeners.append(_Listener(topic, on_notice, on_reset))

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        """Deliver to this process's listeners."""
        for listener in self.listeners:
            if listener.topic == topic:
                listener.on_notice(payload)

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""


class RedisNotices:
    """Notices through one Redis pub/sub channel named under the deployment's prefix.

    The subscriber reconnects by itself with backoff (redis-py's PubSub does not), and resets
    every listener whenever it (re)subscribes, since notices sent while it was away are gone.
    """

    def __init__(self, url: str, prefix: str, *, timeout_s: float = 0.5) -> None:
        import redis.asyncio as redis

        self.channel = f"{prefix}:notices"
        self._redis: Any = redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        # The subscriber waits for messages a second at a time; its socket may stay quiet longer than a publish may take.
        self._listen_redis: Any = redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=timeout_s, health_check_interval=5)
        self._timeout = timeout_s
        self._listeners: list[_Listener] = []
        self._task: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self.healthy = False

    def listen(self, topic: str, on_notice: OnNotice, on_reset: OnReset) -> None:
        """Subscribe to a topic."""
        self._listeners.append(_Listener(topic, on_notice, on_reset))

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        """Deliver locally at once, and to the other instances in the background."""
        self._deliver(topic, payload)
        task = asyncio.get_running_loop().create_task(self._send(json.dumps({"topic": topic, "payload": payload})))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _send(self, message: str) -> None:
        try:
            await asyncio.wait_for(self._redis.publish(self.channel, message), self._timeout)
        except Exception as exc:  # Redis away or hung: the others' caches expire by themselves
            log.warning("notice_not_sent", error=type(exc).__name__)

    def _deliver(self, topic: str, payload: dict[str, Any]) -> None:
        for listener in self._listeners:
            if listener.topic == topic:
                listener.on_notice(payload)

    def _reset(self) -> None:
        for listener in self._listeners:
            listener.on_reset()

    async def start(self) -> None:
        """Start the subscriber loop."""
        self._task = asyncio.create_task(self._subscribe_forever(), name="notices")

    async def _subscribe_forever(self) -> None:
        backoff = 0.1
        while True:
            pubsub = self._listen_redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                self._reset()
                self.healthy, backoff = True, 0.1
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._on_message(message.get("data"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.healthy:
                    log.warning("notices_disconnected", error=type(exc).__name__)
                self.healthy = False
                self._reset()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _on_message(self, data: Any) -> None:
        try:
            message = json.loads(data)
            self._deliver(str(message["topic"]), dict(message["payload"]))
        except (ValueError, KeyError, TypeError):
            log.warning("notice_unreadable")

    async def stop(self) -> None:
        """Stop the subscriber and wait for notices still being sent."""
        self.healthy = False
        if self._task is not None:
            self._task.cancel()
            # Closing the subscription may wait on a hung Redis: give it a moment, no more.
            await asyncio.wait({self._task}, timeout=2.0)
        if self._sends:
            await asyncio.wait(self._sends, timeout=2.0)
        for client in (self._redis, self._listen_redis):
            with contextlib.suppress(Exception):
                await client.aclose()
