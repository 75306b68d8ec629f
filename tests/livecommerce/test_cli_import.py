"""`livecommerce import households|products FILE`: a progress bar, a table of row errors and exit 1, all or nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool

from livecommerce.catalog.models import Household, Product
from livecommerce.kit.db import sync_url
from tests.databases import scratch_database
from tests.livecommerce.test_cli import invoke


@pytest.fixture
def county_db(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A migrated scratch database with one county."""
    with scratch_database(tmp_path, "cliimport") as url:
        engine = create_engine(sync_url(url), poolclass=NullPool)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO counties (name, code, city, province) VALUES ('连州市', 'LZ', '清远', '广东')"))
            county_id = int(conn.execute(text("SELECT id FROM counties")).scalar_one())
        engine.dispose()
        yield url, county_id


def _count(url: str, model: type) -> int:
    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(model)).scalar_one())  # type: ignore[arg-type]
    finally:
        engine.dispose()


def _workbook(path: Path, rows: list[list[object]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


class TestImportCommand:
    def test_households_import_dry_run_then_for_real(self, county_db: tuple[str, int], tmp_path: Path) -> None:
        url, county_id = county_db
        rows = [["name", "village", "registration_no"], *[[f"陈{i}", "石岭村", f"4418{i:06d}"] for i in range(30)]]
        file = _workbook(tmp_path / "households.xlsx", rows)
        code, output = invoke(url, "import", "households", str(file), "--county-id", str(county_id), "--dry-run")
        assert code == 0, output
        assert "would create 30" in output and _count(url, Household) == 0
        code, output = invoke(url, "import", "households", str(file), "--county-id", str(county_id))
        assert code == 0, output
        assert "created 30" in output and _count(url, Household) == 30
        code, output = invoke(url, "import", "households", str(file), "--county-id", str(county_id))
        assert "created 0, updated 30" in output and _count(url, Household) == 30

    def test_bad_rows_print_a_table_and_exit_1(self, county_db: tuple[str, int], tmp_path: Path) -> None:
        url, county_id = county_db
        file = tmp_path / "products.csv"
        file.write_text(
            "\ufeffcounty_id,name,unit,price_yuan,stock,splits\n"
            f"{county_id},菜心,箱,39.90,10,platform=10000\n"
            f"{county_id},腊肉,斤,abc,10,platform=10000\n"
            f"{county_id + 7},茶,盒,10,10,platform=10000\n",
            encoding="utf-8",
        )
        code, output = invoke(url, "import", "products", str(file))
        assert code == 1, output
        assert "Row errors" in output and "price_yuan" in output and f"County {county_id + 7} does not exist" in output
        assert _count(url, Product) == 0
