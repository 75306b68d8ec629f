"""Scratch databases of the backend under test: a SQLite file, or a PostgreSQL database made and dropped."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from livecommerce.main.migrate import upgrade

BACKEND = os.environ.get("LIVECOMMERCE_TEST_BACKEND", "sqlite")
PG_ADMIN_URL = os.environ.get("LIVECOMMERCE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def pg_url(dbname: str) -> str:
    """The URL of database `dbname` on the test PostgreSQL server."""
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{dbname}"


@contextmanager
def scratch_database(folder: Path, prefix: str, *, migrate: bool = True) -> Iterator[str]:
    """A new database on the test backend (migrated unless told not to), removed afterwards.

    PostgreSQL must be reachable: a backend test fails rather than skips without it.
    """
    if BACKEND == "sqlite":
        url = f"sqlite:///{folder / f'{prefix}.db'}"
        if migrate:
            upgrade(url)
        yield url
        return
    if BACKEND != "postgresql":
        raise ValueError(f"unknown LIVECOMMERCE_TEST_BACKEND {BACKEND!r}")
    dbname = f"lc_{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    try:
        url = pg_url(dbname)
        if migrate:
            upgrade(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
