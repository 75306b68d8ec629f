"""Spreadsheets in and out, in one place: formula-safe cells, CSV that Excel reads, XLSX, and reading uploads.

Every export goes through `safe_cell`, so a name typed as `=HYPERLINK(...)` is shown, never run
(OWASP "CSV injection"). Money columns are integer fen; each one named `*_fen` gets a `*_yuan`
column beside it with two decimals, because the people who open these files count in yuan.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from livecommerce.kit.errors import InvalidInput, PayloadTooLarge
from livecommerce.kit.i18n import _l

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
BOM = "\ufeff"
YUAN_FORMAT = "#,##0.00"
FEN_FORMAT = "0"

# A spreadsheet runs a cell as a formula when it starts with one of these, Excel and WPS also
# after leading blanks and in the full-width forms a Chinese keyboard types.
FORMULA_STARTS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
LEADING_BLANKS = " \t\r\n\u00a0\u3000"

# Reading: a zipped workbook may expand a thousandfold (a "zip bomb"); refuse before parsing.
MAX_UNCOMPRESSED_BYTES = 64 * 1024 * 1024
MAX_CELL_CHARS = 2000

_HEADER_FONT = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="2F6B3A")
_MAX_WIDTH = 60


def safe_cell(value: object) -> object:
    """A text cell that a spreadsheet shows as text, never runs as a formula (prefixed with `'`); other values unchanged."""
    if isinstance(value, str) and value and (value[0] in FORMULA_STARTS or value.lstrip(LEADING_BLANKS)[:1] in FORMULA_STARTS):
        return "'" + value
    return value


def yuan(fen: int) -> Decimal:
    """Fen as yuan, exactly, with two decimals."""
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def yuan_header(header: str) -> str:
    """The yuan column beside a fen column: `gross_fen` → `gross_yuan`."""
    return header[: -len("_fen")] + "_yuan"


@dataclass(frozen=True)
class Sheet:
    """One table: a title, its column headers and rows. Columns named `*_fen` get a `*_yuan` column beside them."""

    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[object]] = field(default_factory=list)


def with_yuan(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> tuple[list[str], list[list[object]]]:
    """Insert a yuan column after every fen column (empty where the fen cell is empty)."""
    fen_at = [i for i, h in enumerate(headers) if h.endswith("_fen")]
    out_headers: list[str] = []
    for i, h in enumerate(headers):
        out_headers.append(h)
        if i in fen_at:
            out_headers.append(yuan_header(h))
    out_rows: list[list[object]] = []
    for row in rows:
        cells: list[object] = []
        for i, value in enumerate(row):
            cells.append(value)
            if i in fen_at:
                cells.append(yuan(value) if isinstance(value, int) and not isinstance(value, bool) else None)
        out_rows.append(cells)
    return out_headers, out_rows


def _plain(value: object) -> object:
    """A value a spreadsheet cell can hold: aware times as ISO text (openpyxl refuses them), the rest formula-safe."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, Decimal | int | float | date) or value is None:
        return value
    return safe_cell(str(value))


