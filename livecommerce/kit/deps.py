"""Request-scoped dependencies shared by every router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.kit.clock import Clock
from livecommerce.kit.db import Database
from livecommerce.kit.ratelimit import RateLimiter
from livecommerce.kit.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# The dependencies are `async def` although they do not await: FastAPI runs a plain `def`
# dependency in its thread pool, a thread hop per dependency per request.


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    """The app's database."""
    db: Database = request.app.state.db
    return db


async def get_clock(request: Request) -> Clock:
    """The app's clock (a controllable one in tests)."""
    clock: Clock = request.app.state.clock
    return clock


def get_rate_limiter(request: Request) -> RateLimiter:
    """The app's rate limiter."""
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for one request: committed when the handler returns, rolled back if it raises.

    Declared with `scope="function"` so the commit happens before the response is sent: a
    client that got a 2xx knows its change is durable. Requests with a safe method (GET,
    HEAD, OPTIONS) change nothing, so they read through `read_sessionmaker` (on SQLite:
    without taking, or waiting for, the write lock).
    """
    db: Database = request.app.state.db
    factory = db.read_sessionmaker if request.scope.get("method") in SAFE_METHODS else db.sessionmaker
    async with factory() as session:
        try:
            yield session
            if session.in_transaction():
                await db.run_before_commit(session)
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
    await db.run_after_commit(session)


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
ClockDep = Annotated[Clock, Depends(get_clock)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def _rate_limiter(request: Request) -> RateLimiter:
    return get_rate_limiter(request)


RateLimiterDep = Annotated[RateLimiter, Depends(_rate_limiter)]
