"""Applying and checking the schema migrations."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from livecommerce.kit.db import sync_url


def alembic_config(database_url: str) -> Config:
    """An Alembic configuration for the given database, using the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", "livecommerce:migrations")
    config.set_main_option("sqlalchemy.url", sync_url(database_url).render_as_string(hide_password=False))
    return config


def upgrade(database_url: str, revision: str = "heads") -> None:
    """Apply every pending migration."""
    command.upgrade(alembic_config(database_url), revision)


def pending_revisions(database_url: str) -> set[str]:
    """The migration heads not yet applied to the database."""
    config = alembic_config(database_url)
    heads = set(ScriptDirectory.from_config(config).get_heads())
    engine = create_engine(sync_url(database_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()
    return heads - current