def csv_bytes(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """CSV as Excel on Chinese Windows reads it: UTF-8 with a byte order mark, yuan beside fen, formula-safe text."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    full_headers, full_rows = with_yuan(headers, rows)
    writer.writerow([safe_cell(h) for h in full_headers])
    for row in full_rows:
        writer.writerow(["" if v is None else _plain(v) for v in row])
    return out.getvalue().encode("utf-8")


def _width(value: object) -> int:
    text = "" if value is None else str(value)
    # CJK characters take two columns in Excel's default font.
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def workbook_bytes(sheets: Sequence[Sheet]) -> bytes:
    """An .xlsx with one worksheet per sheet: styled, frozen header, fitted widths, money formats, formula-safe text."""
    book = Workbook()
    first = book.active
    assert first is not None  # a new workbook has its first sheet
    book.remove(first)
    for spec in sheets:
        ws = book.create_sheet(spec.title[:31])
        headers, rows = with_yuan(spec.headers, spec.rows)
        widths = [_width(h) for h in headers]
        ws.append([safe_cell(h) for h in headers])
        for cell in ws[1]:
            cell.font, cell.fill, cell.alignment = _HEADER_FONT, _HEADER_FILL, Alignment(vertical="center")
        for row in rows:
            # XML cannot carry most control characters: openpyxl refuses them, so they are dropped.
            values = [ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in map(_plain, row)]
            ws.append(values)
            for i, value in enumerate(values):
                widths[i] = max(widths[i], _width(value)) if i < len(widths) else _width(value)
        _format_columns(ws, headers, len(rows))
        for i, width in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(i)].width = min(_MAX_WIDTH, max(8, width + 2))
        ws.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _format_columns(ws: Any, headers: Sequence[str], count: int) -> None:
    for col, header in enumerate(headers, start=1):
        fmt = YUAN_FORMAT if header.endswith("_yuan") else FEN_FORMAT if header.endswith("_fen") else None
        for row in ws.iter_rows(min_row=2, max_row=count + 1, min_col=col, max_col=col):
            for cell in row:
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # text stays text, whatever it begins with
                elif fmt is not None:
                    cell.number_format = fmt
                elif isinstance(cell.value, date):
                    cell.number_format = "yyyy-mm-dd"


# --- reading uploads ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One non-empty row of an upload: its number as the spreadsheet shows it (the header is row 1) and its cells."""

    number: int
    cells: list[object]


def _file_error(message: str) -> InvalidInput:
    return InvalidInput(message, extra={"errors": [{"row": None, "column": None, "message": message}]})


def read_rows(filename: str, content: bytes, *, max_rows: int) -> list[Row]:
    """The rows of an uploaded .xlsx (its first sheet) or .csv (UTF-8 with or without BOM, or GB18030), header first.

    Refuses an empty file, an unknown kind, an unreadable one, and more than `max_rows` data rows.
    """
    name = filename.lower()
    if name.endswith(".xlsx"):
        grid = _xlsx_grid(content)
    elif name.endswith(".csv"):
        grid = _csv_grid(content)
    else:
        raise _file_error("Upload an .xlsx or .csv file.")
    rows = [Row(i, list(cells)) for i, cells in enumerate(grid, start=1) if any(_blank(c) is False for c in cells)]
    if not rows:
        raise _file_error("The file is empty: it needs a header row and at least one data row.")
    if len(rows) - 1 > max_rows:
        raise _file_error(f"The file has {len(rows) - 1} data rows; at most {max_rows} may be imported at once.")
    for row in rows:
        for value in row.cells:
            if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                raise _file_error(f"Row {row.number} has a cell longer than {MAX_CELL_CHARS} characters.")
    return rows


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _xlsx_grid(content: bytes) -> list[list[object]]:
    from python_calamine import CalamineError, CalamineWorkbook, PasswordError, XmlError, ZipError

    buffer = io.BytesIO(content)
    if not zipfile.is_zipfile(buffer):
        raise _file_error("The file is not an .xlsx workbook.")
    with zipfile.ZipFile(buffer) as archive:
        if sum(info.file_size for info in archive.infolist()) > MAX_UNCOMPRESSED_BYTES:
            raise PayloadTooLarge(_l("The workbook expands to more than {mib} MiB.", mib=MAX_UNCOMPRESSED_BYTES // (1024 * 1024)))
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(content))
        return [list(r) for r in book.get_sheet_by_index(0).to_python(skip_empty_area=False)]
    except (CalamineError, PasswordError, XmlError, ZipError, ValueError, IndexError) as exc:
        raise _file_error("The workbook could not be read; save it again as .xlsx.") from exc
    except Exception as exc:  # a malformed upload may fail in the parser in ways it does not name; it is bad input, not a bug here
        raise _file_error("The workbook could not be read; save it again as .xlsx.") from exc


def _csv_grid(content: bytes) -> list[list[object]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel on Chinese Windows saves "CSV" in the local code page.
        try:
            text = content.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise _file_error("The CSV file is neither UTF-8 nor GB18030 text.") from exc
    if "\x00" in text:
        raise _file_error("The CSV file contains NUL characters; is it really a CSV file?")
    try:
        return [list(r) for r in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error as exc:
        raise _file_error(f"The CSV file could not be read: {exc}.") from exc
