"""Rate-limit dependencies for the routes that attackers and bursts aim at.

Each raises RateLimited (429 with Retry-After) through the app's `RateLimiter`, whose counters
live in Redis when it is configured, so a limit holds across every app instance.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request

from livecommerce.kit.auth import CurrentUser
from livecommerce.kit.deps import RateLimiterDep
from livecommerce.kit.ratelimit import RateLimiter
from livecommerce.kit.types import MAX_ID


def client_address(request: Request) -> str:
    """The peer address (uvicorn sets it from X-Forwarded-For only for trusted proxies)."""
    return request.client.host if request.client else "unknown"


async def check_sign_in(limiter: RateLimiter, request: Request, username: str) -> None:
    """Count a sign-in attempt against the address and the username (case-folded, so `Admin` is `admin`)."""
    await limiter.check("sign_in_address", client_address(request))
    await limiter.check("sign_in_user", username.strip().casefold())


async def registration_limit(request: Request, limiter: RateLimiterDep) -> None:
    """Count a registration against the caller's address."""
    await limiter.check("register_address", client_address(request))


async def order_placement_limit(
    limiter: RateLimiterDep,
    buyer: CurrentUser,
    stream_id: Annotated[int, Path(gt=0, le=MAX_ID, description="The stream.")],
) -> None:
    """Count an order attempt against the buyer and against the stream (after authentication, so 401 comes first)."""
    await check_order_placement(limiter, buyer.id, stream_id)


async def check_order_placement(limiter: RateLimiter, buyer_id: int, stream_id: int) -> None:
    """The order placement limits (the dependency's, and the order fast route's)."""
    await limiter.check("orders_buyer", buyer_id)
    await limiter.check("orders_stream", stream_id)
