"""Migration 0021 fills the review's running rows from history: a database upgraded with old streams reviews as before."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import httpx
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Engine, text

from livecommerce.kit.clock import FrozenClock
from tests.factories import Factory
from tests.livecommerce.review.support import scripted_broadcast

REVISION = Path(__file__).resolve().parents[3] / "livecommerce" / "migrations" / "versions" / "0023_review_sums.py"
TABLES = {
    "sales_minutes": "stream_id, minute",
    "audience_minutes": "stream_id, minute",
    "stream_audience": "stream_id",
    "stream_buyers": "stream_id, buyer_id",
}


def _rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY {key}")).all()] for t, key in TABLES.items()}


def _refill(engine: Engine) -> None:
    """Empty the running tables and run the revision's backfill, as an upgrade of a database with history does."""
    spec = importlib.util.spec_from_file_location("review_sums", REVISION)
    assert spec is not None and spec.loader is not None
    revision = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(revision)
    with engine.begin() as conn:
        for table in TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
        with Operations.context(MigrationContext.configure(conn)):
            revision._backfill()


class TestBackfill:
    async def test_the_backfill_writes_what_the_postings_and_appends_wrote(
        self, client: httpx.AsyncClient, make: Factory, clock: FrozenClock, sync_engine: Engine
    ) -> None:
        broadcast = await scripted_broadcast(make, client, clock)
        before = (await client.get(f"/api/streams/{broadcast.stream_id}/review", headers=broadcast.organizer.headers)).json()
        kept = _rows(sync_engine)
        assert all(kept.values())  # the broadcast left rows in every table

        _refill(sync_engine)

        assert _rows(sync_engine) == kept
        after = (await client.get(f"/api/streams/{broadcast.stream_id}/review", headers=broadcast.organizer.headers)).json()
        assert after == before
