"""Typed access to the Core table behind a SQLModel class."""

from __future__ import annotations

from sqlalchemy import Table, inspect
from sqlmodel import SQLModel


def table_of(model: type[SQLModel]) -> Table:
    """The `Table` of a table model; `Model.__table__` is untyped in SQLModel's stubs."""
    table = inspect(model).local_table
    assert isinstance(table, Table), f"{model.__name__} is not mapped to a single table"
    return table
