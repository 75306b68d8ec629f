"""The leader lock: whatever the number of app instances and workers, one scheduler runs jobs.

PostgreSQL: a session-level advisory lock held on a dedicated connection; if the process dies
or the connection drops, the server releases it and a waiting instance takes over. SQLite (one
machine, the embedded mode): a lease row renewed well before it expires.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta
from typing import Protocol

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import col, select, update

from livecommerce.kit.clock import utcnow
from livecommerce.kit.db import Database, create_nullpool_engine
from livecommerce.kit.settings import Settings
from schedulers.models import SchedulerLease

log = structlog.get_logger(__name__)

# "lc-sched" as a 63-bit key; advisory locks are scoped to one database.
ADVISORY_KEY = int.from_bytes(b"lc-sched", "big") & 0x7FFF_FFFF_FFFF_FFFF
LEASE_NAME = "scheduler"


class LeaderLock(Protocol):
    """Try to become the leader, check we still are, and let go."""

    holder: str

    async def try_acquire(self) -> bool:
        """True if this process now leads."""

    async def still_held(self) -> bool:
        """Renew or verify the lock; False once it is lost."""

    async def release(self) -> None:
        """Stop leading."""


def holder_id() -> str:
    """A name for this process in logs and leases."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class AdvisoryLock:
    """`pg_try_advisory_lock` on a connection kept open (and outside any transaction) while leading."""

    def __init__(self, settings: Settings, *, key: int = ADVISORY_KEY) -> None:
        self.holder = holder_id()
        self._url = settings.database_url
        self._key = key
        self._engine: AsyncEngine | None = None
        self._conn: AsyncConnection | None = None

    async def try_acquire(self) -> bool:
        """Take the lock if free."""
        if self._conn is None:
            self._engine = create_nullpool_engine(self._url)
            conn = await self._engine.connect()
            self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(await self._conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}))
        except Exception:
            log.warning("leader_lock_error", exc_info=True)
            await self._close()
            return False
        if not got:
            # Keep no idle connection open while waiting.
            await self._close()
        return got

    async def still_held(self) -> bool:
        """True while the lock's connection answers."""
        if self._conn is None:
            return False
        try:
            await self._conn.scalar(text("SELECT 1"))
            return True
        except Exception:
            log.warning("leader_connection_lost", exc_info=True)
            await self._close()
            return False

    async def release(self) -> None:
        """Unlock and close the connection (closing alone would release it too)."""
        if self._conn is not None:
            try:
                await self._conn.scalar(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            except Exception:
                log.warning("leader_unlock_failed", exc_info=True)
        await self._close()

    async def _close(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.close()
            except Exception:
                log.debug("leader_close_failed", exc_info=True)
            self._conn = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None


class LeaseLock:
    """A lease row: taken when free or expired, renewed by its holder, released on stop."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.holder = holder_id()
        self._db = db
        self._ttl = timedelta(seconds=settings.scheduler_lease_seconds)

    async def try_acquire(self) -> bool:
        """Take or renew the lease; wall-clock time, since leases are compared across processes."""
        now = utcnow()
        async with self._db.transaction() as session:
            lease = await session.scalar(select(SchedulerLease).where(col(SchedulerLease.name) == LEASE_NAME))
            if lease is None:
                session.add(SchedulerLease(name=LEASE_NAME, holder=self.holder, expires_at=now + self._ttl))
                return True
            if lease.holder != self.holder and lease.expires_at > now:
                return False
            lease.holder, lease.expires_at = self.holder, now + self._ttl
            session.add(lease)
            return True

    async def still_held(self) -> bool:
        """Renew the lease; False if someone else holds it now."""
        try:
            return await self.try_acquire()
        except Exception:
            log.warning("leader_lease_error", exc_info=True)
            return False

    async def release(self) -> None:
        """Expire the lease now so another instance takes over without waiting."""
        try:
            async with self._db.transaction() as session:
                await session.execute(
                    update(SchedulerLease)
                    .where(col(SchedulerLease.name) == LEASE_NAME, col(SchedulerLease.holder) == self.holder)
                    .values(expires_at=utcnow() - timedelta(seconds=1))
                )
        except Exception:
            log.warning("leader_release_failed", exc_info=True)


def leader_lock(db: Database, settings: Settings) -> LeaderLock:
    """The advisory lock on PostgreSQL, the lease on SQLite."""
    return LeaseLock(db, settings) if db.is_sqlite else AdvisoryLock(settings)
