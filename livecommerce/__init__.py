"""livecommerce: live-stream commerce for rural revitalization, every fen credited home."""

from sqlmodel import SQLModel

# Deterministic constraint names, so migrations (and SQLite batch rebuilds) can refer to them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

__version__ = "0.1.0"
