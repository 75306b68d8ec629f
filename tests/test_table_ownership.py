"""One owner per table, where import-linter cannot see it: a table named by a string, or in raw SQL."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from sqlmodel import SQLModel

from livecommerce.main.registry import load_models

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("livecommerce", "streams", "schedulers", "web")
# Alembic revisions create and alter every table; that is their job.
EXEMPT = ("livecommerce/migrations/",)
SQL_TABLE = re.compile(r"\b(?:FROM|JOIN|UPDATE|INTO|TABLE)\s+\"?([a-z_][a-z0-9_]*)", re.IGNORECASE)


def owners() -> dict[str, str]:
    """Each table's owning package: the package whose `models` module defines it."""
    load_models()
    result = {}
    for mapper in SQLModel._sa_registry.mappers:
        table = mapper.local_table
        result[str(table.name)] = mapper.class_.__module__.removesuffix(".models")
    return result


def package_of(module: str) -> str:
    """The package that owns tables at this module's level (`livecommerce.ledger.reports` → `livecommerce.ledger`)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "livecommerce" else parts[0]


def foreign_tables(source: str, module: str, owned_by: dict[str, str]) -> list[str]:
    """Tables of other packages that this source names by string in `table(...)`/`Table(...)` or in SQL text."""
    found = []
    mine = package_of(module)
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if called in ("table", "Table"):
                names.append(node.args[0].value)
            elif called == "text":
                names += SQL_TABLE.findall(node.args[0].value)
        for name in names:
            owner = owned_by.get(name)
            if owner is not None and owner != mine:
                found.append(f"{module} names {name!r} (owned by {owner})")
    return found


class TestTableOwnership:
    def test_no_module_names_another_packages_table(self) -> None:
        owned_by = owners()
        problems = []
        for package in PACKAGES:
            for path in sorted((ROOT / package).rglob("*.py")):
                relative = path.relative_to(ROOT).as_posix()
                if relative.startswith(EXEMPT):
                    continue
                module = relative.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
                problems += foreign_tables(path.read_text(encoding="utf-8"), module, owned_by)
        assert problems == []

    def test_a_table_named_by_string_in_another_package_is_found(self) -> None:
        source = 'from sqlalchemy import column, table\n_STREAMS = table("streams", column("id"))\n'
        assert foreign_tables(source, "livecommerce.ledger.reports", owners()) == [
            "livecommerce.ledger.reports names 'streams' (owned by livecommerce.broadcasts)"
        ]

    def test_raw_sql_on_another_packages_table_is_found(self) -> None:
        source = 'from sqlalchemy import text\nCLEAN = text("UPDATE products SET stock = 0")\n'
        assert foreign_tables(source, "schedulers.jobs", owners()) == ["schedulers.jobs names 'products' (owned by livecommerce.catalog)"]

    def test_a_package_naming_its_own_table_is_fine(self) -> None:
        source = 'from sqlalchemy import text\nCOUNT = text("SELECT count(*) FROM ledger_entries")\n'
        assert foreign_tables(source, "livecommerce.ledger.books", owners()) == []
