"""Pages of benefit linkage: the household and product forms and lists, the reports page's table by linkage, the
station ranking page, and urgent produce first on the unit subscription form."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from livecommerce.kit.clock import utcnow
from livecommerce.kit.principal import Role
from tests.factories import Factory, TestUser

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


def _as(client: httpx.AsyncClient, user: TestUser) -> httpx.AsyncClient:
    client.cookies.clear()
    client.cookies.set("lc_token", user.token)
    return client


async def _unit(client: httpx.AsyncClient, organizer: TestUser, county_id: int) -> int:
    body = {"name": "County canteen", "unit_type": "government", "annual_food_budget_fen": 10**7, "county_id": county_id}
    response = await client.post("/api/units", json=body, headers=organizer.headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


class TestForms:
    async def test_a_household_form_records_its_linkage_and_the_list_shows_it(self, client: httpx.AsyncClient, make: Factory) -> None:
        county = await make.county()
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        page = _as(client, organizer)
        form = await page.get("/manage/households/new", headers=ZH)
        assert 'name="linkage_type"' in form.text and "带动就业" in form.text
        data = {
            "county_id": str(county.id),
            "name": "李四",
            "village": "石岭村",
            "registration_no": "441821000000090001",
            "linkage_type": "employment",
        }
        created = await page.post("/manage/households/new", data=data, headers=ZH, follow_redirects=False)
        assert created.status_code in (302, 303), created.text
        listing = await page.get("/manage/households", headers=ZH)
        assert re.search(r'data-linkage="employment">带动就业<', listing.text)
        bad = await page.post(
            "/manage/households/new", data={**data, "linkage_type": "charity", "registration_no": "4418210000900002"}, headers=EN
        )
        assert bad.status_code == 422

    async def test_a_product_form_edits_its_mechanism(self, client: httpx.AsyncClient, make: Factory) -> None:
        county = await make.county()
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        product = await make.product(county.id, price_fen=1000, linkage_mechanism="dividend")
        page = _as(client, organizer)
        edit = await page.get(f"/manage/products/{product.id}", headers=EN)
        assert re.search(r'<option value="dividend" selected>', edit.text)
        form = {
            "name": product.name,
            "price": "10.00",
            "stock": str(product.stock),
            "stock_was": str(product.stock),
            "description": "",
            "party": ["platform"],
            "share": ["100"],
            "linkage_mechanism": "production",
        }
        saved = await page.post(f"/manage/products/{product.id}", data=form, headers=EN, follow_redirects=False)
        assert saved.status_code in (302, 303), saved.text
        listing = await page.get("/manage/products", headers=EN)
        assert 'data-linkage="production">Production<' in listing.text


class TestReportsByLinkage:
    async def test_the_reports_page_shows_net_figures_by_linkage_and_filters_by_monitoring(
        self, client: httpx.AsyncClient, make: Factory
    ) -> None:
        county = await make.county()
        assert county.id is not None
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        watched = await make.household(county.id, monitored=True, linkage_type="production")
        plain = await make.household(county.id, linkage_type="dividend")
        splits = [(f"household:{watched.id}", 5000), (f"household:{plain.id}", 3000), (f"county:{county.id}", 2000)]
        product = await make.product(county.id, price_fen=1000, splits=splits)
        body = {"unit_id": await _unit(client, organizer, county.id), "items": [{"product_id": product.id, "quantity": 3}]}
        assert (await client.post("/api/subscriptions", json=body, headers=organizer.headers)).status_code == 201
        page = _as(client, organizer)
        everything = (await page.get("/reports", headers=EN)).text
        assert re.search(r'<tr data-linkage="production">.*?data-fen="3000".*?data-fen="1500"', everything, re.S)
        assert re.search(r'<tr data-linkage="dividend">.*?data-fen="3000".*?data-fen="900"', everything, re.S)
        unmonitored = (await page.get("/reports?monitored=false", headers=EN)).text
        assert re.search(r'<tr data-linkage="production">.*?data-fen="0".*?data-fen="0"', unmonitored, re.S)
        assert re.search(r'<tr data-linkage="total">.*?data-fen="3000".*?data-fen="900"', unmonitored, re.S)
        assert "Households not under monitoring" in unmonitored

    async def test_the_reports_page_shows_net_figures_by_the_products_mechanism(self, client: httpx.AsyncClient, make: Factory) -> None:
        county = await make.county()
        assert county.id is not None
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        home = await make.household(county.id)
        splits = [(f"household:{home.id}", 6000), (f"county:{county.id}", 4000)]
        product = await make.product(county.id, price_fen=1000, splits=splits, linkage_mechanism="employment")
        body = {"unit_id": await _unit(client, organizer, county.id), "items": [{"product_id": product.id, "quantity": 2}]}
        assert (await client.post("/api/subscriptions", json=body, headers=organizer.headers)).status_code == 201
        page = (await _as(client, organizer).get("/reports", headers=ZH)).text
        table = page[page.index('id="mechanism-stats"') :]
        assert re.search(r'<tr data-linkage="employment"><td>[^<]*就业[^<]*</td>.*?data-fen="2000".*?data-fen="1200"', table, re.S)
        assert re.search(r'<tr data-linkage="dividend">.*?data-fen="0".*?data-fen="0"', table, re.S)
        assert "按产品联农带农机制" in page


class TestStationRankingPage:
    async def test_an_organizer_sees_its_countys_stations_ranked_with_the_workbook_link(
        self, client: httpx.AsyncClient, make: Factory
    ) -> None:
        county, other = await make.county(name="Fogang"), await make.county(name="Yingde")
        assert county.id is not None and other.id is not None
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        first, second = await make.station(county.id), await make.station(county.id)
        theirs = await make.station(other.id)
        product = await make.product(county.id, price_fen=1000, splits=[(f"station:{second.id}", 6000), (f"county:{county.id}", 4000)])
        body = {"unit_id": await _unit(client, organizer, county.id), "items": [{"product_id": product.id, "quantity": 2}]}
        assert (await client.post("/api/subscriptions", json=body, headers=organizer.headers)).status_code == 201
        page = _as(client, organizer)
        html = (await page.get("/reports/stations", headers=ZH)).text
        assert "村级服务站排名" in html and 'href="/reports/stations"' in html
        ids = [int(i) for i in re.findall(r'<tr data-station-id="(\d+)"', html)]
        assert ids == [second.id, first.id] and theirs.id not in ids
        assert re.search(rf'data-station-id="{second.id}".*?data-fen="1200"', html, re.S)
        assert re.search(r'href="/api/stats/stations\.xlsx\?from=\d{4}-\d\d-\d\d&amp;to=\d{4}-\d\d-\d\d"', html)
        refused = await page.get("/reports/stations?from=2026-02-01&to=2026-01-01", headers=EN)
        assert refused.status_code == 422 and "after" in refused.text

    async def test_a_viewer_is_sent_to_sign_in(self, client: httpx.AsyncClient, make: Factory) -> None:
        viewer = await make.user(Role.viewer)
        response = await _as(client, viewer).get("/reports/stations", follow_redirects=False)
        assert response.status_code in (302, 303)


class TestUrgentFirstOnSubscriptions:
    async def test_products_on_urgent_sale_come_first_and_are_marked(self, client: httpx.AsyncClient, make: Factory) -> None:
        county = await make.county()
        assert county.id is not None
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        await _unit(client, organizer, county.id)
        await make.product(county.id, name="A calm rice", price_fen=1000)
        await make.product(county.id, name="B ripe lychee", price_fen=1000, urgent_until=utcnow() + timedelta(days=2))
        await make.product(county.id, name="C past peaches", price_fen=1000, urgent_until=utcnow() - timedelta(days=1))
        html = (await _as(client, organizer).get("/manage/subscriptions", headers=EN)).text
        first_select = html.split('name="product_id"')[1].split("</select>")[0]
        names = re.findall(r"<option value=\"\d+\"[^>]*>([A-C] [a-z ]+?) ·", first_select)
        assert names == ["B ripe lychee", "A calm rice", "C past peaches"]
        assert re.search(r"data-urgent=1[^>]*>B ripe lychee [^<]*· Urgent sale</option>", first_select)
        assert first_select.count("data-urgent=1") == 1
