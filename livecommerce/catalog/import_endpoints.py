"""Spreadsheet routes of master data: household and product imports, and their templates."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import Response

from livecommerce.catalog import imports
from livecommerce.catalog.schemas import ImportResult
from livecommerce.kit.auth import StaffUser
from livecommerce.kit.deps import ClockDep, SessionDep, SettingsDep
from livecommerce.kit.errors import PayloadTooLarge
from livecommerce.kit.i18n import _l
from livecommerce.kit.query import QueryBool, QueryInt, flag, number
from livecommerce.kit.spreadsheets import XLSX_MEDIA_TYPE
from livecommerce.kit.types import MAX_ID

router = APIRouter(prefix="/api", tags=["master data"])

HOUSEHOLDS_IMPORT = "/api/households/import"
PRODUCTS_IMPORT = "/api/products/import"
# The paths whose request bodies may be larger than the API's usual limit (up to `import_max_bytes`).
IMPORT_PATHS = (HOUSEHOLDS_IMPORT, PRODUCTS_IMPORT)

DryRun = Annotated[QueryBool, Query(description=flag("Check every row and report what would change; import nothing."))]
DefaultCounty = Annotated[QueryInt | None, Query(gt=0, le=MAX_ID, description=number("The county of rows that leave `county_id` empty."))]
Upload = Annotated[UploadFile, File(description="An .xlsx workbook (its first sheet) or a .csv file, header in row 1.")]
IMPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "Not staff"},
    413: {"description": "The file is larger than the import limit, or a workbook expands too far"},
    422: {"description": "Nothing imported: `errors` lists each bad row as `{row, column, message}`"},
}
TEMPLATE_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "The template workbook"}}


async def _content(upload: UploadFile, limit: int) -> tuple[str, bytes]:
    content = await upload.read(limit + 1)
    if len(content) > limit:
        raise PayloadTooLarge(_l("The file is larger than {mib} MiB; split it into smaller files.", mib=limit // (1024 * 1024)))
    return upload.filename or "", content


@router.post(
    "/households/import",
    response_model=ImportResult,
    summary="Import households from .xlsx or .csv: all rows or none (admin; organizers for their counties)",
    responses=IMPORT_RESPONSES,
)
async def import_households(
    session: SessionDep,
    principal: StaffUser,
    settings: SettingsDep,
    clock: ClockDep,
    file: Upload,
    dry_run: DryRun = False,
    county_id: DefaultCounty = None,
) -> ImportResult:
    """Rows match existing households on `registration_no` (updated) or are added; any bad row: 422, nothing imported."""
    filename, content = await _content(file, settings.import_max_bytes)
    return await imports.import_households(
        session, principal, filename, content, county_id=county_id, dry_run=dry_run, max_rows=settings.import_max_rows, now=clock.now()
    )


@router.post(
    "/products/import",
    response_model=ImportResult,
    summary="Import products from .xlsx or .csv: all rows or none (admin; organizers for their counties)",
    responses=IMPORT_RESPONSES,
)
async def import_products(
    session: SessionDep,
    principal: StaffUser,
    settings: SettingsDep,
    clock: ClockDep,
    file: Upload,
    dry_run: DryRun = False,
    county_id: DefaultCounty = None,
) -> ImportResult:
    """Rows match existing products on (county, name) (price, stock, splits updated) or are added; any bad row: 422."""
    filename, content = await _content(file, settings.import_max_bytes)
    return await imports.import_products(
        session, principal, filename, content, county_id=county_id, dry_run=dry_run, max_rows=settings.import_max_rows, now=clock.now()
    )


@router.get(
    "/households/import-template.xlsx",
    response_class=Response,
    responses=TEMPLATE_RESPONSES,
    summary="The household import template: header, an example row, and instructions",
)
async def household_template(_staff: StaffUser) -> Response:
    headers = {"Content-Disposition": 'attachment; filename="households-template.xlsx"'}
    return Response(imports.household_template(), media_type=XLSX_MEDIA_TYPE, headers=headers)


@router.get(
    "/products/import-template.xlsx",
    response_class=Response,
    responses=TEMPLATE_RESPONSES,
    summary="The product import template: header, an example row, and instructions",
)
async def product_template(_staff: StaffUser) -> Response:
    headers = {"Content-Disposition": 'attachment; filename="products-template.xlsx"'}
    return Response(imports.product_template(), media_type=XLSX_MEDIA_TYPE, headers=headers)
