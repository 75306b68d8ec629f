"""The back office `/manage` through the test client: who may enter, county scope, filters, pages, forms."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from livecommerce.catalog.models import County
from livecommerce.kit.principal import Role
from tests.factories import Factory, TestUser

TZ = ZoneInfo("Asia/Shanghai")


def sign_in(client: httpx.AsyncClient, user: TestUser) -> None:
    client.cookies.set("lc_token", user.token)


@dataclass
class Two:
    """Two counties, each with its organizer."""

    fogang: County
    yingde: County
    fogang_organizer: TestUser
    yingde_organizer: TestUser

    @property
    def fogang_id(self) -> int:
        assert self.fogang.id is not None
        return self.fogang.id

    @property
    def yingde_id(self) -> int:
        assert self.yingde.id is not None
        return self.yingde.id


@pytest.fixture
async def two(make: Factory) -> Two:
    fogang = await make.county(name="Fogang")
    yingde = await make.county(name="Yingde")
    return Two(
        fogang=fogang,
        yingde=yingde,
        fogang_organizer=await make.user(Role.organizer, county_ids=[fogang.id]),  # type: ignore[list-item]
        yingde_organizer=await make.user(Role.organizer, county_ids=[yingde.id]),  # type: ignore[list-item]
    )


class TestWhoMayEnter:
    @pytest.mark.parametrize("path", ["/manage", "/manage/products", "/manage/households", "/manage/bookings", "/manage/slots"])
    async def test_anonymous_visitors_are_sent_to_sign_in(self, client: httpx.AsyncClient, path: str) -> None:
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")
        assert 'href="/manage"' not in (await client.get("/")).text
        assert "need=role" not in response.headers["location"]

    @pytest.mark.parametrize("role", [Role.viewer, Role.cadre])
    async def test_viewers_and_cadres_get_the_forbidden_sign_in_page(self, client: httpx.AsyncClient, make: Factory, role: Role) -> None:
        sign_in(client, await make.user(role))
        for path in ("/manage", "/manage/products", "/manage/anchors"):
            response = await client.get(path)
            assert response.status_code == 303, path
            assert "need=role" in response.headers["location"]

    async def test_a_cadre_cannot_post_a_form_either(self, client: httpx.AsyncClient, make: Factory, two: Two) -> None:
        sign_in(client, await make.user(Role.cadre, county_ids=[two.fogang_id]))
        response = await client.post("/manage/stations", data={"county_id": str(two.fogang_id), "name": "S", "village": "V"})
        assert response.status_code == 303 and "need=role" in response.headers["location"]

    async def test_the_index_links_every_area_and_users_only_for_admins(self, client: httpx.AsyncClient, make: Factory, two: Two) -> None:
        sign_in(client, two.fogang_organizer)
        page = await client.get("/manage", headers={"Accept-Language": "en"})
        assert page.status_code == 200
        for area in ("products", "households", "stations", "anchors", "studios", "slots", "bookings", "orders", "refund-requests",
                     "units", "subscriptions", "station-sales", "fulfillment", "audit"):  # fmt: skip
            assert f'href="/manage/{area}"' in page.text, area
        assert 'href="/manage/users"' not in page.text
        assert (await client.get("/manage/households/import")).status_code == 200
        sign_in(client, await make.user(Role.admin))
        assert 'href="/manage/users"' in (await client.get("/manage")).text

    async def test_chinese_by_default(self, client: httpx.AsyncClient, two: Two) -> None:
        sign_in(client, two.fogang_organizer)
        page = await client.get("/manage", headers={"Accept-Language": "zh-CN"})
        assert "后台管理" in page.text and "商品与库存" in page.text

    async def test_a_form_posted_from_another_site_is_refused(self, client: httpx.AsyncClient, two: Two) -> None:
        sign_in(client, two.fogang_organizer)
        response = await client.post(
            "/manage/stations",
            data={"county_id": str(two.fogang_id), "name": "Shiling station", "village": "Shiling"},
            headers={"Origin": "https://evil.example"},
        )
        assert response.status_code == 403
        assert "Shiling station" not in (await client.get("/manage/stations")).text


class TestProducts:
    async def test_an_organizer_sees_only_its_countys_products(self, client: httpx.AsyncClient, make: Factory, two: Two) -> None:
        mine = await make.product(two.fogang_id, name="Guangshengyuan eggs")
        theirs = await make.product(two.yingde_id, name="Yingde black tea")
        sign_in(client, two.fogang_organizer)
        page = await client.get("/manage/products")
        assert f'data-product-id="{mine.id}"' in page.text
        assert "Yingde black tea" not in page.text and f'data-product-id="{theirs.id}"' not in page.text
        # Asking for the other county by filter shows nothing of it either.
        page = await client.get(f"/manage/products?county_id={two.yingde_id}")
        assert "Yingde black tea" not in page.text

    async def test_another_countys_product_is_403_and_an_unknown_one_404(self, client: httpx.AsyncClient, make: Factory, two: Two) -> None:
        theirs = await make.product(two.yingde_id, name="Yingde black tea")
        sign_in(client, two.fogang_organizer)
        assert (await client.get(f"/manage/products/{theirs.id}")).status_code == 403
        assert (await client.get("/manage/products/999999")).status_code == 404
        posted = await client.post(f"/manage/products/{theirs.id}", data={"name": "x", "price": "1", "stock": "0"})
        assert posted.status_code == 403
        assert (await client.get(f"/api/products/{theirs.id}")).json()["name"] == "Yingde black tea"

    async def test_filters_by_text_and_status(self, client: httpx.AsyncClient, make: Factory, two: Two) -> None:
        await make.product(two.fogang_id, name="Jinxianmei rice", stock=5)
        await make.product(two.fogang_id, name="Chunzhongbao honey", stock=0)
        sign_in(client, two.fogang_organizer)
        page = await client.get("/manage/products?q=rice")
        assert "Jinxianmei rice" in page.text and "Chunzhongbao honey" not in page.text
        page = await client.get("/manage/products?status=sold_out")
        assert "Chunzhongbao honey" in page.text and "Jinxianmei rice" not in page.text

    async def test_pages_through_a_long_list(self, client: httpx.AsyncClient, make: Factory, two: Two) -> None:
        household = await make.household(two.fogang_id)
        splits = [(f"household:{household.id}", 10000)]
        for i in range(27):
            await make.product(two.fogang_id, name=f"Egg box {i:02d}", splits=splits)
        sign_in(client, two.fogang_organizer)
        first = await client.get("/manage/products?q=Egg")
        assert first.text.count("data-product-id=") == 25
        match = re.search(r'id="next-page" href="([^"]+)"', first.text) or re.search(r'href="([^"]+)" id="next-page"', first.text)
        assert match, "a next-page link"
        second = await client.get(match.group(1).replace("&amp;", "&"))
        assert second.text.count("data-product-id=") == 2
        assert "Egg box 26" in second.text and "Egg box 00" not in second.text
        assert 'id="next-page"' not in second.text

    async def _form(self, product: Any, household_id: int, county_id: int, **changes: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": product.name,
            "price": "19.90",
            "stock": str(product.stock),
            "stock_was": str(product.stock),
            "description": "",
            "party": [f"household:{household_id}", f"county:{county_id}", "platform", ""],
            "share": ["70", "20", "10", ""],
        }
        data.update(changes)
        return data

    async def test_edits_stock_and_splits_then_redirects_with_a_flash(self, client: httpx.AsyncClient, make: Factory, two: Two) -> None:
        household = await make.household(two.fogang_id)
        product = await make.product(two.fogang_id, stock=40)
        sign_in(client, two.fogang_organizer)
        form = await self._form(product, household.id, two.fogang_id, stock="55", share=["65.5", "24.5", "10", ""])  # type: ignore[arg-type]
        response = await client.post(f"/manage/products/{product.id}", data=form)
        assert response.status_code == 303 and response.headers["location"] == f"/manage/products/{product.id}"
        api = (await client.get(f"/api/products/{product.id}")).json()
        assert api["stock"] == 55
        assert api["splits"] == [
            {"party": f"household:{household.id}", "bp": 6550},
            {"party": f"county:{two.fogang_id}", "bp": 2450},
            {"party": "platform", "bp": 1000},
        ]
        page = await client.get(response.headers["location"], headers={"Accept-Language": "en"})
        assert "The product was saved." in page.text
        assert "The product was saved." not in (await client.get(response.headers["location"])).text

    async def test_a_bad_split_sum_is_shown_beside_the_field_and_changes_nothing(
        self, client: httpx.AsyncClient, make: Factory, two: Two
    ) -> None:
        household = await make.household(two.fogang_id)
        product = await make.product(two.fogang_id, stock=40, splits=[(f"household:{household.id}", 10000)])
        sign_in(client, two.fogang_organizer)
        form = await self._form(product, household.id, two.fogang_id, stock="99", share=["70", "20", "5", ""])  # type: ignore[arg-type]
        response = await client.post(f"/manage/products/{product.id}", data=form, headers={"Accept-Language": "en"})
        assert response.status_code == 422
        assert re.search(r'id="error-splits"[^>]*>[^<]*95%[^<]*100%', response.text)
        api = (await client.get(f"/api/products/{product.id}")).json()
        assert api["stock"] == 40 and api["splits"] == [{"party": f"household:{household.id}", "bp": 10000}]
        zh = await client.post(f"/manage/products/{product.id}", data=form, headers={"Accept-Language": "zh-CN"})
        assert "合计为 95%" in zh.text

    async def test_a_party_of_another_county_is_refused_by_the_domain(self, client: httpx.AsyncClient, make: Factory, two: Two) -> None:
        household = await make.household(two.fogang_id)
        foreign = await make.household(two.yingde_id)
        product = await make.product(two.fogang_id, stock=40, splits=[(f"household:{household.id}", 10000)])
        sign_in(client, two.fogang_organizer)
        form = await self._form(product, foreign.id, two.fogang_id, stock="12")  # type: ignore[arg-type]
        response = await client.post(f"/manage/products/{product.id}", data=form)
        assert response.status_code == 422 and 'id="error-splits"' in response.text
        assert (await client.get(f"/api/products/{product.id}")).json()["stock"] == 40

    async def test_an_unchanged_stock_field_does_not_overwrite_sales_made_meanwhile(
        self, client: httpx.AsyncClient, make: Factory, two: Two
    ) -> None:
        household = await make.household(two.fogang_id)
        product = await make.product(two.fogang_id, stock=40)
        sign_in(client, two.fogang_organizer)
        r = await client.patch(f"/api/products/{product.id}", json={"stock": 37}, headers=two.fogang_organizer.headers)
        assert r.status_code == 200
        form = await self._form(product, household.id, two.fogang_id, stock="40", stock_was="40", price="25.00")  # type: ignore[arg-type]
        assert (await client.post(f"/manage/products/{product.id}", data=form)).status_code == 303
        api = (await client.get(f"/api/products/{product.id}")).json()
        assert api["stock"] == 37 and api["price_fen"] == 2500

    async def test_creates_a_product_and_refuses_a_bad_price(self, client: httpx.AsyncClient, make: Factory, two: Two) -> None:
        household = await make.household(two.fogang_id)
        sign_in(client, two.fogang_organizer)
        form = {
            "name": "Shuangfeng arrowroot powder", "county_id": str(two.fogang_id), "unit": "500 g", "price": "29.9", "stock": "100",
            "party": [f"household:{household.id}", "platform"], "share": ["90", "10"],
        }  # fmt: skip
        bad = await client.post("/manage/products/new", data={**form, "price": "29.999"}, headers={"Accept-Language": "en"})
        assert bad.status_code == 422 and 'id="error-price_fen"' in bad.text
        response = await client.post("/manage/products/new", data=form)
        assert response.status_code == 303
        product_id = int(response.headers["location"].rsplit("/", 1)[1])
        api = (await client.get(f"/api/products/{product_id}")).json()
        assert api["price_fen"] == 2990 and api["county_id"] == two.fogang_id

    async def test_cannot_create_in_another_county(self, client: httpx.AsyncClient, make: Factory, two: Two) -> None:
        sign_in(client, two.fogang_organizer)
        form = {
            "name": "Tea",
            "county_id": str(two.yingde_id),
            "unit": "box",
            "price": "10",
            "stock": "1",
            "party": ["platform"],
            "share": ["100"],
        }
        response = await client.post("/manage/products/new", data=form)
        assert response.status_code == 422
        assert "You do not act for this county." in response.text


class TestHouseholds:
    async def test_lists_filters_and_scopes_households(self, client: httpx.AsyncClient, make: Factory, two: Two) -> None:
        await make.household(two.fogang_id, name="陈大福", village="Shiling", monitored=True)
        await make.household(two.fogang_id, name="李小花", village="Tangtang")
        await make.household(two.yingde_id, name="王英德", village="Lianjiangkou")
        sign_in(client, two.fogang_organizer)
        page = await client.get("/manage/households")
        assert "陈大福" in page.text and "李小花" in page.text and "王英德" not in page.text
        assert "李小花" not in (await client.get("/manage/households?status=monitored")).text
        page = await client.get("/manage/households?q=Tangtang")
        assert "李小花" in page.text and "陈大福" not in page.text

    async def test_creates_and_edits_a_household(self, client: httpx.AsyncClient, two: Two) -> None:
        sign_in(client, two.fogang_organizer)
        form = {"county_id": str(two.fogang_id), "name": "黄有田", "village": "Shiling", "registration_no": "441821000123"}
        assert (await client.post("/manage/households/new", data=form)).status_code == 303
        page = await client.get("/manage/households?q=黄有田")
        household_id = int(re.findall(r'data-household-id="(\d+)"', page.text)[0])
        edited = await client.post(f"/manage/households/{household_id}", data={"name": "黄有田", "village": "Tangtang", "monitored": "on"})
        assert edited.status_code == 303
        api = (await client.get(f"/api/households/{household_id}", headers=two.fogang_organizer.headers)).json()
        assert api["village"] == "Tangtang" and api["monitored"] is True

    @pytest.mark.parametrize(("area", "title"), [("households", "Import households"), ("products", "Import products")])
    async def test_the_import_form_posts_to_the_import_api_with_a_dry_run(
        self, client: httpx.AsyncClient, two: Two, area: str, title: str
    ) -> None:
        sign_in(client, two.fogang_organizer)
        listing = (await client.get(f"/manage/{area}", headers={"Accept-Language": "en"})).text
        assert f'href="/manage/{area}/import"' in listing
        assert f'<a href="/api/{area}/import-template.xlsx" id="template-link" download>' in listing
        page = await client.get(f"/manage/{area}/import", headers={"Accept-Language": "en"})
        assert page.status_code == 200
        assert f"<h1>{title}</h1>" in page.text
        assert f'data-endpoint="/api/{area}/import"' in page.text and 'id="dry-run" checked' in page.text
        assert f'href="/api/{area}/import-template.xlsx"' in page.text
        # The shared script fills in the page's own summaries.
        assert 'data-done="Imported: {created} created, {updated} updated."' in page.text
        assert re.search(r'<script src="/static/js/manage-import\.js\?v=\w+"', page.text)
        zh = (await client.get(f"/manage/{area}/import", headers={"Accept-Language": "zh-CN"})).text
        assert ("新增 {created} 户" if area == "households" else "新增 {created} 种商品") in zh
        # Both template links lead to a workbook for staff.
        template = await client.get(f"/api/{area}/import-template.xlsx")
        assert template.status_code == 200 and template.content[:2] == b"PK"

    async def test_the_import_pages_are_for_staff_only(self, client: httpx.AsyncClient, make: Factory) -> None:
        for path in ("/manage/households/import", "/manage/products/import"):
            response = await client.get(path)
            assert response.status_code == 303 and response.headers["location"].startswith("/login?next="), path
        sign_in(client, await make.user(Role.viewer))
        for path in ("/manage/households/import", "/manage/products/import"):
            response = await client.get(path)
            assert response.status_code == 303 and "need=role" in response.headers["location"], path

    async def test_an_empty_name_is_shown_beside_the_field(self, client: httpx.AsyncClient, two: Two) -> None:
        sign_in(client, two.fogang_organizer)
        form = {"county_id": str(two.fogang_id), "name": "", "village": "Shiling", "registration_no": "1"}
        response = await client.post("/manage/households/new", data=form, headers={"Accept-Language": "en"})
        assert response.status_code == 422
        assert re.search(r'id="error-name"[^>]*>Fill this in\.<', response.text)
        zh = await client.post("/manage/households/new", data=form, headers={"Accept-Language": "zh-CN"})
        assert re.search(r'id="error-name"[^>]*>请填写此项。<', zh.text)

    async def test_another_countys_household_is_403(self, client: httpx.AsyncClient, make: Factory, two: Two) -> None:
        theirs = await make.household(two.yingde_id)
        sign_in(client, two.fogang_organizer)
        assert (await client.get(f"/manage/households/{theirs.id}")).status_code == 403
        assert (await client.post(f"/manage/households/{theirs.id}", data={"name": "x", "village": "y"})).status_code == 403


class TestStationsAndAnchors:
    async def test_adds_a_station_and_an_anchor_in_its_county_only(self, client: httpx.AsyncClient, make: Factory, two: Two) -> None:
        await make.station(two.yingde_id, name="Lianjiangkou station")
        sign_in(client, two.fogang_organizer)
        assert (
            await client.post("/manage/stations", data={"county_id": str(two.fogang_id), "name": "Shiling station", "village": "Shiling"})
        ).status_code == 303
        page = await client.get("/manage/stations")
        assert "Shiling station" in page.text and "Lianjiangkou station" not in page.text
        refused = await client.post("/manage/anchors", data={"county_id": str(two.yingde_id), "name": "Zhou", "title": "Secretary"})
        assert refused.status_code == 422 and "You do not act for this county." in refused.text
        created = await client.post(
            "/manage/anchors", data={"county_id": str(two.fogang_id), "name": "Zhou Min", "title": "First secretary"}
        )
        assert created.status_code == 303

    async def test_sets_availability_and_limits(self, client: httpx.AsyncClient, make: Factory, two: Two) -> None:
        anchor = await make.anchor(two.fogang_id)
        sign_in(client, two.fogang_organizer)
        form = {"weekday": ["0", "2", "0"], "starts": ["09:00", "14:00", ""], "ends": ["12:00", "18:00", ""]}
        assert (await client.post(f"/manage/anchors/{anchor.id}/availability", data=form)).status_code == 303
        api = (await client.get(f"/api/anchors/{anchor.id}/availability", headers=two.fogang_organizer.headers)).json()
        assert api["windows"] == [{"weekday": 0, "starts": "09:00", "ends": "12:00"}, {"weekday": 2, "starts": "14:00", "ends": "18:00"}]
        bad = await client.post(f"/manage/anchors/{anchor.id}/limits", data={"max_broadcasts_per_week": "0", "max_air_minutes_per_day": ""})
        assert bad.status_code == 422 and 'id="error-max_broadcasts_per_week"' in bad.text
        ok = await client.post(f"/manage/anchors/{anchor.id}/limits", data={"max_broadcasts_per_week": "3", "max_air_minutes_per_day": ""})
        assert ok.status_code == 303
        limits = (await client.get(f"/api/anchors/{anchor.id}/limits", headers=two.fogang_organizer.headers)).json()
        assert limits["max_broadcasts_per_week"] == 3

    async def test_another_countys_anchor_is_403(self, client: httpx.AsyncClient, make: Factory, two: Two) -> None:
        theirs = await make.anchor(two.yingde_id)
        sign_in(client, two.fogang_organizer)
        assert (await client.get(f"/manage/anchors/{theirs.id}")).status_code == 403
        posted = await client.post(f"/manage/anchors/{theirs.id}/limits", data={"max_broadcasts_per_week": "1"})
        assert posted.status_code == 403


class TestBookings:
    async def _booking(self, client: httpx.AsyncClient, make: Factory, county_id: int, organizer: TestUser, day: int) -> tuple[int, int]:
        """A requested booking of an anchor of the county, and an open slot to move it to."""
        anchor = await make.anchor(county_id)
        r = await client.post("/api/studios", json={"name": f"Studio {day}", "platform": "douyin"}, headers=organizer.headers)
        studio_id = r.json()["id"]
        start = datetime.now(TZ).replace(hour=10, minute=0, second=0, microsecond=0) + timedelta(days=day)
        slots = []
        for hours in (0, 3):
            body = {"studio_id": studio_id, "starts_at": (start + timedelta(hours=hours)).isoformat(),
                    "ends_at": (start + timedelta(hours=hours + 1)).isoformat()}  # fmt: skip
            r = await client.post("/api/slots", json=body, headers=organizer.headers)
            assert r.status_code == 201, r.text
            slots.append(r.json()["id"])
        cadre = await make.user(Role.cadre, county_ids=[county_id], anchor_id=anchor.id)
        r = await client.post("/api/bookings", json={"slot_id": slots[0], "anchor_ids": [anchor.id]}, headers=cadre.headers)
        assert r.status_code == 201 and r.json()["status"] == "requested", r.text
        return int(r.json()["id"]), slots[1]

    async def test_confirms_moves_and_cancels_a_booking(self, client: httpx.AsyncClient, make: Factory, two: Two) -> None:
        booking_id, other_slot = await self._booking(client, make, two.fogang_id, two.fogang_organizer, 3)
        sign_in(client, two.fogang_organizer)
        page = await client.get("/manage/bookings?status=requested")
        assert f'data-booking-id="{booking_id}"' in page.text
        assert (await client.post(f"/manage/bookings/{booking_id}/confirm")).status_code == 303
        assert (await client.get(f"/api/bookings/{booking_id}", headers=two.fogang_organizer.headers)).json()["status"] == "confirmed"
        assert f'data-booking-id="{booking_id}"' not in (await client.get("/manage/bookings?status=requested")).text
        form = await client.get(f"/manage/bookings/{booking_id}/reschedule")
        assert f'<option value="{other_slot}"' in form.text
        assert (await client.post(f"/manage/bookings/{booking_id}/reschedule", data={"slot_id": str(other_slot)})).status_code == 303
        moved = (await client.get(f"/api/bookings/{booking_id}", headers=two.fogang_organizer.headers)).json()
        assert moved["slot_id"] == other_slot and moved["status"] == "requested"
        confirm_step = await client.get(f"/manage/bookings/{booking_id}/cancel")
        assert confirm_step.status_code == 200 and 'id="confirm-cancel"' in confirm_step.text
        assert (await client.get(f"/api/bookings/{booking_id}", headers=two.fogang_organizer.headers)).json()["status"] == "requested"
        assert (await client.post(f"/manage/bookings/{booking_id}/cancel")).status_code == 303
        assert (await client.get(f"/api/bookings/{booking_id}", headers=two.fogang_organizer.headers)).json()["status"] == "cancelled"

    async def test_moving_onto_a_booked_slot_shows_the_clash(self, client: httpx.AsyncClient, make: Factory, two: Two) -> None:
        first, _ = await self._booking(client, make, two.fogang_id, two.fogang_organizer, 4)
        second, _ = await self._booking(client, make, two.fogang_id, two.fogang_organizer, 5)
        taken = (await client.get(f"/api/bookings/{second}", headers=two.fogang_organizer.headers)).json()["slot_id"]
        sign_in(client, two.fogang_organizer)
        response = await client.post(f"/manage/bookings/{first}/reschedule", data={"slot_id": str(taken)})
        assert response.status_code == 422 and 'id="error-slot_id"' in response.text

    async def test_another_countys_bookings_are_invisible_and_refused(self, client: httpx.AsyncClient, make: Factory, two: Two) -> None:
        theirs, _ = await self._booking(client, make, two.yingde_id, two.yingde_organizer, 6)
        sign_in(client, two.fogang_organizer)
        assert f'data-booking-id="{theirs}"' not in (await client.get("/manage/bookings")).text
        assert f'data-booking-id="{theirs}"' not in (await client.get(f"/manage/bookings?county_id={two.yingde_id}")).text
        assert (await client.get(f"/manage/bookings/{theirs}/cancel")).status_code == 403
        assert (await client.get(f"/manage/bookings/{theirs}/reschedule")).status_code == 403
        assert (await client.post(f"/manage/bookings/{theirs}/confirm")).status_code == 403
        assert (await client.post(f"/manage/bookings/{theirs}/cancel")).status_code == 403
        assert (await client.get(f"/api/bookings/{theirs}", headers=two.yingde_organizer.headers)).json()["status"] == "requested"


class TestStudiosAndSlots:
    async def test_adds_a_studio_and_a_slot_and_shows_an_overlap_beside_the_form(self, client: httpx.AsyncClient, two: Two) -> None:
        sign_in(client, two.fogang_organizer)
        assert (await client.post("/manage/studios", data={"name": "Fogang studio", "platform": "douyin"})).status_code == 303
        page = await client.get("/manage/studios")
        studio_id = re.findall(r'data-studio-id="(\d+)"', page.text)[0]
        day = (datetime.now(TZ) + timedelta(days=8)).date().isoformat()
        form = {"studio_id": studio_id, "day": day, "starts": "19:00", "ends": "21:00"}
        assert (await client.post("/manage/slots", data=form)).status_code == 303
        assert "19:00" in (await client.get(f"/manage/slots?studio_id={studio_id}")).text
        clash = await client.post("/manage/slots", data={**form, "starts": "20:00", "ends": "22:00"})
        assert clash.status_code == 422 and "already has a slot" in clash.text
        bad = await client.post("/manage/slots", data={**form, "starts": "25:00"})
        assert bad.status_code == 422 and 'id="error-starts_at"' in bad.text

    async def test_a_studio_belongs_to_the_organizers_county_and_another_county_neither_sees_nor_books_it(
        self, client: httpx.AsyncClient, make: Factory, two: Two
    ) -> None:
        sign_in(client, two.fogang_organizer)
        assert (await client.post("/manage/studios", data={"name": "Fogang studio", "platform": "douyin"})).status_code == 303
        studio = next(s for s in (await client.get("/api/studios", headers=two.fogang_organizer.headers)).json()["items"])
        assert studio["county_id"] == two.fogang_id
        day = (datetime.now(TZ) + timedelta(days=9)).date().isoformat()
        form = {"studio_id": str(studio["id"]), "day": day, "starts": "19:00", "ends": "21:00"}
        assert (await client.post("/manage/slots", data=form)).status_code == 303

        sign_in(client, two.yingde_organizer)
        for path in ("/manage/studios", "/manage/slots", f"/manage/slots?studio_id={studio['id']}"):
            page = await client.get(path)
            assert page.status_code == 200 and "Fogang studio" not in page.text, path
        refused = await client.post("/manage/slots", data={**form, "starts": "22:00", "ends": "23:00"})
        assert refused.status_code == 422 and 'id="error-studio_id"' in refused.text
        assert (await client.get(f"/manage/studios/{studio['id']}")).status_code == 403
        assert (await client.post(f"/manage/studios/{studio['id']}", data={"name": "Ours", "platform": "douyin"})).status_code == 403

    async def test_a_shared_studio_is_seen_by_every_county_and_changed_only_by_admins(
        self, client: httpx.AsyncClient, make: Factory, two: Two
    ) -> None:
        admin = await make.user(Role.admin)
        sign_in(client, admin)
        assert (
            await client.post("/manage/studios", data={"name": "Provincial hall", "platform": "douyin", "county_id": ""})
        ).status_code == 303
        page = await client.get("/manage/studios")
        studio_id = re.findall(r'data-studio-id="(\d+)"', page.text)[-1]
        assert f'href="/manage/studios/{studio_id}"' in page.text
        sign_in(client, two.yingde_organizer)
        page = await client.get("/manage/studios")
        assert "Provincial hall" in page.text and f'href="/manage/studios/{studio_id}"' not in page.text
        assert (await client.get(f"/manage/studios/{studio_id}")).status_code == 403

    async def test_an_organizer_edits_its_studio_with_errors_beside_the_fields(self, client: httpx.AsyncClient, two: Two) -> None:
        sign_in(client, two.fogang_organizer)
        await client.post("/manage/studios", data={"name": "Fogang studio", "platform": "douyin"})
        studio_id = re.findall(r'data-studio-id="(\d+)"', (await client.get("/manage/studios")).text)[-1]
        form = await client.get(f"/manage/studios/{studio_id}")
        assert form.status_code == 200 and 'value="Fogang studio"' in form.text
        bad = await client.post(f"/manage/studios/{studio_id}", data={"name": "", "platform": "douyin"})
        assert bad.status_code == 422 and 'id="error-name"' in bad.text
        saved = await client.post(f"/manage/studios/{studio_id}", data={"name": "Tea hall", "platform": "kuaishou"})
        assert saved.status_code == 303 and saved.headers["location"] == "/manage/studios"
        page = await client.get("/manage/studios")
        assert "Tea hall" in page.text and "kuaishou" in page.text


class TestStationForm:
    async def test_an_organizer_renames_its_station_with_errors_beside_the_fields(
        self, client: httpx.AsyncClient, make: Factory, two: Two
    ) -> None:
        station = await make.station(two.fogang_id, name="Shiling store", village="Shiling")
        sign_in(client, two.fogang_organizer)
        assert f'href="/manage/stations/{station.id}"' in (await client.get("/manage/stations")).text
        form = await client.get(f"/manage/stations/{station.id}")
        assert form.status_code == 200 and 'value="Shiling store"' in form.text
        bad = await client.post(f"/manage/stations/{station.id}", data={"name": "Shiling station", "village": ""})
        assert bad.status_code == 422 and 'id="error-village"' in bad.text and 'value="Shiling station"' in bad.text
        saved = await client.post(f"/manage/stations/{station.id}", data={"name": "Shiling station", "village": "Xintang"})
        assert saved.status_code == 303 and saved.headers["location"] == "/manage/stations"
        page = await client.get("/manage/stations")
        assert "Shiling station" in page.text and "Xintang" in page.text

    async def test_another_countys_station_is_refused(self, client: httpx.AsyncClient, make: Factory, two: Two) -> None:
        station = await make.station(two.fogang_id, name="Shiling store")
        sign_in(client, two.yingde_organizer)
        assert (await client.get(f"/manage/stations/{station.id}")).status_code == 403
        assert (await client.post(f"/manage/stations/{station.id}", data={"name": "Ours", "village": "V"})).status_code == 403
        assert (await client.get(f"/manage/stations/{station.id + 1000}")).status_code == 404
        assert (await client.get(f"/api/stations/{station.id}")).json()["name"] == "Shiling store"
