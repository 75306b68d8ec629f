"""Household and product imports: all rows or none, dry runs, matching on re-import, county scope."""

from __future__ import annotations

import io

import httpx
import openpyxl
from sqlalchemy import func, select

from livecommerce.catalog.models import Household, Product
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from tests.factories import Factory

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HOUSEHOLD_HEADER = ["县编号 (county_id)", "户主姓名 (name)", "村 (village)", "建档立卡编号 (registration_no)", "防返贫监测 (monitored)"]


def _xlsx(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _households(county_id: int, n: int, *, start: int = 0) -> list[list[object]]:
    return [[county_id, f"陈家{i}", "石岭村", f"44182100000{i:05d}", "否"] for i in range(start, start + n)]


async def _count(db: Database, model: type) -> int:
    async with db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _upload(
    client: httpx.AsyncClient, path: str, content: bytes, headers: dict[str, str], name: str = "h.xlsx", **params: str
) -> httpx.Response:
    return await client.post(path, files={"file": (name, content, XLSX)}, headers=headers, params=params)


class TestHouseholdImport:
    async def test_two_hundred_rows_with_one_bad_row_is_422_and_imports_nothing(
        self, client: httpx.AsyncClient, make: Factory, db: Database
    ) -> None:
        county = await make.county()
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        rows = _households(county.id, 200)
        rows[136][2] = ""  # spreadsheet row 138: no village
        r = await _upload(client, "/api/households/import", _xlsx([HOUSEHOLD_HEADER, *rows]), organizer.headers)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["errors"] == [{"row": 138, "column": "村 (village)", "message": "The cell is empty; fill it in."}]
        assert await _count(db, Household) == 0

    async def test_two_hundred_rows_import_and_reimport_updates(self, client: httpx.AsyncClient, make: Factory, db: Database) -> None:
        county = await make.county()
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        content = _xlsx([HOUSEHOLD_HEADER, *_households(county.id, 200)])
        r = await _upload(client, "/api/households/import", content, organizer.headers)
        assert r.status_code == 200, r.text
        assert r.json()["created"] == 200 and r.json()["updated"] == 0 and r.json()["errors"] == []
        changed = _households(county.id, 200)
        changed[0][1] = "陈改名"
        changed[0][4] = "是"
        r = await _upload(
            client, "/api/households/import", _xlsx([HOUSEHOLD_HEADER, *changed, *_households(county.id, 3, start=500)]), organizer.headers
        )
        assert r.status_code == 200, r.text
        assert (r.json()["created"], r.json()["updated"]) == (3, 200)
        assert await _count(db, Household) == 203
        async with db.transaction() as session:
            first = (await session.scalars(select(Household).where(Household.registration_no == changed[0][3]))).one()
        assert (first.name, first.monitored) == ("陈改名", True)

    async def test_dry_run_reports_and_imports_nothing(self, client: httpx.AsyncClient, make: Factory, db: Database) -> None:
        county = await make.county()
        admin = await make.user(Role.admin)
        r = await _upload(
            client, "/api/households/import", _xlsx([HOUSEHOLD_HEADER, *_households(county.id, 5)]), admin.headers, dry_run="true"
        )
        assert r.status_code == 200, r.text
        assert (r.json()["created"], r.json()["dry_run"]) == (5, True)
        assert await _count(db, Household) == 0

    async def test_organizer_cannot_import_into_another_county(self, client: httpx.AsyncClient, make: Factory, db: Database) -> None:
        mine, theirs = await make.county(), await make.county(name="Other county")
        organizer = await make.user(Role.organizer, county_ids=[mine.id])
        rows = [*_households(mine.id, 2), *_households(theirs.id, 1, start=10)]
        r = await _upload(client, "/api/households/import", _xlsx([HOUSEHOLD_HEADER, *rows]), organizer.headers)
        assert r.status_code == 422, r.text
        (error,) = r.json()["errors"]
        assert error["row"] == 4 and "Other county" in error["message"]
        assert await _count(db, Household) == 0

    async def test_csv_with_bom_english_headers_and_a_default_county(self, client: httpx.AsyncClient, make: Factory, db: Database) -> None:
        county = await make.county()
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        text = "\ufeffname,village,registration_no\n李四,石岭村,441821000000000099\n"
        r = await client.post(
            "/api/households/import",
            files={"file": ("h.csv", text.encode(), "text/csv")},
            params={"county_id": str(county.id)},
            headers=organizer.headers,
        )
        assert r.status_code == 200, r.text
        assert r.json()["created"] == 1

    async def test_duplicate_registration_number_is_masked_in_the_error(self, client: httpx.AsyncClient, make: Factory) -> None:
        county = await make.county()
        admin = await make.user(Role.admin)
        rows = _households(county.id, 2)
        rows[1][3] = rows[0][3]
        r = await _upload(client, "/api/households/import", _xlsx([HOUSEHOLD_HEADER, *rows]), admin.headers)
        assert r.status_code == 422, r.text
        assert str(rows[0][3]) not in r.text
        assert r.json()["errors"][0]["row"] == 3

    async def test_viewer_is_403_and_wrong_kind_of_file_is_422(self, client: httpx.AsyncClient, make: Factory) -> None:
        viewer, admin = await make.user(Role.viewer), await make.user(Role.admin)
        content = _xlsx([HOUSEHOLD_HEADER])
        assert (await _upload(client, "/api/households/import", content, viewer.headers)).status_code == 403
        r = await _upload(client, "/api/households/import", b"hello", admin.headers, name="h.txt")
        assert r.status_code == 422 and r.json()["errors"][0]["message"] == "Upload an .xlsx or .csv file."

    async def test_huge_file_is_413(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        r = await _upload(client, "/api/households/import", b"a" * (5 * 1024 * 1024), admin.headers, name="h.csv")
        assert r.status_code == 413, r.text

    async def test_template_reads_back_as_a_valid_import(self, client: httpx.AsyncClient, make: Factory, db: Database) -> None:
        county = await make.county()
        admin = await make.user(Role.admin)
        r = await client.get("/api/households/import-template.xlsx", headers=admin.headers)
        assert r.status_code == 200 and r.headers["content-type"] == XLSX
        book = openpyxl.load_workbook(io.BytesIO(r.content))
        assert len(book.sheetnames) == 2
        sheet = book.worksheets[0]
        sheet.cell(row=2, column=1, value=county.id)
        out = io.BytesIO()
        book.save(out)
        r = await _upload(client, "/api/households/import", out.getvalue(), admin.headers)
        assert r.status_code == 200, r.text
        assert r.json()["created"] == 1


class TestProductImport:
    async def test_products_created_then_updated_on_county_and_name(self, client: httpx.AsyncClient, make: Factory, db: Database) -> None:
        county = await make.county()
        household = await make.household(county.id)
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        header = ["county_id", "name", "unit", "price_yuan", "stock", "splits"]
        splits = f"household:{household.id}=7000; county:{county.id}=2000; platform=1000"
        rows = [
            header,
            [county.id, "连州菜心", "箱", 39.9, 100, splits],
            [county.id, "@SUM(A1) 土鸡蛋", "斤", "12.00", 5, "platform=10000"],
        ]
        r = await _upload(client, "/api/products/import", _xlsx(rows), organizer.headers)
        assert r.status_code == 200, r.text
        assert (r.json()["created"], r.json()["updated"]) == (1 + 1, 0)
        rows[1][3], rows[1][4] = "45.50", 80
        r = await _upload(client, "/api/products/import", _xlsx(rows), organizer.headers)
        assert (r.json()["created"], r.json()["updated"]) == (0, 2)
        assert await _count(db, Product) == 2
        async with db.transaction() as session:
            product = (await session.scalars(select(Product).where(Product.name == "连州菜心"))).one()
        assert (product.price_fen, product.stock) == (4550, 80)

    async def test_bad_splits_and_prices_are_row_errors(self, client: httpx.AsyncClient, make: Factory, db: Database) -> None:
        county, other = await make.county(), await make.county()
        stranger = await make.household(other.id)
        admin = await make.user(Role.admin)
        header = ["县编号", "品名", "单位", "单价（元）", "库存", "分账"]
        rows = [
            header,
            [county.id, "a", "箱", "1.999", 1, "platform=10000"],
            [county.id, "b", "箱", "2", 1, "platform=9000"],
            [county.id, "c", "箱", "2", 1, f"household:{stranger.id}=5000; platform=5000"],
        ]
        r = await _upload(client, "/api/products/import", _xlsx(rows), admin.headers)
        assert r.status_code == 422, r.text
        errors = r.json()["errors"]
        assert [(e["row"], e["column"]) for e in errors] == [(2, "单价（元）"), (3, "分账"), (4, "分账")]
        assert await _count(db, Product) == 0
