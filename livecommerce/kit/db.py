"""Database engines and sessions for SQLite (embedded) and PostgreSQL (at scale)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from livecommerce.kit.settings import Settings

AfterCommitHook = Callable[[AsyncSession], Any]
BeforeCommitHook = Callable[[AsyncSession], Awaitable[None]]
SQLITE_BUSY_TIMEOUT_S = 30


def async_url(url: str) -> URL:
    """The URL with the async driver this app uses (aiosqlite or asyncpg)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg")
    raise ValueError(f"unsupported database URL scheme: {parsed.drivername}")


def sync_url(url: str) -> URL:
    """The URL with a synchronous driver (for Alembic and the APScheduler job store)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite")
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    raise ValueError(f"unsupported database URL scheme: {parsed.drivername}")


def configure_sqlite(sync_engine: Any, *, immediate: bool = True) -> None:
    """WAL, foreign keys, a busy timeout, and BEGIN IMMEDIATE for every transaction (unless `immediate` is False).

    SQLite's default deferred transactions let two writers read the same state and then
    fail (or worse, both act on it); taking the write lock at BEGIN makes every
    read-then-write transaction serializable, which is what stock and ledger need. Only
    the read engine (`create_read_engine`, for requests that cannot write) begins deferred.
    """

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.close()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)


def create_engine(settings: Settings) -> AsyncEngine:
    """An async engine for the configured database, tuned for its backend.

    On SQLite this is the writer: ONE pooled connection. SQLite admits one writer at a
    time anyway (every transaction begins IMMEDIATE), so a bigger pool only made the
    losers sleep in SQLite's busy handler (polling, with backoff up to 100 ms: the long
    tail of a busy moment). With one connection, writers queue in the event loop for the
    pool and each starts the moment the previous one commits; other processes (the CLI, a
    worker) are still excluded by BEGIN IMMEDIATE itself.
    """
    url = async_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(
            url, pool_size=1, max_overflow=0, pool_timeout=SQLITE_BUSY_TIMEOUT_S, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}
        )
        configure_sqlite(engine.sync_engine)
        return engine
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        # No ping on every checkout (a round trip per request): a connection the server dropped
        # fails its first statement, SQLAlchemy then discards the whole pool, and that one
        # request is answered 503 with Retry-After like any other outage.
        pool_pre_ping=False,
        pool_recycle=1800,
        pool_timeout=10,
        connect_args={
            "timeout": settings.db_connect_timeout_seconds,
            "command_timeout": settings.db_statement_timeout_ms / 1000 + 5,
            "server_settings": {"statement_timeout": str(settings.db_statement_timeout_ms)},
        },
    )


def create_read_engine(settings: Settings) -> AsyncEngine | None:
    """For SQLite files, an engine whose transactions begin deferred, for sessions that only read.

    WAL lets these read a consistent snapshot while the writer works; None elsewhere (on
    PostgreSQL, and for in-memory SQLite, one engine serves both).
    """
    url = async_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S},
    )
    configure_sqlite(engine.sync_engine, immediate=False)

    return engine


def create_database(settings: Settings) -> Database:
    """The app's database: its engine and, on SQLite, the read engine."""
    return Database(create_engine(settings), read_engine=create_read_engine(settings))


def create_nullpool_engine(url: str) -> AsyncEngine:
    """An engine without pooling, for one-off CLI work and tests."""
    engine = create_async_engine(async_url(url), poolclass=NullPool)
    if engine.url.get_backend_name() == "sqlite":
        configure_sqlite(engine.sync_engine)
    return engine


class Database:
    """The engine, its session factory, and hooks that run after each commit.

    `sessionmaker` is for anything that may write. `read_sessionmaker` is for work that
    only reads (requests with a safe method): on SQLite its transactions begin deferred on
    a separate pool, so reads neither take nor wait for the write lock; elsewhere it is
    the same factory.
    """

    def __init__(self, engine: AsyncEngine, *, read_engine: AsyncEngine | None = None) -> None:
        self.engine = engine
        self.read_engine = read_engine or engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        self.read_sessionmaker = async_sessionmaker(self.read_engine, expire_on_commit=False) if read_engine else self.sessionmaker
        self._after_commit: list[AfterCommitHook] = []
        self._before_commit: list[BeforeCommitHook] = []

    @property
    def is_sqlite(self) -> bool:
        """True for SQLite."""
        return self.engine.url.get_backend_name() == "sqlite"

    def on_commit(self, hook: AfterCommitHook) -> None:
        """Call `hook(session)` after every successful commit made through `transaction()`."""
        self._after_commit.append(hook)

    def before_commit(self, hook: BeforeCommitHook) -> None:
        """Await `hook(session)` in the transaction just before each commit (to write what the work left pending)."""
        if hook not in self._before_commit:
            self._before_commit.append(hook)

    async def run_before_commit(self, session: AsyncSession) -> None:
        """Run the before-commit hooks in the session's transaction."""
        for hook in self._before_commit:
            await hook(session)

    @asynccontextmanager
    async def read_connection(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection for one small read, no session: on PostgreSQL in autocommit, so the
        read is one round trip without BEGIN and ROLLBACK around it (SQLite's deferred BEGIN costs nothing)."""
        async with self.read_engine.connect() as conn:
            if not self.is_sqlite:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits on success and rolls back on error."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await self.run_before_commit(session)
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
        await self.run_after_commit(session)

    async def run_after_commit(self, session: AsyncSession) -> None:
        """Run the after-commit hooks (outbox notification and the like)."""
        for hook in self._after_commit:
            result = hook(session)
            if hasattr(result, "__await__"):
                await result
        session.info.clear()

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


async def insert_or_ignore(session: AsyncSession, model: Any, values: dict[str, Any]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING, for rows that concurrent transactions may both create."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    dialect = session.get_bind().dialect.name
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(model).values(**values).on_conflict_do_nothing()
    await session.execute(stmt)
