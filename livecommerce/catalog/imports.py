"""Household and product imports from a county office's spreadsheets: every row checked, then all written or none.

A file is read whole, each row checked (its fields, its county against the caller's scope, its
match with what exists), and only when no row has an error is anything written, in the caller's
transaction. Households match on `registration_no`, products on (county, name): importing the
same file twice updates, never duplicates. Registration numbers are personal data: a row error
shows one masked, and the audit log records counts only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from livecommerce.audit import service as audit
from livecommerce.catalog import repository, service
from livecommerce.catalog.models import Household, Product
from livecommerce.catalog.schemas import (
    LINKAGE_LABELS_ZH,
    LINKAGE_TYPES,
    PARTY_PATTERN,
    TOTAL_BP,
    HouseholdCreate,
    ImportResult,
    ProductCreate,
    ProductUpdate,
    Split,
)
from livecommerce.kit.errors import Forbidden, InvalidInput, validation_lazy
from livecommerce.kit.i18n import LazyMessage, _l
from livecommerce.kit.masking import mask_identifier
from livecommerce.kit.principal import Principal
from livecommerce.kit.spreadsheets import Row, Sheet, read_rows, workbook_bytes


@dataclass(frozen=True)
class Column:
    """An import column: its key (the English header), its Chinese header, whether it must be there, and an example."""

    key: str
    zh: str
    required: bool
    example: object
    note: str

    @property
    def header(self) -> str:
        """The template's header: both languages, so either reads back."""
        return f"{self.zh} ({self.key})"


HOUSEHOLD_COLUMNS = (
    Column("county_id", "县编号", False, 1, "The county's id; may be left out when the import names one county for every row."),
    Column("name", "户主姓名", True, "陈大山", "The head of the household."),
    Column("village", "村", True, "石岭村", "The village."),
    Column("registration_no", "建档立卡编号", True, "441821000000000001", "The registration number; rows match existing households on it."),
    Column("monitored", "防返贫监测", False, "否", "Under anti-relapse monitoring: 是/否, yes/no, 1/0; left empty keeps what is recorded."),
    Column(
        "linkage_type",
        "联农带农方式",
        False,
        "带动生产",
        "How the household benefits: production/employment/dividend/other or 带动生产/带动就业/资产收益/其他; "
        "left empty keeps what is recorded.",
    ),
)
PRODUCT_COLUMNS = (
    Column("county_id", "县编号", False, 1, "The county's id; may be left out when the import names one county for every row."),
    Column("name", "品名", True, "连州菜心", "The product's name; rows match existing products of the county on it."),
    Column("unit", "单位", True, "箱", "The unit sold, e.g. box, jin."),
    Column("price_yuan", "单价（元）", True, "39.90", "Price in yuan, at most two decimals."),
    Column("stock", "库存", True, 200, "Units free to order."),
    Column(
        "splits",
        "分账",
        True,
        "household:1=7000; county:1=2000; platform=1000",
        "Who is credited, as party=basis points separated by ';', summing to 10000.",
    ),
    Column("description", "描述", False, "", "Optional description."),
    Column(
        "linkage_mechanism",
        "联农带农机制",
        False,
        "带动就业",
        "The seller's mechanism for benefiting households: production/employment/dividend/other or "
        "带动生产/带动就业/资产收益/其他; left empty keeps what is recorded.",
    ),
)


@dataclass(frozen=True)
class _Problem:
    """One problem of a file; its message is rendered in the reader's language when the refusal is answered."""

    row: int | None
    column: str | None
    message: LazyMessage | str


@dataclass
class _Checked:
    """What checking a file found: the rows' values by number, and the errors."""

    values: dict[int, dict[str, Any]] = field(default_factory=dict)
    errors: list[_Problem] = field(default_factory=list)

    def fail(self, row: int | None, column: str | None, message: LazyMessage | str) -> None:
        self.errors.append(_Problem(row, column, message))


class CellError(ValueError):
    """A cell that does not read as its column's kind of value; the message is translated when shown."""

    def __init__(self, message: LazyMessage) -> None:
        super().__init__(str(message))
        self.message = message


def _normal(header: object) -> str:
    return re.sub(r"\s+", "", str(header or "")).replace("（", "(").replace("）", ")").lower()


