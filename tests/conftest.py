"""Shared fixtures: a real database per test run (SQLite or PostgreSQL), the app, clients, factories.

The backend comes from LIVECOMMERCE_TEST_BACKEND (`sqlite`, the default, or `postgresql`).
PostgreSQL tests create their own database on the server named by LIVECOMMERCE_TEST_PG_URL
(default: the local server) and drop it afterwards; if the server cannot be reached the run
fails: backend tests are never skipped.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import fastapi.dependencies.models as fastapi_dependencies
import httpx
import hypothesis
import pytest
from sqlalchemy import Engine, text
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.pool import NullPool

from livecommerce.kit.clock import Clock
from livecommerce.kit.db import Database, sync_url
from livecommerce.kit.settings import Settings
from livecommerce.main.app import create_app
from livecommerce.main.registry import load_models
from tests import factories
from tests.databases import BACKEND, scratch_database

REDIS_URL = os.environ.get("LIVECOMMERCE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_SECRET = "test-secret-key-not-for-production"
LEFTOVER_GRACE_SECONDS = 5.0


# Properties are about correctness, never speed: no example may fail for taking longer than
# hypothesis's default 200 ms deadline, or be refused as slow to generate, on a loaded CI machine
# (an XLSX round trip per example once exceeded it while both backends' passes ran).
hypothesis.settings.register_profile("livecommerce", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow])
hypothesis.settings.load_profile("livecommerce")


def pytest_report_header() -> str:
    return f"livecommerce backend: {BACKEND}"


# FastAPI memoizes whether each endpoint and dependency is a coroutine or a generator in
# module-level caches of 4,096 entries keyed on the callables themselves, whose closures hold
# their app: dozens of the suite's apps (each with its engines, routes and schemas) stayed alive
# at any time, and the run's heap grew past 2.5 GB. Emptied after each test; a missing cache
# (another FastAPI version) is simply not there to empty.
_FASTAPI_CALL_CACHES: list[Any] = [
    getattr(fastapi_dependencies, name)
    for name in ("_is_gen_callable_cached", "_is_async_gen_callable_cached", "_is_coroutine_callable_cached")
    if hasattr(getattr(fastapi_dependencies, name, None), "cache_clear")
]


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    for cache in _FASTAPI_CALL_CACHES:
        cache.cache_clear()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, migrated database for this test run."""
    with scratch_database(tmp_path_factory.mktemp("db"), "test") as url:
        yield url


@pytest.fixture(scope="session")
def table_names(database_url: str) -> list[str]:
    """Every table of the schema (for cleaning between tests)."""
    return [t.name for t in reversed(load_models().sorted_tables)]


@pytest.fixture(scope="session")
def sync_engine(database_url: str) -> Iterator[Engine]:
    """A synchronous engine on the test database (for cleaning and direct checks)."""
    connect_args = {"timeout": 30} if database_url.startswith("sqlite") else {}
    engine = sa_create_engine(sync_url(database_url), poolclass=NullPool, connect_args=connect_args)
    yield engine
    engine.dispose()


def _running_tasks() -> set[asyncio.Task[object]]:
    current = asyncio.current_task()
    return {t for t in asyncio.all_tasks() if t is not current and not t.done()}


async def _stop_leftover_tasks(before: set[asyncio.Task[object]]) -> list[str]:
    """The tasks the test started and left running (after a short grace), cancelled and awaited."""
    leftover = _running_tasks() - before
    if leftover:
        _, still = await asyncio.wait(leftover, timeout=LEFTOVER_GRACE_SECONDS)
        leftover = set(still)
    for task in leftover:
        task.cancel()
    if leftover:
        await asyncio.wait(leftover, timeout=LEFTOVER_GRACE_SECONDS)
    return sorted(t.get_name() + ": " + repr(t.get_coro()) for t in leftover)


@pytest.fixture
async def fresh_database(database_url: str, sync_engine: Engine, table_names: list[str]) -> AsyncIterator[str]:
    """The test database, emptied after the test, once everything the test started has stopped.

    Set up before the app and the servers of a test, so torn down after them: a task still
    running here (a server's connection handler, a relay or scheduler loop) would write while
    the tables are emptied, the `database is locked` of a teardown. Such a test fails.
    """
    before = _running_tasks()
    yield database_url
    leftover = await _stop_leftover_tasks(before)
    _empty(sync_engine, table_names)
    assert not leftover, f"the test left tasks running: {leftover}"


def _empty(sync_engine: Engine, table_names: list[str]) -> None:
    with sync_engine.begin() as conn:
        if sync_engine.dialect.name == "sqlite":
            extra = [r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'apscheduler%'"))]
            for name in [*extra, *table_names]:
                conn.execute(text(f'DELETE FROM "{name}"'))
            if conn.execute(text("SELECT name FROM sqlite_master WHERE name='sqlite_sequence'")).first():
                conn.execute(text("DELETE FROM sqlite_sequence"))
        else:
            extra = [
                r[0]
                for r in conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename LIKE 'apscheduler%'"))
            ]
            # DELETE with triggers off (FK checks and the ledger's append-only guards) and a
            # sequence reset is several times faster than TRUNCATE on these tiny tables.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text("; ".join(f'DELETE FROM "{n}"' for n in [*extra, *table_names])))
            conn.execute(
                text(
                    "SELECT setval(c.oid, 1, false) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relkind = 'S' AND n.nspname = 'public'"
                )
            )


@pytest.fixture
def settings(fresh_database: str) -> Settings:
    """Settings for an app under test: the test database, no Redis, no scheduler, a coalescer that never ticks.

    The app's coalescer appends `sales.updated` and `viewers.updated` to every live stream on
    its own clock; a test that reads a stream's event log would race it. Tests of the relay,
    which need it, set a short interval (tests/streams/relay/conftest.py).
    """
    return Settings(
        database_url=fresh_database,
        redis_url=None,
        secret_key=TEST_SECRET,
        run_scheduler=False,
        rate_limits_enabled=False,
        redis_prefix=f"lctest{uuid.uuid4().hex[:8]}",
        relay_coalesce_interval_seconds=24 * 3600,
        # A loaded CI machine (both backends' suites at once) can take longer than production's 5 s to connect.
        db_connect_timeout_seconds=30,
    )


@pytest.fixture
def clock() -> Clock:
    """The clock the app uses; override in a test module for a FrozenClock."""
    return Clock()


@pytest.fixture
async def app(settings: Settings, clock: Clock) -> AsyncIterator[object]:
    """A started app instance (lifespan run), not listening on a socket."""
    application = create_app(settings, clock=clock, migrate=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client calling the app in-process."""
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def db(app: object) -> Database:
    """The app's database."""
    return app.state.db  # type: ignore[attr-defined,no-any-return]


@pytest.fixture
def make(db: Database, settings: Settings) -> factories.Factory:
    """Factories for test data, writing through the services."""
    return factories.Factory(db, settings)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = Path(__file__).parent / "artifacts"
    path.mkdir(exist_ok=True)
    return path
