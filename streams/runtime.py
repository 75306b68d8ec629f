"""Builds the relay component for an app instance."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import uuid
from types import FrameType
from typing import Any

import structlog
from fastapi import FastAPI

from livecommerce.kit.components import Component
from livecommerce.kit.db import Database
from livecommerce.kit.settings import Settings
from streams.relay.bus import EventBus
from streams.relay.coalescer import Coalescer, Lease, LocalLease, RedisLease
from streams.relay.hub import Relay
from streams.relay.memory import MemoryBus
from streams.relay.namespace import redis_namespace
from streams.relay.presence import MemoryPresence, Presence, RedisPresence
from streams.relay.publisher import Publisher
from streams.relay.redis import RedisBus, connect_redis

log = structlog.get_logger(__name__)


class RelayComponent:
    """The bus, the publisher hook, this instance's hubs, presence and the coalescer."""

    name = "relay"

    def __init__(self, app: FastAPI, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.instance_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.redis: Any = None
        self.namespace = settings.redis_prefix
        # Redis parts are built in start(), once the deployment's namespace is read from the database.
        self.bus: EventBus = MemoryBus()
        self.presence: Presence = MemoryPresence()
        self.lease: Lease = LocalLease()
        self.relay: Relay | None = None
        self.publisher: Publisher | None = None
        self.coalescer: Coalescer | None = None
        self._previous_handlers: dict[int, Any] = {}

    async def start(self) -> None:
        """Hook the publisher onto commits and start the relay, presence and coalescer."""
        db: Database = self.app.state.db
        if self.settings.redis_url:
            self.namespace = await redis_namespace(db, self.settings)
            self.redis = connect_redis(self.settings.redis_url)
            self.bus = RedisBus(self.redis, self.namespace)
            self.presence = RedisPresence(self.redis, self.namespace, self.instance_id)
            self.lease = RedisLease(self.redis, f"{self.namespace}:relay:coalescer", self.instance_id)
        await self.bus.start()
        self.publisher = Publisher(self.bus, db)
        db.on_commit(self.publisher.on_commit)
        await self.publisher.start()
        await self.presence.start()
        self.relay = Relay(
            db,
            self.bus,
            self.presence,
            viewer_buffer=self.settings.relay_viewer_buffer,
            viewer_buffer_bytes=self.settings.relay_viewer_buffer_bytes,
            fast_path=self.settings.relay_fast_path,
            poll_interval=self.settings.relay_poll_interval_seconds,
        )
        await self.relay.start()
        self.coalescer = Coalescer(db, self.presence, self.lease, interval=self.settings.relay_coalesce_interval_seconds)
        await self.coalescer.start()
        self.app.state.relay = self.relay
        self._chain_shutdown_signals()
        log.info("relay_started", bus=self.bus.name, instance=self.instance_id, namespace=self.namespace)

    async def stop(self) -> None:
        """Close viewers with 1001, then stop every part, awaiting each task."""
        self._restore_signals()
        if self.relay is not None:
            await self.relay.stop()
        if self.coalescer is not None:
            await self.coalescer.stop()
        if self.publisher is not None:
            await self.publisher.stop()
        await self.presence.stop()
        await self.bus.close()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.aclose()

    async def readiness(self) -> str:
        """ "ok" when the bus is usable."""
        return await self.bus.readiness()

    def _chain_shutdown_signals(self) -> None:
        # uvicorn closes open websockets with 1012 before the app's shutdown runs; closing them
        # with 1001 (going away) first tells clients this is a shutdown, not a restart of the app.
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)
            if not callable(previous) or previous is signal.default_int_handler:
                continue
            self._previous_handlers[signum] = previous

            def handler(sig: int, frame: FrameType | None, previous: Any = previous) -> None:
                if self.relay is not None:
                    loop.call_soon_threadsafe(self.relay.going_away)
                previous(sig, frame)

            signal.signal(signum, handler)

    def _restore_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, previous in self._previous_handlers.items():
            signal.signal(signum, previous)
        self._previous_handlers.clear()


def build_relay(app: FastAPI) -> Component | None:
    """The relay that fans outbox events out to websocket viewers."""
    return RelayComponent(app, app.state.settings)


class WorkerPublisher:
    """The scheduler worker's publish side: what its jobs commit reaches viewers at once, not at the next outbox poll."""

    name = "relay-publisher"

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.redis: Any = None
        self.publisher: Publisher | None = None

    async def start(self) -> None:
        """Hook a publisher onto the worker's commits (nothing to do without Redis: no relay hears this process)."""
        if not self.settings.redis_url:
            return
        self.redis = connect_redis(self.settings.redis_url)
        bus = RedisBus(self.redis, await redis_namespace(self.db, self.settings))
        self.publisher = Publisher(bus, self.db)
        self.db.on_commit(self.publisher.on_commit)
        await self.publisher.start()

    async def stop(self) -> None:
        """Publish what is queued (briefly) and disconnect."""
        if self.publisher is not None:
            await self.publisher.stop()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.aclose()
