"""Reports and statements as spreadsheets, read back as Excel would and compared with their JSON."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import httpx
from openpyxl import load_workbook

from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from tests.factories import Factory
from tests.livecommerce.ledger.test_reports import _stream_with_sales

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PERIOD = {"from": "2026-03-01", "to": "2026-03-05"}


def _sheet(book: Any, name: str) -> list[dict[str, Any]]:
    rows = [list(r) for r in book[name].iter_rows(values_only=True)]
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def _figures(book: Any, name: str) -> dict[str, Any]:
    return {r["figure"]: r["value"] for r in _sheet(book, name)}


def _yuan_beside_fen(row: dict[str, Any]) -> None:
    for key, value in row.items():
        if key.endswith("_fen") and isinstance(value, int):
            assert Decimal(str(row[key[:-4] + "_yuan"])) == Decimal(value) / 100, key


class TestStreamReportSheets:
    async def test_xlsx_has_the_json_figures(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        w = await _stream_with_sales(db, make)
        report = (await client.get(f"/api/streams/{w['stream']}/report", headers=w["organizer"].headers)).json()
        r = await client.get(f"/api/streams/{w['stream']}/report.xlsx", headers=w["organizer"].headers)
        assert r.status_code == 200 and r.headers["content-type"] == XLSX
        book = load_workbook(io.BytesIO(r.content))
        summary = _figures(book, "Summary")
        for key in ("gmv_fen", "paid_orders", "refunded_fen", "refunded_orders", "net_fen", "units", "refunded_units", "net_units"):
            assert summary[key] == report[key], key
        products = _sheet(book, "By product")
        for row in products:
            _yuan_beside_fen(row)
        # names are formula-safe: `=Rice` gets its leading quote, nothing else changes
        assert [{k: v for k, v in row.items() if not k.endswith("_yuan")} for row in products] == [
            {**p, "name": "'" + p["name"] if p["name"].startswith("=") else p["name"]} for p in report["by_product"]
        ]
        assert [(c["county_id"], c["net_fen"]) for c in _sheet(book, "By county")] == [
            (c["county_id"], c["net_fen"]) for c in report["by_county"]
        ]
        households = _sheet(book, "By household")
        assert [(h["household_id"], h["name"], h["net_fen"]) for h in households] == [
            (h["household_id"], h["name"], h["net_fen"]) for h in report["by_household"]
        ]
        assert [(p["party"], p["credited_fen"]) for p in _sheet(book, "By party")] == [
            (p["party"], p["credited_fen"]) for p in report["by_party"]
        ]
        assert book["Summary"].freeze_panes == "A2" and book["Summary"]["A1"].font.bold

    async def test_csv_reads_as_excel_would(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        w = await _stream_with_sales(db, make)
        report = (await client.get(f"/api/streams/{w['stream']}/report", headers=w["organizer"].headers)).json()
        r = await client.get(f"/api/streams/{w['stream']}/report.csv", headers=w["organizer"].headers)
        assert r.content[:3] == b"\xef\xbb\xbf"
        rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
        for row in rows:
            for key in ("gross", "refunded", "net"):
                assert Decimal(row[f"{key}_yuan"]) == Decimal(row[f"{key}_fen"]) / 100
                assert len(row[f"{key}_yuan"].split(".")[1]) == 2
        stream = rows[0]
        assert (int(stream["gross_fen"]), int(stream["net_fen"])) == (report["gmv_fen"], report["net_fen"])
        households = [r for r in rows if r["section"] == "household"]
        assert [(h["name"], int(h["net_fen"])) for h in households] == [(h["name"], h["net_fen"]) for h in report["by_household"]]

    async def test_viewer_is_403(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        w = await _stream_with_sales(db, make)
        viewer = await make.user(Role.viewer)
        assert (await client.get(f"/api/streams/{w['stream']}/report.xlsx", headers=viewer.headers)).status_code == 403


class TestStatementSheets:
    async def test_county_statement_xlsx_is_the_json_statement(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        w = await _stream_with_sales(db, make)
        county_id, headers = w["county"].id, w["organizer"].headers
        statement = (await client.get(f"/api/counties/{county_id}/statement", params=PERIOD, headers=headers)).json()
        r = await client.get(f"/api/ledger/accounts/county:{county_id}/statement.xlsx", params=PERIOD, headers=headers)
        assert r.status_code == 200, r.text
        book = load_workbook(io.BytesIO(r.content))
        head = _figures(book, "Statement")
        assert (head["name"], str(head["from"])[:10], str(head["to"])[:10]) == (statement["name"], PERIOD["from"], PERIOD["to"])
        for key, value in statement["sales"].items():
            assert head[key] == value, key
        channels = _sheet(book, "By channel")
        assert [{k: v for k, v in c.items() if not k.endswith("_yuan")} for c in channels] == statement["by_channel"]
        accounts = _sheet(book, "Accounts")
        for row in accounts:
            _yuan_beside_fen(row)
        assert [{k: (v or None) if k == "name" else v for k, v in a.items() if not k.endswith("_yuan")} for a in accounts] == statement[
            "accounts"
        ]

    async def test_household_statement_xlsx_is_the_json_statement(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        w = await _stream_with_sales(db, make)
        household_id, headers = w["household"].id, w["organizer"].headers
        statement = (await client.get(f"/api/households/{household_id}/statement", params=PERIOD, headers=headers)).json()
        r = await client.get(f"/api/ledger/accounts/household:{household_id}/statement.xlsx", params=PERIOD, headers=headers)
        assert r.status_code == 200, r.text
        book = load_workbook(io.BytesIO(r.content))
        head = _figures(book, "Statement")
        assert head["name"] == statement["name"] == "王大山"
        for key in ("opening_balance_fen", "credited_fen", "debited_fen", "closing_balance_fen"):
            assert head[key] == statement["account"][key], key
        assert [{k: v for k, v in p.items() if not k.endswith("_yuan")} for p in _sheet(book, "By product")] == [
            {**p, "name": "'" + p["name"] if p["name"].startswith("=") else p["name"]} for p in statement["by_product"]
        ]

    async def test_station_statement_and_scope(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        w = await _stream_with_sales(db, make)
        party = f"station:{w['station'].id}"
        county = (await client.get(f"/api/counties/{w['county'].id}/statement", params=PERIOD, headers=w["organizer"].headers)).json()
        r = await client.get(f"/api/ledger/accounts/{party}/statement.xlsx", params=PERIOD, headers=w["organizer"].headers)
        assert r.status_code == 200, r.text
        head = _figures(load_workbook(io.BytesIO(r.content)), "Statement")
        (expected,) = [a for a in county["accounts"] if a["party"] == party]
        assert (head["credited_fen"], head["closing_balance_fen"]) == (expected["credited_fen"], expected["closing_balance_fen"])
        stranger = await make.user(Role.organizer, county_ids=[(await make.county()).id])
        assert (await client.get(f"/api/ledger/accounts/{party}/statement.xlsx", headers=stranger.headers)).status_code == 403
        backwards = {"from": "2026-03-05", "to": "2026-03-01"}
        assert (
            await client.get(f"/api/ledger/accounts/{party}/statement.xlsx", params=backwards, headers=w["organizer"].headers)
        ).status_code == 422