def _header_map(header: Row, columns: Sequence[Column], checked: _Checked) -> dict[str, int]:
    """Which cell holds each column; a header reads as its key, its Chinese name, or both as `中文 (key)`."""
    names: dict[str, str] = {}
    for column in columns:
        names[column.key] = column.key
        names[_normal(column.zh)] = column.key
        names[_normal(column.header)] = column.key
    found: dict[str, int] = {}
    for index, cell in enumerate(header.cells):
        text = _normal(cell)
        if not text:
            continue
        key = names.get(text)
        match = re.fullmatch(r".*\(([a-z_]+)\)", text)
        if key is None and match:
            key = names.get(match.group(1))
        if key is None:
            checked.fail(header.number, str(cell), _l("Unknown column; the template names the columns an import reads."))
        elif key in found:
            checked.fail(header.number, str(cell), _l("Column {key} appears twice.", key=key))
        else:
            found[key] = index
    for column in columns:
        if column.required and column.key not in found:
            checked.fail(header.number, column.key, _l("The column {header} is missing.", header=column.header))
    return found


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a number typed into a cell: 441821000001.0 is "441821000001"
    return str(value).strip()


def _integer(value: object) -> int:
    if isinstance(value, bool):
        raise CellError(_l("must be a whole number"))
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = _text(value).replace(",", "")
    if not re.fullmatch(r"-?[0-9]{1,12}", text):
        raise CellError(_l("must be a whole number"))
    return int(text)


def _fen(value: object) -> int:
    text = _text(value).replace(",", "").removeprefix("¥").removeprefix("￥")
    try:
        amount = Decimal(repr(value) if isinstance(value, float) else text)
    except InvalidOperation as exc:
        raise CellError(_l("must be an amount in yuan, like 39.90")) from exc
    if not amount.is_finite() or abs(amount) > 10**9:
        raise CellError(_l("must be an amount in yuan, like 39.90"))
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise CellError(_l("must be an amount in yuan with at most two decimals"))
    return int(fen)


_YES = {"1", "yes", "y", "true", "是", "对", "√"}
_NO = {"0", "no", "n", "false", "否", "不是", "×"}


def _flag(value: object) -> bool | None:
    text = _text(value).lower()
    if not text:
        return None
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise CellError(_l("must be yes/no or 1/0"))


# What an office may write for a linkage: the value, its Chinese label, and a few common words for it.
_LINKAGE_WORDS = {
    **{value: value for value in LINKAGE_TYPES},
    **{label: value for value, label in LINKAGE_LABELS_ZH.items()},
    "分红": "dividend",
    "资产收益/分红": "dividend",
    "资产收益分红": "dividend",
    "生产": "production",
    "就业": "employment",
}


def _linkage(value: object) -> str | None:
    text = re.sub(r"\s+", "", _text(value)).lower()
    if not text:
        return None
    if text in _LINKAGE_WORDS:
        return _LINKAGE_WORDS[text]
    raise CellError(_l("must be production, employment, dividend or other (or their Chinese labels)"))


def _splits(value: object) -> list[Split]:
    text = _text(value)
    parts = [p.strip() for p in re.split(r"[;；,，\n]", text) if p.strip()]
    if not parts:
        raise CellError(_l("name at least one party, like platform=10000"))
    splits = []
    for part in parts:
        party, sep, bp = part.replace("＝", "=").replace("：", ":").partition("=")
        party = party.strip()
        if not sep:
            raise CellError(_l("{part} is not party=basis points", part=part))
        if not PARTY_PATTERN.match(party):
            raise CellError(_l('{part}: the party must be "household:<id>", "station:<id>", "county:<id>" or "platform"', part=part))
        try:
            splits.append(Split(party=party, bp=_integer(bp)))
        except ValidationError as exc:
            raise CellError(_l("Split {part}: {error}", part=part, error=validation_lazy(exc.errors()[0]))) from exc
    total = sum(s.bp for s in splits)
    if total != TOTAL_BP:
        raise CellError(_l("the basis points must sum to exactly {expected}, got {total}", expected=TOTAL_BP, total=total))
    if len({s.party for s in splits}) != len(splits):
        raise CellError(_l("each party may appear only once"))
    return splits


