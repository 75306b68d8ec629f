"""Household names, registration numbers, buyers' names and addresses never leave the system unmasked outside their scope.

The `out` side of the world has a household, a live stream with a paid order by its own viewer,
sent to the viewer's address; the callers are the `in` side's viewer, cadre and organizer (plus
anonymous). Every response, export, page and stored event they can reach is searched for the
personal data in full: text as it is, and the XLSX exports cell by cell (read with openpyxl).
"""

from __future__ import annotations

import io
import json

import httpx
import pytest
from openpyxl import load_workbook
from sqlmodel import col, select

from livecommerce.accounts.models import User
from livecommerce.broadcasts.events import OutboxEvent
from livecommerce.kit.db import Database
from livecommerce.kit.settings import Settings
from livecommerce.kit.spreadsheets import XLSX_MEDIA_TYPE
from streams.relay.views import public_data
from tests.factories import Factory
from tests.security.world import World

OUTSIDERS = ("anonymous", "viewer", "cadre", "organizer")
PHONE = "13912345678"
DETAIL = "石岭村西巷17号"


@pytest.fixture
async def world(client: httpx.AsyncClient, db: Database, settings: Settings, make: Factory) -> World:
    w = await World(client, db, settings, make).build()
    out = w.sides["out"]
    address = {"recipient": "收件人", "phone": PHONE, "province": "广东省", "city": "清远市", "district": "连州市", "detail": DETAIL}
    r = await client.post("/api/me/addresses", json=address, headers=await w.bearer(out.viewer_id))
    assert r.status_code == 201, r.text
    order = await w.order(out, paid=True)  # to the viewer's default address: the one just added
    out.cached["order_id"] = order["id"]
    return w


async def _secrets(w: World) -> list[str]:
    out = w.sides["out"]
    async with w.db.sessionmaker() as session:
        buyer = await session.scalar(select(col(User.display_name)).where(col(User.id) == out.viewer_id))
    assert buyer
    return [out.household_name, out.registration_no, buyer, PHONE, DETAIL]


def _urls(w: World) -> list[str]:
    out = w.sides["out"]
    stream_id = out.cached["live_stream"]
    return [
        f"/api/households?county_id={out.county_id}",
        f"/api/households/{out.household_id}",
        f"/api/streams/{stream_id}",
        "/api/streams?status=live",
        f"/api/streams/{stream_id}/report",
        f"/api/streams/{stream_id}/report.csv",
        f"/api/streams/{stream_id}/report.xlsx",
        "/api/fulfillment",
        f"/api/fulfillment?county_id={out.county_id}",
        "/api/fulfillment.xlsx",
        f"/api/fulfillment.xlsx?county_id={out.county_id}",
        f"/api/ledger/accounts/household:{out.household_id}/statement.xlsx",
        f"/api/ledger/accounts/county:{out.county_id}/statement.xlsx",
        "/api/ledger/accounts/platform/statement.xlsx",
        "/api/ledger/accounts",
        f"/api/ledger/accounts/household:{out.household_id}",
        f"/api/ledger/accounts/household:{out.household_id}/entries",
        f"/api/counties/{out.county_id}/statement",
        f"/api/households/{out.household_id}/statement",
        "/api/stats/consumption?group_by=county",
        "/api/stats/consumption?group_by=channel",
        f"/api/orders/{out.cached['order_id']}",
        "/api/me/orders",
        f"/api/products/{out.product_id}",
        "/api/audit",
        "/",
        f"/streams/{stream_id}",
        "/dashboard",
        f"/dashboard/streams/{stream_id}",
        "/reports",
        f"/reports/streams/{stream_id}",
        "/schedule",
        "/me/orders",
        "/manage/orders",
        f"/manage/orders/{out.cached['order_id']}",
        f"/manage/orders?county_id={out.county_id}",
        "/manage/fulfillment",
        "/manage/refund-requests?status=all",
        "/manage/units",
        "/manage/subscriptions",
        "/manage/station-sales",
    ]


