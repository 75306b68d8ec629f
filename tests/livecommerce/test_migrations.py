"""The migrations build exactly the schema the models describe, on SQLite and on PostgreSQL, and run down and up again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.pool import NullPool

from livecommerce.kit.db import sync_url
from livecommerce.main.migrate import alembic_config, pending_revisions, upgrade
from livecommerce.main.registry import load_models
from tests.databases import scratch_database


def schema_differences(engine: Engine) -> list[Any]:
    """What autogenerate would change to make the database match the models (nothing, when they agree)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
        return list(compare_metadata(context, load_models()))


@pytest.fixture
def scratch_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of the backend under test, dropped afterwards."""
    with scratch_database(tmp_path, "scratch", migrate=False) as url:
        yield url


class TestUpgrade:
    def test_every_head_is_applied_to_the_test_database(self, database_url: str) -> None:
        assert pending_revisions(database_url) == set()

    def test_migrated_schema_matches_the_models(self, sync_engine: Engine) -> None:
        assert schema_differences(sync_engine) == []

    def test_every_model_table_exists(self, sync_engine: Engine) -> None:
        tables = set(inspect(sync_engine).get_table_names())
        assert {t.name for t in load_models().sorted_tables} <= tables

    def test_revisions_form_one_tree_rooted_at_the_initial_schema(self, database_url: str) -> None:
        script = ScriptDirectory.from_config(alembic_config(database_url))
        bases = script.get_bases()
        assert bases == ["0001"]
        for revision in script.walk_revisions():
            assert revision.doc, f"revision {revision.revision} has no message"


class TestDowngradeAndUpgradeAgain:
    def test_down_to_base_leaves_no_table_and_up_again_matches_the_models(self, scratch_url: str) -> None:
        upgrade(scratch_url)
        engine = sa_create_engine(sync_url(scratch_url), poolclass=NullPool)
        try:
            assert schema_differences(engine) == []
            command.downgrade(alembic_config(scratch_url), "base")
            assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
            upgrade(scratch_url)
            assert pending_revisions(scratch_url) == set()
            assert schema_differences(engine) == []
        finally:
            engine.dispose()

    def test_upgrade_twice_is_a_no_op(self, scratch_url: str) -> None:
        upgrade(scratch_url)
        upgrade(scratch_url)
        assert pending_revisions(scratch_url) == set()
