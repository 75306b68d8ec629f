"""What each instance learns from the bus beyond the relay: the availability of hot products and flash deals."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from fastapi import FastAPI

from livecommerce.kit.components import Component
from livecommerce.orders.availability import Availability
from streams.relay.bus import RESYNC, EventBus, Subscription

log = structlog.get_logger(__name__)


class AvailabilityFeed:
    """Feeds every event on the bus to this instance's `Availability`; a possible loss (RESYNC) makes it forget."""

    name = "availability"

    def __init__(self, bus: EventBus, availability: Availability) -> None:
        self.bus = bus
        self.availability = availability
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe and start reading."""
        self._subscription = await self.bus.subscribe()
        self._task = asyncio.create_task(self._read(self._subscription), name="availability-feed")

    async def _read(self, subscription: Subscription) -> None:
        async for item in subscription:
            if item is RESYNC:
                self.availability.forget()
            elif isinstance(item, dict):
                self.availability.observe(item)

    async def stop(self) -> None:
        """Stop reading and unsubscribe."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._subscription is not None:
            await self.bus.unsubscribe(self._subscription)


def build_availability_feed(app: FastAPI) -> Component | None:
    """The feed, on the bus of this instance's relay (none without a relay)."""
    relay = next((c for c in app.state.components if c.name == "relay"), None)
    bus: EventBus | None = getattr(relay, "bus", None)
    if bus is None:
        return None
    return AvailabilityFeed(bus, app.state.availability)
