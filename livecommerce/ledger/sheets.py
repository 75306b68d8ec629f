"""Reports and statements as spreadsheets: the same figures as their JSON, written by the kit (formula-safe, yuan beside fen)."""

from __future__ import annotations

from livecommerce.kit.spreadsheets import Sheet, csv_bytes, workbook_bytes, yuan
from livecommerce.ledger.schemas import AccountMovement, CountyStatement, HouseholdStatement, SalesFigures, StreamReport

REPORT_HEADERS = ["section", "id", "name", "county_id", "orders", "units", "gross_fen", "refunded_fen", "net_fen"]
MOVEMENT_HEADERS = ["party", "name", "opening_balance_fen", "credited_fen", "debited_fen", "closing_balance_fen"]
SALES_FIGURES = [
    "orders",
    "units",
    "gross_fen",
    "refunded_orders",
    "refunded_units",
    "refunded_fen",
    "net_fen",
    "household_fen",
    "refunded_household_fen",
    "net_household_fen",
]


def stream_report_rows(report: StreamReport) -> list[list[object]]:
    """The report as one tidy table: a row per figure set, its section naming what the row is."""
    rows: list[list[object]] = [
        ["stream", report.stream_id, "", "", report.paid_orders, report.units, report.gmv_fen, report.refunded_fen, report.net_fen]
    ]
    rows += [
        ["product", p.product_id, p.name, p.county_id, p.orders, p.units, p.gross_fen, p.refunded_fen, p.net_fen] for p in report.by_product
    ]
    rows += [["county", c.county_id, c.name, c.county_id, "", c.units, c.gross_fen, c.refunded_fen, c.net_fen] for c in report.by_county]
    rows += [
        ["household", h.household_id, h.name, h.county_id, "", "", h.credited_fen, h.reversed_fen, h.net_fen] for h in report.by_household
    ]
    rows += [["party", p.party, "", "", "", "", p.credited_fen, p.reversed_fen, p.net_fen] for p in report.by_party]
    return rows


def stream_report_csv(report: StreamReport) -> bytes:
    """The report as CSV for Excel: byte order mark, yuan beside every fen column, formula-safe names."""
    return csv_bytes(REPORT_HEADERS, stream_report_rows(report))


def _figures(pairs: list[tuple[str, int]]) -> list[list[object]]:
    return [[name, value, yuan(value) if name.endswith("_fen") else None] for name, value in pairs]


def stream_report_workbook(report: StreamReport) -> bytes:
    """The report as a workbook: the totals, then a sheet per breakdown."""
    totals = [
        ("stream_id", report.stream_id),
        ("gmv_fen", report.gmv_fen),
        ("paid_orders", report.paid_orders),
        ("refunded_fen", report.refunded_fen),
        ("refunded_orders", report.refunded_orders),
        ("net_fen", report.net_fen),
        ("units", report.units),
        ("refunded_units", report.refunded_units),
        ("net_units", report.net_units),
    ]
    product_headers = [
        "product_id",
        "name",
        "county_id",
        "orders",
        "units",
        "gross_fen",
        "refunded_units",
        "refunded_fen",
        "net_units",
        "net_fen",
    ]
    return workbook_bytes(
        [
            Sheet("Summary", ["figure", "value", "yuan"], _figures(totals)),
            Sheet("By product", product_headers, [[getattr(p, h) for h in product_headers] for p in report.by_product]),
            Sheet(
                "By county",
                ["county_id", "name", "units", "gross_fen", "refunded_fen", "net_fen"],
                [[c.county_id, c.name, c.units, c.gross_fen, c.refunded_fen, c.net_fen] for c in report.by_county],
            ),
            Sheet(
                "By household",
                ["household_id", "name", "county_id", "credited_fen", "reversed_fen", "net_fen", "masked"],
                [[h.household_id, h.name, h.county_id, h.credited_fen, h.reversed_fen, h.net_fen, h.masked] for h in report.by_household],
            ),
            Sheet(
                "By party",
                ["party", "credited_fen", "reversed_fen", "net_fen"],
                [[p.party, p.credited_fen, p.reversed_fen, p.net_fen] for p in report.by_party],
            ),
        ]
    )


def _movement_rows(movements: list[AccountMovement]) -> list[list[object]]:
    return [[m.party, m.name or "", m.opening_balance_fen, m.credited_fen, m.debited_fen, m.closing_balance_fen] for m in movements]


def _sales_rows(sales: SalesFigures) -> list[list[object]]:
    return _figures([(name, int(getattr(sales, name))) for name in SALES_FIGURES])


def county_statement_workbook(statement: CountyStatement) -> bytes:
    """A county's statement: the period and sales, sales by channel, and each account's movement."""
    head: list[list[object]] = [
        ["county_id", statement.county_id, None],
        ["name", statement.name, None],
        ["from", statement.period_from, None],
        ["to", statement.period_to, None],
        ["timezone", statement.timezone, None],
    ]
    return workbook_bytes(
        [
            Sheet("Statement", ["figure", "value", "yuan"], head + _sales_rows(statement.sales)),
            Sheet(
                "By channel",
                ["channel", *SALES_FIGURES],
                [[c.channel, *(getattr(c, name) for name in SALES_FIGURES)] for c in statement.by_channel],
            ),
            Sheet("Accounts", MOVEMENT_HEADERS, _movement_rows(statement.accounts)),
        ]
    )


def household_statement_workbook(statement: HouseholdStatement) -> bytes:
    """A household's statement: the period and its account's movement, and what each product brought it."""
    head: list[list[object]] = [
        ["household_id", statement.household_id, None],
        ["name", statement.name, None],
        ["county_id", statement.county_id, None],
        ["village", statement.village, None],
        ["from", statement.period_from, None],
        ["to", statement.period_to, None],
        ["timezone", statement.timezone, None],
    ]
    account = statement.account
    moved = [
        ("opening_balance_fen", account.opening_balance_fen),
        ("credited_fen", account.credited_fen),
        ("debited_fen", account.debited_fen),
        ("closing_balance_fen", account.closing_balance_fen),
    ]
    return workbook_bytes(
        [
            Sheet("Statement", ["figure", "value", "yuan"], head + _figures(moved)),
            Sheet(
                "By product",
                ["product_id", "name", "credited_fen", "reversed_fen", "net_fen"],
                [[p.product_id, p.name, p.credited_fen, p.reversed_fen, p.net_fen] for p in statement.by_product],
            ),
        ]
    )


def account_statement_workbook(movement: AccountMovement, period: tuple[str, str], timezone: str) -> bytes:
    """Any other account's statement (a station, the platform, clearing): its movement over the period."""
    head: list[list[object]] = [
        ["party", movement.party, None],
        ["from", period[0], None],
        ["to", period[1], None],
        ["timezone", timezone, None],
    ]
    moved = [
        ("opening_balance_fen", movement.opening_balance_fen),
        ("credited_fen", movement.credited_fen),
        ("debited_fen", movement.debited_fen),
        ("closing_balance_fen", movement.closing_balance_fen),
    ]
    return workbook_bytes([Sheet("Statement", ["figure", "value", "yuan"], head + _figures(moved))])
