"""Benefit linkage (联农带农): households' linkage type and products' linkage mechanism, through the API and the imports."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from livecommerce.catalog.models import Household, Product
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from tests.factories import Factory
from tests.livecommerce.catalog.test_imports import HOUSEHOLD_HEADER, _upload, _xlsx


class TestHouseholdLinkage:
    async def test_registered_with_a_linkage_type_and_changed_by_patch(self, client: httpx.AsyncClient, make: Factory) -> None:
        county = await make.county()
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        body = {"county_id": county.id, "name": "李四", "village": "Shiling", "registration_no": "441821000901", "linkage_type": "dividend"}
        created = await client.post("/api/households", json=body, headers=organizer.headers)
        assert created.status_code == 201, created.text
        assert created.json()["linkage_type"] == "dividend"
        hid = created.json()["id"]
        changed = await client.patch(f"/api/households/{hid}", json={"linkage_type": "employment"}, headers=organizer.headers)
        assert changed.status_code == 200, changed.text
        assert (changed.json()["linkage_type"], changed.json()["monitored"]) == ("employment", False)
        both = await client.patch(f"/api/households/{hid}", json={"monitored": True, "linkage_type": None}, headers=organizer.headers)
        assert (both.json()["linkage_type"], both.json()["monitored"]) == (None, True)
        seen = (await client.get(f"/api/households/{hid}", headers=organizer.headers)).json()
        assert (seen["linkage_type"], seen["monitored"]) == (None, True)

    async def test_not_recorded_by_default(self, client: httpx.AsyncClient, make: Factory) -> None:
        county = await make.county()
        household = await make.household(county.id)
        admin = await make.user(Role.admin)
        assert (await client.get(f"/api/households/{household.id}", headers=admin.headers)).json()["linkage_type"] is None

    async def test_unknown_linkage_type_empty_patch_and_other_county_are_refused(self, client: httpx.AsyncClient, make: Factory) -> None:
        county, other = await make.county(), await make.county()
        household = await make.household(county.id)
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        stranger = await make.user(Role.organizer, county_ids=[other.id])
        path = f"/api/households/{household.id}"
        assert (await client.patch(path, json={"linkage_type": "charity"}, headers=organizer.headers)).status_code == 422
        assert (await client.patch(path, json={"linkage_type": "带动生产"}, headers=organizer.headers)).status_code == 422
        assert (await client.patch(path, json={}, headers=organizer.headers)).status_code == 422
        assert (await client.patch(path, json={"monitored": None}, headers=organizer.headers)).status_code == 422
        assert (await client.patch(path, json={"linkage_type": "production"}, headers=stranger.headers)).status_code == 403
        assert (await client.get(path, headers=organizer.headers)).json()["linkage_type"] is None

    async def test_the_schema_documents_the_vocabulary(self, client: httpx.AsyncClient) -> None:
        schema = (await client.get("/openapi.json")).json()["components"]["schemas"]
        field = schema["HouseholdCreate"]["properties"]["linkage_type"]
        assert {"production", "employment", "dividend", "other"} == set(next(v for v in field["anyOf"] if "enum" in v)["enum"])
        assert "联农带农" in field["description"]


class TestProductLinkage:
    async def test_created_with_a_mechanism_changed_and_cleared(self, client: httpx.AsyncClient, make: Factory) -> None:
        county = await make.county()
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        body = {
            "name": "连州菜心",
            "county_id": county.id,
            "unit": "box",
            "price_fen": 3990,
            "stock": 10,
            "splits": [{"party": "platform", "bp": 10000}],
            "linkage_mechanism": "employment",
        }
        created = await client.post("/api/products", json=body, headers=organizer.headers)
        assert created.status_code == 201, created.text
        assert created.json()["linkage_mechanism"] == "employment"
        pid = created.json()["id"]
        changed = await client.patch(f"/api/products/{pid}", json={"linkage_mechanism": "production"}, headers=organizer.headers)
        assert changed.status_code == 200, changed.text
        assert (await client.get(f"/api/products/{pid}")).json()["linkage_mechanism"] == "production"
        cleared = await client.patch(f"/api/products/{pid}", json={"linkage_mechanism": None}, headers=organizer.headers)
        assert cleared.json()["linkage_mechanism"] is None
        bad = await client.patch(f"/api/products/{pid}", json={"linkage_mechanism": "gift"}, headers=organizer.headers)
        assert bad.status_code == 422


class TestImportedLinkage:
    async def test_household_linkage_in_english_or_chinese_and_empty_keeps_it(
        self, client: httpx.AsyncClient, make: Factory, db: Database
    ) -> None:
        county = await make.county()
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        header = [*HOUSEHOLD_HEADER, "联农带农方式 (linkage_type)"]
        rows = [
            [county.id, "陈一", "石岭村", "441821000000070001", "否", "带动生产"],
            [county.id, "陈二", "石岭村", "441821000000070002", "是", "Dividend"],
            [county.id, "陈三", "石岭村", "441821000000070003", "否", ""],
        ]
        r = await _upload(client, "/api/households/import", _xlsx([header, *rows]), organizer.headers)
        assert r.status_code == 200, r.text
        rows[0][5] = ""  # empty on re-import: what is recorded stays
        rows[2][5] = "就业"
        assert (await _upload(client, "/api/households/import", _xlsx([header, *rows]), organizer.headers)).status_code == 200
        async with db.transaction() as session:
            found = (
                await session.scalars(select(Household).where(Household.county_id == county.id).order_by(Household.registration_no))
            ).all()
        assert [h.linkage_type for h in found] == ["production", "dividend", "employment"]

    async def test_product_mechanism_column_and_a_bad_value_is_a_row_error(
        self, client: httpx.AsyncClient, make: Factory, db: Database
    ) -> None:
        county = await make.county()
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        header = ["county_id", "name", "unit", "price_yuan", "stock", "splits", "联农带农机制"]
        rows = [header, [county.id, "土鸡蛋", "斤", "12.00", 5, "platform=10000", "资产收益"]]
        r = await _upload(client, "/api/products/import", _xlsx(rows), organizer.headers)
        assert r.status_code == 200, r.text
        async with db.transaction() as session:
            product = (await session.scalars(select(Product).where(Product.county_id == county.id))).one()
        assert product.linkage_mechanism == "dividend"
        rows[1][6] = "捐赠"
        r = await _upload(client, "/api/products/import", _xlsx(rows), organizer.headers)
        assert r.status_code == 422
        assert [(e["row"], e["column"]) for e in r.json()["errors"]] == [(2, "联农带农机制")]
        assert "production" in r.json()["errors"][0]["message"]


class TestRowMessagesInTheReadersLanguage:
    async def test_a_zh_cn_import_error_is_chinese_and_the_same_file_in_english_is_english(
        self, client: httpx.AsyncClient, make: Factory
    ) -> None:
        county = await make.county()
        household = await make.household(county.id)
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        rows = [
            ["county_id", "name", "unit", "price_yuan", "stock", "splits", "linkage_mechanism"],
            [county.id, "a", "箱", "1.999", 1, "platform=10000", ""],
            [county.id, "b", "箱", "2", 1, "platform=9000", ""],
            [county.id, "c", "箱", "", 1, f"household:{household.id}=10000", "捐赠"],
        ]
        content = _xlsx(rows)
        zh = await _upload(client, "/api/products/import", content, {**organizer.headers, "Accept-Language": "zh-CN"})
        en = await _upload(client, "/api/products/import", content, {**organizer.headers, "Accept-Language": "en"})
        assert zh.status_code == en.status_code == 422
        assert zh.headers["content-language"] == "zh-CN"
        zh_messages = [e["message"] for e in zh.json()["errors"]]
        en_messages = [e["message"] for e in en.json()["errors"]]
        assert [(e["row"], e["column"]) for e in zh.json()["errors"]] == [(e["row"], e["column"]) for e in en.json()["errors"]]
        assert en_messages == [
            "must be an amount in yuan with at most two decimals",
            "the basis points must sum to exactly 10000, got 9000",
            "must be production, employment, dividend or other (or their Chinese labels)",
            "must be an amount in yuan, like 39.90",
        ]
        assert zh_messages[0] == "须为以元计的金额，最多两位小数"
        assert zh_messages[1] == "分账基点之和须恰为 10000，现为 9000"
        assert all(
            not any(
                "a" <= ch.lower() <= "z"
                for ch in m.replace("production", "").replace("employment", "").replace("dividend", "").replace("other", "")
            )
            for m in zh_messages
        )
        assert "行" in zh.json()["detail"]

    async def test_a_household_row_error_on_an_empty_cell_is_chinese(self, client: httpx.AsyncClient, make: Factory) -> None:
        county = await make.county()
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        rows = [HOUSEHOLD_HEADER, [county.id, "陈一", "", "441821000000080001", "也许"]]
        r = await _upload(client, "/api/households/import", _xlsx(rows), {**organizer.headers, "Accept-Language": "zh-CN"})
        assert r.status_code == 422
        assert [e["message"] for e in r.json()["errors"]] == ["须为“是/否”、yes/no 或 1/0"]
