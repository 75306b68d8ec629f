"""Rate limits (429 with Retry-After), shared through Redis when configured, in memory otherwise.

The algorithm is the `limits` library's sliding window counter. When Redis is unreachable
the limiter fails open and logs it: a broken rate limiter must not stop a broadcast's sales
(the database, not Redis, is what the platform cannot work without). A Redis that is alive but
does not answer is worse than a dead one: each call is bounded by a short timeout, and after a
failure requests go through at once while a background probe waits for Redis to answer again.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import Any

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from livecommerce.kit.errors import RateLimited
from livecommerce.kit.i18n import _l
from livecommerce.kit.settings import Settings

log = structlog.get_logger(__name__)

REDIS_TIMEOUT_SECONDS = 0.2
PROBE_INTERVAL_SECONDS = 1.0


class RateLimiter:
    """Checks named rules (`"sign_in_user"`, `"orders_buyer"`, ...) against identifiers."""

    def __init__(self, settings: Settings, *, key_prefix: str | None = None) -> None:
        self.enabled = settings.rate_limits_enabled
        self.rules: dict[str, RateLimitItem] = {name: parse(text) for name, text in settings.rate_limits.items()}
        storage: Storage
        self.key_prefix = key_prefix or f"{settings.redis_prefix}:rl"  # where counters live in a shared Redis
        if settings.redis_url:
            uri = "async+" + settings.redis_url
            storage = RedisStorage(uri, implementation="redispy", key_prefix=self.key_prefix, socket_timeout=0.5)
        else:
            storage = MemoryStorage()
        self.storage = storage
        self.limiter = SlidingWindowCounterRateLimiter(storage)
        self.shared = isinstance(storage, RedisStorage)
        self._unavailable = False
        self._probe: asyncio.Task[None] | None = None

    async def check(self, rule: str, *identifiers: Any) -> None:
        """Count one hit; raise RateLimited (429 + Retry-After) when the rule's limit is spent."""
        if not self.enabled:
            return
        if self._unavailable:
            return  # Redis did not answer: fail open without waiting until the probe sees it back
        item = self.rules[rule]
        ids = [rule, *(str(i) for i in identifiers)]
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_SECONDS if self.shared else None):
                allowed = await self.limiter.hit(item, *ids)
                if allowed:
                    return
                stats = await self.limiter.get_window_stats(item, *ids)
        except Exception as exc:  # Redis down, hung or misbehaving: fail open, loudly
            log.warning("rate_limiter_unavailable", rule=rule, error=type(exc).__name__)
            if self.shared:
                self._trip()
            return
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(
            _l("Too many requests ({item}); try again in {retry_after} s.", item=item, retry_after=retry_after),
            extra={"limit": str(item), "retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )

    def _trip(self) -> None:
        self._unavailable = True
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._wait_for_redis(), name="rate-limiter-probe")

    async def _wait_for_redis(self) -> None:
        while self._unavailable:
            await asyncio.sleep(PROBE_INTERVAL_SECONDS)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(REDIS_TIMEOUT_SECONDS * 2.5):
                    if await self.storage.check():
                        self._unavailable = False
                        log.info("rate_limiter_available")

    async def close(self) -> None:
        """Stop the probe, if one runs."""
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
            self._probe = None

    async def reset(self) -> None:
        """Forget every counter (tests and operators)."""
        try:
            await self.storage.reset()
        except Exception as exc:
            log.warning("rate_limiter_reset_failed", error=type(exc).__name__)
