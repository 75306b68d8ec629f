"""The back office's spreadsheet import in a real Chromium: template, a bad row, a dry run, the real import."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
from openpyxl import Workbook, load_workbook
from playwright.async_api import Browser, Page, expect

from livecommerce.kit.principal import Role
from tests.e2e.test_manage_pages import browser, database_url_of_server, pytestmark, seed, server, signed_in
from tests.factories import Factory, TestUser

__all__ = ["browser", "database_url_of_server", "pytestmark", "seed", "server"]

HOUSEHOLDS = 200
BAD_ROW = 58  # the spreadsheet's row number (the header is row 1): data row 57


async def households_of(server: str, user: TestUser, county_id: int) -> list[dict[str, object]]:
    """Every household of the county, through the API, page by page."""
    found: list[dict[str, object]] = []
    cursor: str | None = None
    async with httpx.AsyncClient(base_url=server, timeout=10) as api:
        while True:
            params: dict[str, str | int] = {"county_id": county_id, "limit": 100, **({"cursor": cursor} if cursor else {})}
            r = await api.get("/api/households", params=params, headers=user.headers)
            assert r.status_code == 200, r.text
            found += r.json()["items"]
            cursor = r.json()["next_cursor"]
            if not cursor:
                return found


def workbook(path: Path, header: list[str], county_id: int, *, bad_row: int | None) -> Path:
    """200 households under the template's header; on `bad_row` the village is left empty."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    for i in range(1, HOUSEHOLDS + 1):
        village = "" if i + 1 == bad_row else f"石岭{i % 7}村"
        sheet.append([county_id, f"导入户{i:03d}", village, f"44182100{i:06d}", "是" if i % 10 == 0 else "否"])
    book.save(path)
    return path


async def upload(page: Page, path: Path, *, dry_run: bool) -> None:
    await page.locator("#import-file").set_input_files(str(path))
    await page.locator("#dry-run").set_checked(dry_run)
    await page.get_by_role("button", name="Upload").click()


async def test_an_organizer_imports_200_households_after_a_bad_row_and_a_dry_run(
    server: str, seed: Factory, browser: Browser, artifacts_dir: Path, tmp_path: Path
) -> None:
    county = await seed.county(name="Lianzhou")
    assert county.id is not None
    organizer = await seed.user(Role.organizer, county_ids=[county.id])
    context = await signed_in(browser, server, organizer)
    page = await context.new_page()
    await page.goto("/manage/households")

    # The list page links the template; it downloads as a workbook whose first row is the import's header.
    async with page.expect_download() as download_info:
        await page.locator("#template-link").click()
    download = await download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    template = Path(await download.path())
    assert template.read_bytes()[:2] == b"PK"
    sheet = load_workbook(io.BytesIO(template.read_bytes()), read_only=True).worksheets[0]
    header = [str(c) for c in next(sheet.iter_rows(max_row=1, values_only=True))]
    assert "户主姓名 (name)" in header and "建档立卡编号 (registration_no)" in header

    await page.locator("#import-link").click()
    await expect(page.locator("h1")).to_have_text("Import households")
    # The dry-run checkbox is a checkbox beside its words, not a text input's full width.
    box, label = await page.locator("#dry-run").bounding_box(), await page.locator("label.check").bounding_box()
    assert box is not None and label is not None and box["width"] < 40 and abs(box["y"] - label["y"]) < 20

    # One bad row: the page names it (row, column, problem) and nothing is imported, even unchecked.
    bad = workbook(tmp_path / "bad.xlsx", header, county.id, bad_row=BAD_ROW)
    await upload(page, bad, dry_run=False)
    await expect(page.locator("#import-summary")).to_contain_text("Nothing was imported")
    rows = page.locator("#import-errors tbody tr")
    await expect(rows).to_have_count(1)
    cells = rows.nth(0).locator("td")
    await expect(cells.nth(0)).to_have_text(str(BAD_ROW))
    await expect(cells.nth(0)).to_have_class("num")  # under its right-aligned heading
    await expect(cells.nth(1)).to_have_text("村 (village)")
    await expect(cells.nth(2)).to_have_text("The cell is empty; fill it in.")
    await page.screenshot(path=str(artifacts_dir / "page-manage-import-bad-row.png"), full_page=True)
    assert await households_of(server, organizer, county.id) == []

    # The fixed file, checked only: the counts, and still nothing imported.
    fixed = workbook(tmp_path / "fixed.xlsx", header, county.id, bad_row=None)
    await upload(page, fixed, dry_run=True)
    await expect(page.locator("#import-summary")).to_have_text(f"Checked: {HOUSEHOLDS} would be created, 0 updated; nothing was imported.")
    await expect(page.locator("#import-errors")).to_be_hidden()
    assert await households_of(server, organizer, county.id) == []

    # The real import.
    await upload(page, fixed, dry_run=False)
    await expect(page.locator("#import-summary")).to_have_text(f"Imported: {HOUSEHOLDS} created, 0 updated.")
    imported = await households_of(server, organizer, county.id)
    assert sorted(str(h["name"]) for h in imported) == [f"导入户{i:03d}" for i in range(1, HOUSEHOLDS + 1)]
    assert sum(bool(h["monitored"]) for h in imported) == HOUSEHOLDS // 10

    # The list shows them: the county's first page is full, and a search finds the last one.
    await page.goto(f"/manage/households?county_id={county.id}")
    await expect(page.locator("#households tbody tr")).to_have_count(25)
    await page.goto(f"/manage/households?county_id={county.id}&q=导入户200")
    await expect(page.locator("#households tbody tr")).to_have_count(1)
    await expect(page.locator("#households tbody tr td").nth(2)).to_have_text("石岭4村")
    await context.close()


async def test_the_same_script_imports_products_from_the_products_page(
    server: str, seed: Factory, browser: Browser, tmp_path: Path
) -> None:
    county = await seed.county(name="Yangshan")
    assert county.id is not None
    organizer = await seed.user(Role.organizer, county_ids=[county.id])
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["county_id", "name", "unit", "price_yuan", "stock", "splits"])
    sheet.append([county.id, "阳山淮山", "箱", "39.90", 120, f"county:{county.id}=3000; platform=7000"])
    sheet.append([county.id, "阳山鸡", "只", "88", 30, "platform=10000"])
    book.save(tmp_path / "products.xlsx")
    context = await signed_in(browser, server, organizer)
    page = await context.new_page()
    await page.goto("/manage/products")
    await expect(page.locator("#template-link")).to_have_attribute("href", "/api/products/import-template.xlsx")
    await page.locator("#import-link").click()
    await expect(page.locator("h1")).to_have_text("Import products")
    await upload(page, tmp_path / "products.xlsx", dry_run=False)
    await expect(page.locator("#import-summary")).to_have_text("Imported: 2 created, 0 updated.")
    await page.goto(f"/manage/products?county_id={county.id}")
    await expect(page.locator("#products tbody tr")).to_have_count(2)
    await expect(page.locator("#products")).to_contain_text("¥39.90")
    await context.close()
