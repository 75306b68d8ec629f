"""Rate limits (429 with Retry-After), shared through Redis when configured, in memory otherwise.

The algorithm is the `limits` library's sliding window counter. When Redis is unreachable
the limiter fails open and logs it: a broken rate limiter must not stop a broadcast's sales
(the database, not Redis, is what the platform cannot work without).
"""

from __future__ import annotations

import math
import time
from typing import Any

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from livecommerce.kit.errors import RateLimited
from livecommerce.kit.settings import Settings

log = structlog.get_logger(__name__)


class RateLimiter:
    """Checks named rules (`"sign_in_user"`, `"orders_buyer"`, ...) against identifiers."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limits_enabled
        self.rules: dict[str, RateLimitItem] = {name: parse(text) for name, text in settings.rate_limits.items()}
        storage: Storage
        if settings.redis_url:
            uri = "async+" + settings.redis_url
            storage = RedisStorage(uri, implementation="redispy", key_prefix=f"{settings.redis_prefix}:rl", socket_timeout=0.5)
        else:
            storage = MemoryStorage()
        self.storage = storage
        self.limiter = SlidingWindowCounterRateLimiter(storage)

    async def check(self, rule: str, *identifiers: Any) -> None:
        """Count one hit; raise RateLimited (429 + Retry-After) when the rule's limit is spent."""
        if not self.enabled:
            return
        item = self.rules[rule]
        ids = [rule, *(str(i) for i in identifiers)]
        try:
            allowed = await self.limiter.hit(item, *ids)
            if allowed:
                return
            stats = await self.limiter.get_window_stats(item, *ids)
        except Exception as exc:  # Redis down or misbehaving: fail open, loudly
            log.warning("rate_limiter_unavailable", rule=rule, error=type(exc).__name__)
            return
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(
            f"Too many requests ({item}); try again in {retry_after} s.",
            extra={"limit": str(item), "retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )

    async def reset(self) -> None:
        """Forget every counter (tests and operators)."""
        try:
            await self.storage.reset()
        except Exception as exc:
            log.warning("rate_limiter_reset_failed", error=type(exc).__name__)