async def _get(w: World, role: str, url: str) -> httpx.Response:
    headers = await w.headers(role)
    if url.startswith("/api/"):
        return await w.client.get(url, headers=headers)
    # Pages sign in by cookie, as a browser does.
    cookies = {"lc_token": headers["Authorization"].split()[1]} if headers else {}
    w.client.cookies.clear()
    try:
        return await w.client.get(url, headers={"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {})
    finally:
        w.client.cookies.clear()


def _text(r: httpx.Response) -> str:
    """What a response shows a reader: its text, or for a workbook every cell of every sheet."""
    if not r.headers.get("content-type", "").startswith(XLSX_MEDIA_TYPE):
        return r.text
    book = load_workbook(io.BytesIO(r.content), read_only=True)
    cells = [str(v) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for v in row if v is not None]
    book.close()
    assert cells, "a workbook with no cells at all"
    return "\n".join(cells)


class TestNoUnmaskedPersonalDataOutsideScope:
    @pytest.mark.parametrize("role", OUTSIDERS)
    async def test_responses_exports_and_pages_mask_the_other_countys_people(self, world: World, role: str) -> None:
        secrets = await _secrets(world)
        leaks = []
        for url in _urls(world):
            r = await _get(world, role, url)
            assert r.status_code < 500, (url, r.status_code, r.text[:300])
            shown = _text(r)
            leaks += [f"{url} ({r.status_code}) shows {s!r}" for s in secrets if s in shown]
        assert not leaks, "\n".join(leaks)

    async def test_admin_sees_them_in_full_so_the_search_can_find_them(self, world: World) -> None:
        out = world.sides["out"]
        r = await _get(world, "admin", f"/api/households/{out.household_id}")
        assert out.household_name in r.text and out.registration_no in r.text
        csv = await _get(world, "admin", f"/api/streams/{out.cached['live_stream']}/report.csv")
        assert out.household_name in csv.text
        # The workbooks are read cell by cell, so a leak in one would be found.
        for url, shown in (
            (f"/api/streams/{out.cached['live_stream']}/report.xlsx", [out.household_name]),
            (f"/api/ledger/accounts/household:{out.household_id}/statement.xlsx", [out.household_name]),
            ("/api/fulfillment.xlsx", [PHONE, DETAIL]),
        ):
            r = await _get(world, "admin", url)
            assert r.status_code == 200 and r.headers["content-type"].startswith(XLSX_MEDIA_TYPE), (url, r.text[:300])
            text = _text(r)
            assert [s for s in shown if s in text] == shown, url

    async def test_the_countys_own_organizer_sees_them_in_full(self, world: World) -> None:
        out = world.sides["out"]
        headers = await world.bearer(out.organizer_id)
        r = await world.client.get(f"/api/streams/{out.cached['live_stream']}/report", headers=headers)
        assert [h["name"] for h in r.json()["by_household"]] == [out.household_name]

    async def test_other_organizers_see_a_masked_household_in_the_report(self, world: World) -> None:
        out = world.sides["out"]
        r = await _get(world, "organizer", f"/api/streams/{out.cached['live_stream']}/report")
        [household] = r.json()["by_household"]
        assert household["masked"] is True and household["name"].startswith(out.household_name[0]) and "*" in household["name"]


class TestStoredEventsCarryNoPersonalData:
    async def test_stream_events_name_buyers_only_masked_and_never_households(self, world: World) -> None:
        secrets = await _secrets(world)
        async with world.db.sessionmaker() as session:
            events = (
                await session.scalars(select(OutboxEvent).where(col(OutboxEvent.stream_id) == world.sides["out"].cached["live_stream"]))
            ).all()
        assert {e.type for e in events} >= {"order.placed", "order.paid"}
        # The log keeps the buyer's display name for staff (docs/permissions.md); what everyone else
        # receives is the relay's public view of each event, and no household is in either.
        stored = json.dumps([e.data for e in events], ensure_ascii=False)
        public = json.dumps([public_data(e.data) for e in events], ensure_ascii=False)
        households = [world.sides[side].household_name for side in ("in", "out")] + [world.sides[s].registration_no for s in ("in", "out")]
        assert not [s for s in households if s in stored]
        assert not [s for s in secrets if s in public]
