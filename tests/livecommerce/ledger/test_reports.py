"""Stream reports, county and household statements, consumption statistics: figures and who sees names."""

from __future__ import annotations

from datetime import timedelta

import httpx

from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from livecommerce.ledger.service import reverse_sale
from tests.factories import Factory
from tests.livecommerce.ledger.support import EPOCH, make_stream, pay


async def _stream_with_sales(db: Database, make: Factory) -> dict:  # type: ignore[type-arg]
    county = await make.county()
    household = await make.household(county.id, name="王大山")
    station = await make.station(county.id)
    tea = await make.product(county.id, splits=[(f"household:{household.id}", 9000), ("platform", 1000)], price_fen=1001, name="Tea")
    rice = await make.product(
        county.id, splits=[(f"household:{household.id}", 5000), (f"station:{station.id}", 5000)], price_fen=333, name="=Rice"
    )
    stream_id = await make_stream(db, [tea.id, rice.id])  # type: ignore[list-item]
    buyer = await make.user(Role.viewer)
    first = await pay(db, buyer.id, [(tea.id, 2), (rice.id, 1)], stream_id=stream_id, now=EPOCH)  # type: ignore[list-item]
    await pay(db, buyer.id, [(tea.id, 1)], stream_id=stream_id, now=EPOCH + timedelta(minutes=1))  # type: ignore[list-item]
    await pay(db, buyer.id, [(rice.id, 4)], channel="physical", now=EPOCH + timedelta(days=1))  # type: ignore[list-item]
    async with db.transaction() as session:
        await reverse_sale(session, first, now=EPOCH + timedelta(days=2))
    organizer = await make.user(Role.organizer, county_ids=[county.id])
    return {
        "county": county,
        "household": household,
        "station": station,
        "tea": tea,
        "rice": rice,
        "stream": stream_id,
        "organizer": organizer,
    }