def _cells(
    row: Row, where: dict[str, int], parsers: dict[str, Callable[[object], Any]], checked: _Checked, labels: dict[str, str]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, index in where.items():
        raw = row.cells[index] if index < len(row.cells) else None
        try:
            values[key] = parsers.get(key, _text)(raw)
        except CellError as exc:
            checked.fail(row.number, labels[key], exc.message)
    return values


def _labels(header: Row, where: dict[str, int]) -> dict[str, str]:
    """Each column by the header the file gave it, so an error points at what the reader sees."""
    return {key: str(header.cells[index]).strip() for key, index in where.items()}


def _field_errors(checked: _Checked, row: int, exc: ValidationError, labels: dict[str, str], rename: dict[str, str]) -> None:
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        name = rename.get(name, name)
        message = validation_lazy(error)
        if error["type"] in ("missing", "string_too_short") and error.get("ctx", {}).get("min_length", 1) == 1:
            message = _l("The cell is empty; fill it in.")  # what pydantic calls a string shorter than 1 character
        checked.fail(row, labels.get(name, name), message)


async def _scope(session: Any, principal: Principal, checked: _Checked, rows: dict[int, int], label: str) -> None:
    """A row's county must exist and be one the caller acts for; anything else is that row's error."""
    names = await repository.county_names(session, rows.values())
    for number, county_id in sorted(rows.items()):
        if county_id not in names:
            checked.fail(number, label, _l("County {county_id} does not exist.", county_id=county_id))
        elif not principal.covers_county(county_id):
            checked.fail(number, label, _l("You do not act for county {name} (number {number}).", name=names[county_id], number=county_id))


def _county(values: dict[str, Any], default: int | None) -> int | None:
    county_id = values.get("county_id")
    return default if county_id is None else int(county_id)


def _start(principal: Principal, filename: str, content: bytes, max_rows: int, county_id: int | None) -> tuple[list[Row], _Checked]:
    if not principal.is_staff:
        raise Forbidden(_l("Only admins and organizers import master data."))
    if county_id is not None:
        principal.require_county(county_id)  # the county asked for by the import itself; a row's county is that row's error
    return read_rows(filename, content, max_rows=max_rows), _Checked()


def _refuse(checked: _Checked) -> InvalidInput:
    errors = sorted(checked.errors, key=lambda e: (e.row or 0, e.column or ""))
    rows = sorted({e.row for e in errors if e.row is not None})
    if len(rows) == 1:
        detail = _l("Nothing was imported: row {row} has errors ({count} in all).", row=rows[0], count=len(errors))
    elif rows:
        detail = _l("Nothing was imported: {rows} rows have errors ({count} in all).", rows=len(rows), count=len(errors))
    else:
        detail = _l("Nothing was imported: the file has errors ({count} in all).", count=len(errors))
    # The messages stay lazy: the problem+json answer renders them in the reader's language.
    return InvalidInput(
        detail,
        extra={"errors": [{"row": e.row, "column": e.column, "message": e.message} for e in errors[:1000]]},
    )


async def import_households(
    session: Any,
    principal: Principal,
    filename: str,
    content: bytes,
    *,
    county_id: int | None = None,
    dry_run: bool = False,
    max_rows: int,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Check every household row, then create the new ones and update the matched ones (none at all on any error)."""
    rows, checked = _start(principal, filename, content, max_rows, county_id)
    where = _header_map(rows[0], HOUSEHOLD_COLUMNS, checked)
    if checked.errors:
        raise _refuse(checked)
    labels = _labels(rows[0], where)
    labels.setdefault("county_id", "county_id")
    parsers: dict[str, Callable[[object], Any]] = {"county_id": _integer, "monitored": _flag, "linkage_type": _linkage}
    first_seen: dict[str, int] = {}
    counties: dict[int, int] = {}
    for row in rows[1:]:
        before = len(checked.errors)
        values = _cells(row, where, parsers, checked, labels)
        values["county_id"] = _county(values, county_id)
        if values["county_id"] is None:
            checked.fail(row.number, labels["county_id"], _l("Name the county (county_id), or import into one county."))
        if len(checked.errors) > before:
            continue
        monitored = values.pop("monitored", None)
        linkage = values.pop("linkage_type", None)
        try:
            data = HouseholdCreate.model_validate({**values, "monitored": bool(monitored), "linkage_type": linkage})
        except ValidationError as exc:
            _field_errors(checked, row.number, exc, labels, {})
            continue
        if data.registration_no in first_seen:
            masked = mask_identifier(data.registration_no)
            first = first_seen[data.registration_no]
            checked.fail(
                row.number, labels["registration_no"], _l("{masked} appears again (first in row {first}).", masked=masked, first=first)
            )
            continue
        first_seen[data.registration_no] = row.number
        counties[row.number] = data.county_id
        checked.values[row.number] = {"data": data, "monitored": monitored, "linkage_type": linkage}
    await _scope(session, principal, checked, counties, labels["county_id"])
    existing = await repository.households_by_registration_nos(session, first_seen)
    for number, item in checked.values.items():
        match = existing.get(item["data"].registration_no)
        if match is not None and match.county_id != item["data"].county_id:
            masked = mask_identifier(item["data"].registration_no)
            message = _l("{masked} is registered in another county (county number {number}).", masked=masked, number=match.county_id)
            checked.fail(number, labels["registration_no"], message)
    if checked.errors:
        raise _refuse(checked)
    created = updated = 0
    for done, (_, item) in enumerate(sorted(checked.values.items()), start=1):
        data, match = item["data"], existing.get(item["data"].registration_no)
        if match is None:
            created += 1
            if not dry_run:
                session.add(Household(**data.model_dump()))
        else:
            updated += 1
            if not dry_run:
                match.name, match.village = data.name, data.village
                if item["monitored"] is not None:
                    match.monitored = item["monitored"]
                if item["linkage_type"] is not None:
                    match.linkage_type = item["linkage_type"]
                session.add(match)
        if progress is not None:
            progress(done)
    if not dry_run:
        await session.flush()
        # Counts only: the audit log is no place for names or registration numbers.
        details = {"created": created, "updated": updated, "county_ids": sorted(set(counties.values()))}
        await audit.record(session, principal, "households.imported", "households", details, now=now)
    return ImportResult(created=created, updated=updated, errors=[], dry_run=dry_run)


async def import_products(
    session: Any,
    principal: Principal,
    filename: str,
    content: bytes,
    *,
    county_id: int | None = None,
    dry_run: bool = False,
    max_rows: int,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Check every product row (splits included), then add the new products and change the matched ones (none on any error)."""
    rows, checked = _start(principal, filename, content, max_rows, county_id)
    where = _header_map(rows[0], PRODUCT_COLUMNS, checked)
    if checked.errors:
        raise _refuse(checked)
    labels = _labels(rows[0], where)
    labels.setdefault("county_id", "county_id")
    labels["price_fen"] = labels["price_yuan"]
    parsers: dict[str, Callable[[object], Any]] = {
        "county_id": _integer,
        "price_yuan": _fen,
        "stock": _integer,
        "splits": _splits,
        "linkage_mechanism": _linkage,
    }
    first_seen: dict[tuple[int, str], int] = {}
    counties: dict[int, int] = {}
    for row in rows[1:]:
        before = len(checked.errors)
        values = _cells(row, where, parsers, checked, labels)
        values["county_id"] = _county(values, county_id)
        if values["county_id"] is None:
            checked.fail(row.number, labels["county_id"], _l("Name the county (county_id), or import into one county."))
        if len(checked.errors) > before:
            continue
        values["price_fen"] = values.pop("price_yuan")
        try:
            data = ProductCreate.model_validate(values)
        except ValidationError as exc:
            _field_errors(checked, row.number, exc, labels, {})
            continue
        key = (data.county_id, data.name)
        if key in first_seen:
            checked.fail(
                row.number,
                labels["name"],
                _l("Product {name} appears again (first in row {first}).", name=data.name, first=first_seen[key]),
            )
            continue
        first_seen[key] = row.number
        counties[row.number] = data.county_id
        checked.values[row.number] = {"data": data, "has_description": "description" in where}
    await _scope(session, principal, checked, counties, labels["county_id"])
    for number, item in checked.values.items():
        if principal.covers_county(item["data"].county_id):
            try:
                await service.validate_parties(session, item["data"].splits, item["data"].county_id)
            except InvalidInput as exc:
                checked.fail(number, labels["splits"], exc.message)
    if checked.errors:
        raise _refuse(checked)
    existing = await repository.products_by_county_and_name(session, set(counties.values()), (k[1] for k in first_seen))
    created = updated = 0
    for done, (_, item) in enumerate(sorted(checked.values.items()), start=1):
        product: ProductCreate = item["data"]
        match: Product | None = existing.get((product.county_id, product.name))
        if match is None:
            created += 1
            if not dry_run:
                await service.create_product(session, principal, product, now)
        else:
            updated += 1
            if not dry_run:
                assert match.id is not None
                change = {"price_fen": product.price_fen, "stock": product.stock, "splits": product.splits}
                if item["has_description"]:
                    change["description"] = product.description
                if product.linkage_mechanism is not None:
                    change["linkage_mechanism"] = product.linkage_mechanism
                await service.update_product(session, principal, match.id, ProductUpdate.model_validate(change), now)
        if progress is not None:
            progress(done)
    return ImportResult(created=created, updated=updated, errors=[], dry_run=dry_run)


def data_rows(filename: str, content: bytes, max_rows: int) -> int:
    """How many data rows a file has (for a progress bar)."""
    return len(read_rows(filename, content, max_rows=max_rows)) - 1


def template(columns: Sequence[Column], title: str) -> bytes:
    """An import template: the header row and one example row, and a sheet explaining each column."""
    data = Sheet(title, [c.header for c in columns], [[c.example for c in columns]])
    notes = Sheet(
        "说明 Instructions",
        ["column", "列", "required", "notes"],
        [[c.key, c.zh, "yes 必填" if c.required else "no 选填", c.note] for c in columns]
        + [["", "", "", "Headers may be in English (name), in Chinese (户主姓名) or both; row 2 is an example to replace."]],
    )
    return workbook_bytes([data, notes])


def household_template() -> bytes:
    """The household import template."""
    return template(HOUSEHOLD_COLUMNS, "households")


def product_template() -> bytes:
    """The product import template."""
    return template(PRODUCT_COLUMNS, "products")
