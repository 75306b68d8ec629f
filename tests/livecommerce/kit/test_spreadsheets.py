"""The spreadsheet kit: formula-safe cells in every writer, yuan beside fen, CSV with BOM, and the upload reader."""

from __future__ import annotations

import csv
import io
import zipfile
from decimal import Decimal

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecommerce.kit.errors import InvalidInput, PayloadTooLarge
from livecommerce.kit.spreadsheets import FORMULA_STARTS, LEADING_BLANKS, Sheet, csv_bytes, read_rows, safe_cell, workbook_bytes, yuan

# `=`, `+`, `-`, `@` and their full-width forms start a formula even after blanks; a tab or CR only as the first character.
SIGNS = sorted(FORMULA_STARTS - set(LEADING_BLANKS))
BLANKS = st.text(alphabet=LEADING_BLANKS, max_size=4)
REST = st.text(max_size=20)
FORMULA_LIKE = st.one_of(
    st.builds(lambda b, t, r: b + t + r, BLANKS, st.sampled_from(SIGNS), REST),
    st.builds(lambda t, r: t + r, st.sampled_from(["\t", "\r"]), REST),
)


def _xlsx_cells(content: bytes) -> list[list[object]]:
    sheet = openpyxl.load_workbook(io.BytesIO(content)).worksheets[0]
    return [list(r) for r in sheet.iter_rows(values_only=True)]


class TestSafeCell:
    @given(FORMULA_LIKE)
    def test_a_formula_start_after_any_blanks_gets_a_quote(self, cell: str) -> None:
        assert safe_cell(cell) == "'" + cell

    @given(st.text(max_size=30).filter(lambda s: s.lstrip(LEADING_BLANKS)[:1] not in FORMULA_STARTS and s[:1] not in FORMULA_STARTS))
    def test_other_text_is_left_alone(self, cell: str) -> None:
        assert safe_cell(cell) == cell

    @given(st.one_of(st.integers(), st.none(), st.booleans()))
    def test_numbers_are_not_text(self, value: object) -> None:
        assert safe_cell(value) == value

    @given(FORMULA_LIKE.filter(lambda s: "\r" not in s and all(c >= " " or c in "\t\n" for c in s)))
    def test_every_writer_neutralises_it(self, name: str) -> None:
        sheet = Sheet("t", ["name", "amount_fen"], [[name, -5]])
        (row,) = list(csv.reader(io.StringIO(csv_bytes(sheet.headers, sheet.rows).decode("utf-8-sig"), newline="")))[1:]
        assert row[0] == "'" + name and row[1:] == ["-5", "-0.05"]
        cells = _xlsx_cells(workbook_bytes([sheet]))
        assert cells[1][0] == "'" + name


class TestWriters:
    def test_csv_starts_with_a_bom_and_gives_yuan_with_two_decimals(self) -> None:
        content = csv_bytes(["name", "gross_fen", "units"], [["茶", 1990, 2], ["米", 5, 1], ["空", None, 0]])
        assert content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
        assert rows == [
            ["name", "gross_fen", "gross_yuan", "units"],
            ["茶", "1990", "19.90", "2"],
            ["米", "5", "0.05", "1"],
            ["空", "", "", "0"],
        ]

    def test_xlsx_header_styles_widths_formats_and_frozen_header(self) -> None:
        book = openpyxl.load_workbook(io.BytesIO(workbook_bytes([Sheet("Sales", ["name", "gross_fen"], [["连州菜心礼盒装", 123456]])])))
        ws = book["Sales"]
        assert [c.value for c in ws[1]] == ["name", "gross_fen", "gross_yuan"]
        assert ws["A1"].font.bold and ws.freeze_panes == "A2"
        assert ws["C2"].value == Decimal("1234.56") or ws["C2"].value == pytest.approx(1234.56)
        assert ws["C2"].number_format == "#,##0.00"
        assert ws.column_dimensions["A"].width >= 14  # seven CJK characters, two columns each

    def test_control_characters_do_not_break_a_workbook(self) -> None:
        cells = _xlsx_cells(workbook_bytes([Sheet("t", ["name"], [["a\x01b\x1f"]])]))
        assert cells[1] == ["ab"]

    def test_yuan_is_exact(self) -> None:
        assert (yuan(1), yuan(-250), yuan(10**12 + 1)) == (Decimal("0.01"), Decimal("-2.50"), Decimal("10000000000.01"))


class TestReader:
    def test_xlsx_first_sheet_rows_with_their_numbers(self) -> None:
        content = workbook_bytes([Sheet("data", ["a", "b"], [["x", 1], ["", ""], ["y", 2]]), Sheet("notes", ["n"], [["ignored"]])])
        rows = read_rows("f.XLSX", content, max_rows=10)
        assert [(r.number, r.cells[0]) for r in rows] == [(1, "a"), (2, "x"), (4, "y")]

    def test_csv_with_bom_without_bom_and_in_gb18030(self) -> None:
        for content in ("\ufeffa,b\n陈,1\n".encode(), "a,b\n陈,1\n".encode(), "a,b\n陈,1\n".encode("gb18030")):
            assert [r.cells for r in read_rows("f.csv", content, max_rows=10)] == [["a", "b"], ["陈", "1"]]

    def test_too_many_rows_and_unknown_kinds_are_422(self) -> None:
        with pytest.raises(InvalidInput, match="at most 2"):
            read_rows("f.csv", b"a\n1\n2\n3\n", max_rows=2)
        with pytest.raises(InvalidInput):
            read_rows("f.xls", b"whatever", max_rows=2)
        with pytest.raises(InvalidInput):
            read_rows("f.xlsx", b"not a zip", max_rows=2)
        with pytest.raises(InvalidInput, match="empty"):
            read_rows("f.csv", b"\xef\xbb\xbf\n\n", max_rows=2)

    def test_a_zip_bomb_is_413_before_parsing(self) -> None:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("xl/worksheets/sheet1.xml", b"0" * (80 * 1024 * 1024))
        assert len(out.getvalue()) < 1024 * 1024
        with pytest.raises(PayloadTooLarge):
            read_rows("bomb.xlsx", out.getvalue(), max_rows=10)
