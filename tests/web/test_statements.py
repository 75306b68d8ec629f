"""Printable statement pages: staff of the county only, both languages, the figures of the JSON statement, a link to the XLSX."""

from __future__ import annotations

import re

import httpx

from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from tests.factories import Factory
from tests.livecommerce.ledger.test_reports import _stream_with_sales

PERIOD = {"from": "2026-03-01", "to": "2026-03-05"}


def _sign_in(client: httpx.AsyncClient, token: str) -> None:
    client.cookies.set("lc_token", token)


def _cell(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert match, element_id
    return match.group(1).strip()


class TestCountyStatementPage:
    async def test_shows_the_statement_in_chinese_with_the_xlsx_link(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        w = await _stream_with_sales(db, make)
        county_id = w["county"].id
        statement = (await client.get(f"/api/counties/{county_id}/statement", params=PERIOD, headers=w["organizer"].headers)).json()
        _sign_in(client, w["organizer"].token)
        r = await client.get(f"/statements/county/{county_id}", params=PERIOD, headers={"Accept-Language": "zh-CN"})
        assert r.status_code == 200, r.text
        assert "县级结算单" in r.text and "打印" in r.text
        net = statement["sales"]["net_fen"]
        assert _cell(r.text, "st-net") == f"{net // 100:,}.{net % 100:02d}"
        for account in statement["accounts"]:
            assert f'data-party="{account["party"]}"' in r.text
        assert f"/api/ledger/accounts/county:{county_id}/statement.xlsx?from=2026-03-01&amp;to=2026-03-05" in r.text
        xlsx = await client.get(f"/api/ledger/accounts/county:{county_id}/statement.xlsx", params=PERIOD)
        assert xlsx.status_code == 200  # the link works with the page's own sign-in

    async def test_english_and_a_bad_period(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        w = await _stream_with_sales(db, make)
        _sign_in(client, w["organizer"].token)
        r = await client.get(f"/statements/county/{w['county'].id}", params=PERIOD, headers={"Accept-Language": "en"})
        assert "County statement" in r.text and "Sales by channel" in r.text
        r = await client.get(f"/statements/county/{w['county'].id}", params={"from": "2026-03-05", "to": "2026-03-01"})
        assert r.status_code == 422 and 'id="statement-error"' in r.text

    async def test_outsiders_are_sent_to_sign_in(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        w = await _stream_with_sales(db, make)
        path = f"/statements/county/{w['county'].id}"
        assert (await client.get(path)).headers["location"].startswith("/login?next=")
        for who in (await make.user(Role.organizer, county_ids=[(await make.county()).id]), await make.user(Role.viewer)):
            _sign_in(client, who.token)
            r = await client.get(path)
            assert r.status_code == 303 and r.headers["location"].endswith("&need=role")
        admin = await make.user(Role.admin)
        _sign_in(client, admin.token)
        assert (await client.get("/statements/county/999999")).status_code == 404


class TestHouseholdStatementPage:
    async def test_shows_the_households_account(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        w = await _stream_with_sales(db, make)
        household_id = w["household"].id
        statement = (await client.get(f"/api/households/{household_id}/statement", params=PERIOD, headers=w["organizer"].headers)).json()
        _sign_in(client, w["organizer"].token)
        r = await client.get(f"/statements/household/{household_id}", params=PERIOD, headers={"Accept-Language": "en"})
        assert r.status_code == 200, r.text
        assert _cell(r.text, "st-subject") == "王大山"
        closing = statement["account"]["closing_balance_fen"]
        assert _cell(r.text, "st-closing") == f"{closing // 100:,}.{closing % 100:02d}"
        assert f"household:{household_id}/statement.xlsx" in r.text
        stranger = await make.user(Role.organizer, county_ids=[(await make.county()).id])
        _sign_in(client, stranger.token)
        assert (await client.get(f"/statements/household/{household_id}")).status_code == 303
