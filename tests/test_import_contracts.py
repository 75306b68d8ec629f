"""The import-linter contracts in pyproject.toml: kept by the tree, broken by a wrong-way import in a copy of it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("livecommerce", "streams", "schedulers", "web")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports on the packages under `tree` (found there first, before the installed ones)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the source packages and pyproject.toml to break."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "static", "templates"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_import(tree: Path, module_path: str, statement: str) -> None:
    with (tree / module_path).open("a", encoding="utf-8") as f:
        f.write(f"\n{statement}  # deliberately wrong\n")


class TestContracts:
    def test_the_tree_keeps_every_contract(self, tree: Path) -> None:
        result = lint_imports(tree)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "0 broken" in result.stdout

    def test_the_core_importing_the_relay_breaks_the_floors(self, tree: Path) -> None:
        add_import(tree, "livecommerce/catalog/service.py", "import streams.ws")
        result = lint_imports(tree)
        assert result.returncode == 1
        assert "Floors run one way" in result.stdout
        assert "livecommerce.catalog.service -> streams.ws" in result.stdout

    def test_reading_another_domains_tables_breaks_ownership(self, tree: Path) -> None:
        add_import(tree, "livecommerce/ledger/reports.py", "from livecommerce.catalog.models import Product")
        result = lint_imports(tree)
        assert result.returncode == 1
        assert "Only catalog touches its tables" in result.stdout
        assert "livecommerce.ledger.reports -> livecommerce.catalog.models" in result.stdout

    def test_a_page_reading_the_event_log_tables_breaks_ownership(self, tree: Path) -> None:
        add_import(tree, "web/queries.py", "from livecommerce.broadcasts.models import OutboxEvent")
        result = lint_imports(tree)
        assert result.returncode == 1
        assert "Only broadcasts touches its tables" in result.stdout
        assert "web.queries -> livecommerce.broadcasts.models" in result.stdout

    def test_importing_the_composition_root_breaks_the_build(self, tree: Path) -> None:
        add_import(tree, "schedulers/jobs.py", "import livecommerce.main.app")
        result = lint_imports(tree)
        assert result.returncode == 1
        assert "Nothing imports the composition root" in result.stdout

    def test_the_relay_importing_the_scheduler_breaks_their_independence(self, tree: Path) -> None:
        add_import(tree, "streams/endpoints.py", "import schedulers.rules")
        result = lint_imports(tree)
        assert result.returncode == 1
        assert "independent siblings" in result.stdout