class TestStreamReport:
    async def test_figures_and_breakdowns(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        w = await _stream_with_sales(db, make)
        body = (await client.get(f"/api/streams/{w['stream']}/report", headers=w["organizer"].headers)).json()
        assert (body["gmv_fen"], body["paid_orders"], body["units"]) == (3336, 2, 4)
        assert (body["refunded_fen"], body["refunded_orders"], body["net_fen"], body["net_units"]) == (2335, 1, 1001, 1)
        by_product = {p["product_id"]: (p["gross_fen"], p["refunded_fen"], p["net_units"]) for p in body["by_product"]}
        assert by_product == {w["tea"].id: (3003, 2002, 1), w["rice"].id: (333, 333, 0)}
        assert [(c["county_id"], c["net_fen"]) for c in body["by_county"]] == [(w["county"].id, 1001)]
        [household] = body["by_household"]
        # Tea: 2002 * 0.9 = 1801.8 -> 1802, 1001 * 0.9 -> 901 (900.9); rice 333 * 0.5 -> 167 (tie: household sorts first).
        assert (household["name"], household["credited_fen"], household["reversed_fen"], household["net_fen"]) == (
            "王大山",
            2870,
            1969,
            901,
        )

    async def test_household_names_are_masked_outside_the_county(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        w = await _stream_with_sales(db, make)
        stranger = await make.user(Role.organizer, county_ids=[(await make.county()).id])
        body = (await client.get(f"/api/streams/{w['stream']}/report", headers=stranger.headers)).json()
        assert body["by_household"][0]["name"] == "王**"
        assert body["by_household"][0]["masked"] is True

    async def test_csv_is_one_tidy_table_with_formula_names_defused(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        w = await _stream_with_sales(db, make)
        response = await client.get(f"/api/streams/{w['stream']}/report.csv", headers=w["organizer"].headers)
        assert response.headers["content-type"].startswith("text/csv")
        assert response.content.startswith(b"\xef\xbb\xbf")  # Excel on Chinese Windows reads UTF-8 only with its BOM
        lines = response.content.decode("utf-8-sig").splitlines()
        assert lines[0] == "section,id,name,county_id,orders,units,gross_fen,gross_yuan,refunded_fen,refunded_yuan,net_fen,net_yuan"
        assert lines[1] == f"stream,{w['stream']},,,2,4,3336,33.36,2335,23.35,1001,10.01"
        assert f"product,{w['rice'].id},'=Rice,{w['county'].id},1,1,333,3.33,333,3.33,0,0.00" in lines

    async def test_unknown_stream_is_404_and_viewers_are_forbidden(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        viewer = await make.user(Role.viewer)
        assert (await client.get("/api/streams/424242/report", headers=admin.headers)).status_code == 404
        stream_id = await make_stream(client._transport.app.state.db)  # type: ignore[attr-defined]
        assert (await client.get(f"/api/streams/{stream_id}/report", headers=viewer.headers)).status_code == 403
        empty = (await client.get(f"/api/streams/{stream_id}/report", headers=admin.headers)).json()
        assert (empty["gmv_fen"], empty["by_product"], empty["by_household"]) == (0, [], [])

    async def test_host_cadre_reads_its_own_streams_report_and_no_other(
        self, client: httpx.AsyncClient, db: Database, make: Factory
    ) -> None:
        from livecommerce.broadcasts.service import create_stream
        from livecommerce.kit.clock import utcnow

        county = await make.county()
        anchor, other_anchor = await make.anchor(county.id), await make.anchor(county.id)  # type: ignore[arg-type]
        async with db.transaction() as session:
            stream = await create_stream(
                session,
                title="Mine",
                scheduled_start=utcnow(),
                scheduled_end=utcnow() + timedelta(hours=1),
                anchor_ids=[anchor.id],
                product_ids=[],
            )  # type: ignore[list-item]
        host = await make.user(Role.cadre, county_ids=[county.id], anchor_id=anchor.id)  # type: ignore[list-item]
        other = await make.user(Role.cadre, county_ids=[county.id], anchor_id=other_anchor.id)  # type: ignore[list-item]
        assert (await client.get(f"/api/streams/{stream.id}/report", headers=host.headers)).status_code == 200
        assert (await client.get(f"/api/streams/{stream.id}/report.csv", headers=host.headers)).status_code == 200
        assert (await client.get(f"/api/streams/{stream.id}/report", headers=other.headers)).status_code == 403


class TestCountyStatement:
    async def test_period_sales_by_channel_and_account_movements(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        w = await _stream_with_sales(db, make)
        day = EPOCH.date()
        params = {"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat()}
        body = (await client.get(f"/api/counties/{w['county'].id}/statement", params=params, headers=w["organizer"].headers)).json()
        assert (body["from"], body["to"]) == (params["from"], params["to"])
        channels = {c["channel"]: (c["gross_fen"], c["refunded_fen"], c["units"]) for c in body["by_channel"]}
        assert channels == {"live": (3336, 0, 4), "unit_subscription": (0, 0, 0), "physical": (1332, 0, 4)}
        household = next(a for a in body["accounts"] if a["party"] == f"household:{w['household'].id}")
        assert (household["opening_balance_fen"], household["credited_fen"], household["debited_fen"]) == (0, 2870 + 666, 0)
        later = {"from": (day + timedelta(days=2)).isoformat(), "to": (day + timedelta(days=2)).isoformat()}
        body = (await client.get(f"/api/counties/{w['county'].id}/statement", params=later, headers=w["organizer"].headers)).json()
        household = next(a for a in body["accounts"] if a["party"] == f"household:{w['household'].id}")
        assert (household["opening_balance_fen"], household["debited_fen"], household["closing_balance_fen"]) == (3536, 1969, 1567)
        assert body["sales"]["refunded_fen"] == 2335

    async def test_other_counties_staff_is_forbidden_and_backwards_period_is_422(
        self, client: httpx.AsyncClient, db: Database, make: Factory
    ) -> None:
        w = await _stream_with_sales(db, make)
        stranger = await make.user(Role.organizer, county_ids=[(await make.county()).id])
        assert (await client.get(f"/api/counties/{w['county'].id}/statement", headers=stranger.headers)).status_code == 403
        backwards = {"from": "2026-03-05", "to": "2026-03-01"}
        response = await client.get(f"/api/counties/{w['county'].id}/statement", params=backwards, headers=w["organizer"].headers)
        assert response.status_code == 422


class TestHouseholdStatement:
    async def test_household_statement_by_product(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        w = await _stream_with_sales(db, make)
        params = {"from": EPOCH.date().isoformat(), "to": (EPOCH.date() + timedelta(days=5)).isoformat()}
        response = await client.get(f"/api/households/{w['household'].id}/statement", params=params, headers=w["organizer"].headers)
        body = response.json()
        assert body["name"] == "王大山"
        assert (body["account"]["credited_fen"], body["account"]["debited_fen"], body["account"]["closing_balance_fen"]) == (
            3536,
            1969,
            1567,
        )
        products = {p["product_id"]: (p["credited_fen"], p["reversed_fen"]) for p in body["by_product"]}
        assert products == {w["tea"].id: (2703, 1802), w["rice"].id: (833, 167)}

    async def test_only_staff_of_its_county(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        w = await _stream_with_sales(db, make)
        stranger = await make.user(Role.organizer, county_ids=[(await make.county()).id])
        cadre = await make.user(Role.cadre, county_ids=[w["county"].id])
        assert (await client.get(f"/api/households/{w['household'].id}/statement", headers=stranger.headers)).status_code == 403
        assert (await client.get(f"/api/households/{w['household'].id}/statement", headers=cadre.headers)).status_code == 403
        assert (await client.get("/api/households/999999/statement", headers=w["organizer"].headers)).status_code == 404


class TestConsumptionStats:
    async def test_by_channel_and_by_county(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        w = await _stream_with_sales(db, make)
        params = {"from": EPOCH.date().isoformat(), "to": (EPOCH.date() + timedelta(days=2)).isoformat()}
        by_channel = (
            await client.get("/api/stats/consumption", params={**params, "group_by": "channel"}, headers=w["organizer"].headers)
        ).json()
        assert [(i["key"], i["net_fen"]) for i in by_channel["items"]] == [("live", 1001), ("unit_subscription", 0), ("physical", 1332)]
        by_county = (
            await client.get("/api/stats/consumption", params={**params, "group_by": "county"}, headers=w["organizer"].headers)
        ).json()
        assert [(i["county_id"], i["gross_fen"], i["refunded_fen"]) for i in by_county["items"]] == [(w["county"].id, 4668, 2335)]
        assert by_county["total"]["household_fen"] == 2870 + 666

    async def test_only_the_first_day_excludes_later_sales(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        w = await _stream_with_sales(db, make)
        params = {"from": EPOCH.date().isoformat(), "to": EPOCH.date().isoformat(), "group_by": "channel"}
        body = (await client.get("/api/stats/consumption", params=params, headers=w["organizer"].headers)).json()
        assert (body["total"]["gross_fen"], body["total"]["refunded_fen"]) == (3336, 0)

    async def test_bad_group_by_is_422(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        assert (await client.get("/api/stats/consumption", params={"group_by": "province"}, headers=admin.headers)).status_code == 422
