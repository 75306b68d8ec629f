"""The sales back office and a buyer's orders page, through the test client: who sees what, forms, pagination, masking."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import httpx
import pytest

from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from tests.factories import Factory, TestUser
from tests.livecommerce.orders.aftersales import ADDRESS, add_address, buy, ship
from tests.livecommerce.orders.helpers import Shop, make_buyers, open_stream

EN = {"Accept-Language": "en"}
PHONE = ADDRESS["phone"]
DETAIL = ADDRESS["detail"]


@dataclass
class Scene:
    shop: Shop
    buyer: TestUser
    order_id: int
    other_county_id: int
    other_organizer: TestUser
    admin: TestUser


async def _shop(make: Factory, db: Database) -> Shop:
    county = await make.county(name="Fogang")
    assert county.id is not None
    household = await make.household(county.id)
    splits = [(f"household:{household.id}", 7000), (f"county:{county.id}", 2000), ("platform", 1000)]
    product = await make.product(county.id, splits=splits, price_fen=1990, stock=100, name="Guangshengyuan eggs")
    other = await make.product(county.id, splits=splits, price_fen=500, stock=10, name="Arrowroot powder")
    anchor = await make.anchor(county.id)
    assert product.id and other.id and anchor.id and household.id
    stream_id = await open_stream(db, anchor.id, [product.id, other.id])
    organizer = await make.user(Role.organizer, county_ids=[county.id])
    cadre = await make.user(Role.cadre, county_ids=[county.id], anchor_id=anchor.id)
    return Shop(county.id, product.id, other.id, stream_id, organizer, cadre, household.id)


@pytest.fixture
async def scene(client: httpx.AsyncClient, make: Factory, db: Database) -> Scene:
    shop = await _shop(make, db)
    buyer = (await make_buyers(db, make, 1, display_name="王秀英"))[0]
    assert (await add_address(client, buyer)).status_code == 201
    order = await buy(client, buyer, shop)
    other = await make.county(name="Yingde")
    assert other.id is not None
    other_organizer = await make.user(Role.organizer, county_ids=[other.id])
    admin = await make.user(Role.admin)
    return Scene(shop, buyer, int(order["id"]), other.id, other_organizer, admin)


def _as(client: httpx.AsyncClient, user: TestUser | None) -> httpx.AsyncClient:
    client.cookies.clear()
    if user is not None:
        client.cookies.set("lc_token", user.token)
    return client


def _order_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-order-id="(\d+)"', html)]


STAFF_PAGES = [
    "/manage/orders",
    "/manage/refund-requests",
    "/manage/fulfillment",
    "/manage/units",
    "/manage/subscriptions",
    "/manage/station-sales",
]
ADMIN_PAGES = ["/manage/users", "/manage/audit"]


class TestWhoMayOpen:
    @pytest.mark.parametrize("path", STAFF_PAGES + ADMIN_PAGES)
    async def test_anonymous_visitors_are_sent_to_sign_in(self, client: httpx.AsyncClient, path: str) -> None:
        response = await _as(client, None).get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")

    @pytest.mark.parametrize("role", [Role.viewer, Role.cadre])
    @pytest.mark.parametrize("path", STAFF_PAGES)
    async def test_viewers_and_cadres_are_turned_away(self, client: httpx.AsyncClient, make: Factory, role: Role, path: str) -> None:
        user = await make.user(role)
        response = await _as(client, user).get(path)
        assert response.status_code == 303
        assert response.headers["location"].endswith("&need=role")

    @pytest.mark.parametrize("path", STAFF_PAGES)
    async def test_organizers_open_every_sales_page(self, client: httpx.AsyncClient, scene: Scene, path: str) -> None:
        response = await _as(client, scene.shop.organizer).get(path, headers=EN)
        assert response.status_code == 200, response.text
        assert 'href="/manage/orders"' in response.text

    @pytest.mark.parametrize("path", ADMIN_PAGES)
    async def test_users_and_audit_are_for_admins_only(self, client: httpx.AsyncClient, scene: Scene, path: str) -> None:
        refused = await _as(client, scene.shop.organizer).get(path)
        assert refused.status_code == 303 and refused.headers["location"].endswith("&need=role")
        allowed = await _as(client, scene.admin).get(path, headers=EN)
        assert allowed.status_code == 200

    async def test_my_orders_needs_a_sign_in(self, client: httpx.AsyncClient) -> None:
        response = await _as(client, None).get("/me/orders")
        assert response.status_code == 303 and response.headers["location"] == "/login?next=%2Fme%2Forders"

    async def test_a_form_posted_from_another_site_is_refused(self, client: httpx.AsyncClient, scene: Scene) -> None:
        response = await _as(client, scene.buyer).post(
            f"/me/orders/{scene.order_id}/refund-requests", data={"reason": "broken"}, headers={"Origin": "http://evil.example"}
        )
        assert response.status_code == 403
        mine = await client.get("/api/refund-requests", headers=scene.buyer.headers)
        assert mine.json()["items"] == []


class TestMyOrders:
    async def test_shows_the_timeline_with_the_parcel_and_the_address(self, client: httpx.AsyncClient, scene: Scene) -> None:
        assert (await ship(client, scene.shop.organizer, scene.order_id, tracking_no="SF123456789012")).status_code == 201
        page = await _as(client, scene.buyer).get("/me/orders", headers=EN)
        assert page.status_code == 200
        card = page.text.split(f'id="order-{scene.order_id}"')[1].split("</article>")[0]
        steps = re.findall(r'data-step="([a-z_]+)"', card)
        assert steps == ["placed", "paid", "shipped"]
        assert "SF 123456789012" not in card and "SF SF123456789012" in card
        assert PHONE in page.text and DETAIL in page.text  # the buyer's own address, in full
        assert f'action="/me/orders/{scene.order_id}/received"' in card

    async def test_confirming_receipt_asks_first_then_marks_it_received(self, client: httpx.AsyncClient, scene: Scene) -> None:
        await ship(client, scene.shop.organizer, scene.order_id)
        me = _as(client, scene.buyer)
        first = await me.post(f"/me/orders/{scene.order_id}/received", headers=EN)
        assert first.status_code == 200 and 'name="confirmed" value="yes"' in first.text
        assert (await me.get(f"/api/orders/{scene.order_id}", headers=scene.buyer.headers)).json()["fulfillment"] == "shipped"
        done = await me.post(f"/me/orders/{scene.order_id}/received", data={"confirmed": "yes"}, headers=EN)
        assert done.status_code == 303 and done.headers["location"] == "/me/orders"
        assert (await me.get(f"/api/orders/{scene.order_id}", headers=scene.buyer.headers)).json()["fulfillment"] == "delivered"
        page = await me.get("/me/orders", headers=EN)
        assert f"order #{scene.order_id} is marked as received" in page.text, page.headers
        assert "delivered" in re.findall(r'data-step="([a-z_]+)"', page.text)
        again = await me.get("/me/orders", headers=EN)
        assert 'id="flash"' not in again.text  # a flash message is shown once

    async def test_receipt_before_shipping_is_refused_beside_the_order(self, client: httpx.AsyncClient, scene: Scene) -> None:
        response = await _as(client, scene.buyer).post(f"/me/orders/{scene.order_id}/received", data={"confirmed": "yes"}, headers=EN)
        assert response.status_code == 422
        card = response.text.split(f'id="order-{scene.order_id}"')[1].split("</article>")[0]
        assert "has not been shipped" in card

    async def test_asking_for_a_refund_shows_it_in_the_timeline(self, client: httpx.AsyncClient, scene: Scene) -> None:
        me = _as(client, scene.buyer)
        empty = await me.post(f"/me/orders/{scene.order_id}/refund-requests", data={"reason": "  "}, headers=EN)
        assert empty.status_code == 422 and 'data-error-for="reason"' in empty.text
        asked = await me.post(f"/me/orders/{scene.order_id}/refund-requests", data={"reason": "The eggs arrived broken"}, headers=EN)
        assert asked.status_code == 303
        page = await me.get("/me/orders", headers=EN)
        assert "refund_requested" in re.findall(r'data-step="([a-z_]+)"', page.text)
        assert "The eggs arrived broken" in page.text and "waiting for a decision" in page.text

    async def test_another_buyers_order_is_not_found(self, client: httpx.AsyncClient, scene: Scene, make: Factory, db: Database) -> None:
        stranger = (await make_buyers(db, make, 1))[0]
        response = await _as(client, stranger).post(f"/me/orders/{scene.order_id}/refund-requests", data={"reason": "mine now"})
        assert response.status_code == 404
        page = await client.get("/me/orders")
        assert f'id="order-{scene.order_id}"' not in page.text and PHONE not in page.text

    async def test_an_address_with_a_bad_phone_is_shown_again_with_the_error(self, client: httpx.AsyncClient, scene: Scene) -> None:
        me = _as(client, scene.buyer)
        bad = await me.post("/me/addresses", data={**ADDRESS, "phone": "call me"}, headers=EN)
        assert bad.status_code == 422 and 'data-error-for="phone"' in bad.text and 'value="call me"' in bad.text
        good = await me.post("/me/addresses", data={**ADDRESS, "detail": "石角镇二村5号", "is_default": "on"}, headers=EN)
        assert good.status_code == 303
        assert len((await me.get("/api/me/addresses", headers=scene.buyer.headers)).json()) == 2


class TestOrdersList:
    async def test_an_organizer_of_another_county_sees_none_of_them(self, client: httpx.AsyncClient, scene: Scene) -> None:
        other = _as(client, scene.other_organizer)
        listing = await other.get("/manage/orders", headers=EN)
        assert listing.status_code == 200 and _order_ids(listing.text) == []
        for path in (f"/manage/orders/{scene.order_id}", "/manage/fulfillment", "/manage/refund-requests?status=all"):
            page = await other.get(path, headers=EN)
            assert PHONE not in page.text and DETAIL not in page.text and "王秀英" not in page.text, path
        assert (await other.get(f"/manage/orders/{scene.order_id}")).status_code == 404
        forced = await other.get(f"/manage/orders?county_id={scene.shop.county_id}")
        assert forced.status_code == 404
        refund = await other.post(f"/manage/orders/{scene.order_id}/refund", data={"confirmed": "yes"})
        assert refund.status_code == 404
        assert (await other.get(f"/api/orders/{scene.order_id}", headers=scene.admin.headers)).json()["status"] == "paid"

    async def test_the_countys_organizer_sees_the_order_with_the_address_in_full(self, client: httpx.AsyncClient, scene: Scene) -> None:
        mine = _as(client, scene.shop.organizer)
        listing = await mine.get("/manage/orders", headers=EN)
        assert _order_ids(listing.text) == [scene.order_id]
        detail = await mine.get(f"/manage/orders/{scene.order_id}", headers=EN)
        assert PHONE in detail.text and DETAIL in detail.text and "Guangshengyuan eggs" in detail.text

    async def test_filters_by_status_fulfillment_and_stream(
        self, client: httpx.AsyncClient, scene: Scene, make: Factory, db: Database
    ) -> None:
        buyer = (await make_buyers(db, make, 1))[0]
        unpaid = await buy(client, buyer, scene.shop, pay=False)
        await ship(client, scene.shop.organizer, scene.order_id)
        mine = _as(client, scene.shop.organizer)
        assert _order_ids((await mine.get("/manage/orders?status=pending_payment")).text) == [unpaid["id"]]
        assert _order_ids((await mine.get("/manage/orders?status=paid&fulfillment=shipped")).text) == [scene.order_id]
        assert _order_ids((await mine.get("/manage/orders?fulfillment=unshipped&status=paid")).text) == []
        assert set(_order_ids((await mine.get(f"/manage/orders?stream_id={scene.shop.stream_id}")).text)) == {scene.order_id, unpaid["id"]}
        assert _order_ids((await mine.get(f"/manage/orders?stream_id={scene.shop.stream_id + 1000}")).text) == []
        ignored = await mine.get("/manage/orders?status=nonsense")
        assert ignored.status_code == 200 and len(_order_ids(ignored.text)) == 2

    async def test_pages_of_twenty_newest_first_follow_the_more_link(
        self, client: httpx.AsyncClient, scene: Scene, make: Factory, db: Database
    ) -> None:
        buyers = await make_buyers(db, make, 22)
        ids = [scene.order_id] + [int((await buy(client, b, scene.shop, pay=False))["id"]) for b in buyers]
        mine = _as(client, scene.shop.organizer)
        first = await mine.get("/manage/orders")
        assert _order_ids(first.text) == sorted(ids, reverse=True)[:20]
        more = re.search(r'href="(/manage/orders\?cursor=\d+)" rel="next"', first.text)
        assert more is not None
        second = await mine.get(more.group(1).replace("&amp;", "&"))
        assert _order_ids(second.text) == sorted(ids, reverse=True)[20:]
        assert 'rel="next"' not in second.text

    async def test_refunding_asks_first_then_refunds(self, client: httpx.AsyncClient, scene: Scene) -> None:
        mine = _as(client, scene.shop.organizer)
        ask = await mine.post(f"/manage/orders/{scene.order_id}/refund", headers=EN)
        assert ask.status_code == 200 and "¥19.90" in ask.text and 'id="confirm-yes"' in ask.text
        assert (await client.get(f"/api/orders/{scene.order_id}", headers=scene.admin.headers)).json()["status"] == "paid"
        done = await mine.post(f"/manage/orders/{scene.order_id}/refund", data={"confirmed": "yes"}, headers=EN)
        assert done.status_code == 303
        assert (await client.get(f"/api/orders/{scene.order_id}", headers=scene.admin.headers)).json()["status"] == "refunded"
        again = await mine.post(f"/manage/orders/{scene.order_id}/refund", data={"confirmed": "yes"}, headers=EN)
        assert again.status_code == 409 and "only a paid order can be refunded" in again.text


class TestMasking:
    PAGES = ["/manage/orders", "/manage/orders/{id}", "/manage/fulfillment", "/manage/refund-requests?status=all", "/me/orders"]

    async def _pages(self, client: httpx.AsyncClient, user: TestUser, order_id: int) -> str:
        texts = [(await _as(client, user).get(p.format(id=order_id), headers=EN)).text for p in self.PAGES]
        return "\n".join(texts)

    async def test_the_phone_and_detail_line_reach_only_the_buyer_admins_and_the_countys_organizers(
        self, client: httpx.AsyncClient, scene: Scene, make: Factory, db: Database
    ) -> None:
        r = await client.post(f"/api/orders/{scene.order_id}/refund-requests", json={"reason": "late"}, headers=scene.buyer.headers)
        assert r.status_code == 201
        for user in (scene.buyer, scene.admin, scene.shop.organizer):
            seen = await self._pages(client, user, scene.order_id)
            assert PHONE in seen and DETAIL in seen, user.role
        stranger = (await make_buyers(db, make, 1))[0]
        for user in (scene.other_organizer, scene.shop.cadre, stranger):
            seen = await self._pages(client, user, scene.order_id)
            assert PHONE not in seen and DETAIL not in seen and PHONE[-4:] not in seen, user.role
            assert ADDRESS["recipient"] not in seen, user.role

    async def test_the_pick_list_page_shows_what_the_api_shows(self, client: httpx.AsyncClient, scene: Scene) -> None:
        assert (await client.get("/api/fulfillment", headers=scene.other_organizer.headers)).json()["items"] == []
        mine = await client.get("/api/fulfillment", headers=scene.shop.organizer.headers)
        assert mine.json()["items"][0]["address"]["phone"] == PHONE
        page = await _as(client, scene.shop.organizer).get("/manage/fulfillment")
        assert f'<span class="phone">{PHONE}</span>' in page.text


class TestRefundRequests:
    async def _ask(self, client: httpx.AsyncClient, scene: Scene) -> int:
        r = await client.post(f"/api/orders/{scene.order_id}/refund-requests", json={"reason": "Arrived late"}, headers=scene.buyer.headers)
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    async def test_approving_asks_first_then_refunds_and_the_buyer_sees_it(self, client: httpx.AsyncClient, scene: Scene) -> None:
        request_id = await self._ask(client, scene)
        mine = _as(client, scene.shop.organizer)
        listing = await mine.get("/manage/refund-requests", headers=EN)
        assert f'data-request-id="{request_id}"' in listing.text and "Arrived late" in listing.text
        ask = await mine.post(f"/manage/refund-requests/{request_id}/approve", headers=EN)
        assert ask.status_code == 200 and 'id="confirm-yes"' in ask.text
        done = await mine.post(f"/manage/refund-requests/{request_id}/approve", data={"confirmed": "yes"}, headers=EN)
        assert done.status_code == 303
        assert (await client.get(f"/api/orders/{scene.order_id}", headers=scene.admin.headers)).json()["status"] == "refunded"
        steps = re.findall(r'data-step="([a-z_]+)"', (await _as(client, scene.buyer).get("/me/orders")).text)
        assert steps[-2:] == ["refund_approved", "refunded"] or set(steps[-2:]) == {"refund_approved", "refunded"}

    async def test_rejecting_needs_a_note_and_the_buyer_reads_it(self, client: httpx.AsyncClient, scene: Scene) -> None:
        request_id = await self._ask(client, scene)
        mine = _as(client, scene.shop.organizer)
        empty = await mine.post(f"/manage/refund-requests/{request_id}/reject", data={"note": ""}, headers=EN)
        assert empty.status_code == 422 and 'data-error-for="note"' in empty.text
        done = await mine.post(f"/manage/refund-requests/{request_id}/reject", data={"note": "Photos show it intact"}, headers=EN)
        assert done.status_code == 303
        page = await _as(client, scene.buyer).get("/me/orders", headers=EN)
        assert "Photos show it intact" in page.text and "refund_rejected" in page.text

    async def test_another_countys_organizer_cannot_decide_or_see_it(self, client: httpx.AsyncClient, scene: Scene) -> None:
        request_id = await self._ask(client, scene)
        other = _as(client, scene.other_organizer)
        assert f'data-request-id="{request_id}"' not in (await other.get("/manage/refund-requests?status=all")).text
        refused = await other.post(f"/manage/refund-requests/{request_id}/approve", data={"confirmed": "yes"})
        assert refused.status_code == 404
        assert (await client.get(f"/api/orders/{scene.order_id}", headers=scene.admin.headers)).json()["status"] == "paid"


class TestFulfillment:
    async def test_records_a_shipment_and_checks_the_tracking_number(self, client: httpx.AsyncClient, scene: Scene) -> None:
        mine = _as(client, scene.shop.organizer)
        page = await mine.get("/manage/fulfillment", headers=EN)
        assert f'id="pick-{scene.order_id}"' in page.text and "Guangshengyuan eggs" in page.text
        assert "/api/fulfillment.xlsx?status=unshipped" in page.text
        bad = await mine.post(f"/manage/orders/{scene.order_id}/shipments", data={"carrier": "SF", "tracking_no": "12"}, headers=EN)
        assert bad.status_code == 422
        form = bad.text.split(f'id="pick-{scene.order_id}"')[1].split("</article>")[0]
        assert 'data-error-for="tracking_no"' in form and "SF tracking number" in form
        unknown = await mine.post(f"/manage/orders/{scene.order_id}/shipments", data={"carrier": "Pigeon", "tracking_no": "SF123456789012"})
        assert unknown.status_code == 422 and 'data-error-for="carrier"' in unknown.text
        done = await mine.post(
            f"/manage/orders/{scene.order_id}/shipments", data={"carrier": "SF", "tracking_no": "sf123456789012"}, headers=EN
        )
        assert done.status_code == 303
        shipped = await mine.get("/manage/fulfillment?status=shipped", headers=EN)
        assert "SF123456789012" in shipped.text and "shipped with SF SF123456789012" in shipped.text

    async def test_the_error_beside_the_field_is_in_the_pages_language(self, client: httpx.AsyncClient, scene: Scene) -> None:
        mine = _as(client, scene.shop.organizer)
        data = {"carrier": "EMS", "tracking_no": "12"}
        zh = await mine.post(f"/manage/orders/{scene.order_id}/shipments", data=data, headers={"Accept-Language": "zh-CN"})
        assert zh.status_code == 422 and "这不是EMS的运单号格式。" in zh.text
        en = await mine.post(f"/manage/orders/{scene.order_id}/shipments", data=data, headers=EN)
        assert "This is not the shape of a EMS tracking number." in en.text

    async def test_filters_by_station_and_county(self, client: httpx.AsyncClient, scene: Scene, make: Factory) -> None:
        station = await make.station(scene.shop.county_id)
        mine = _as(client, scene.shop.organizer)
        assert f'id="pick-{scene.order_id}"' not in (await mine.get(f"/manage/fulfillment?station_id={station.id}")).text
        assert f'id="pick-{scene.order_id}"' in (await mine.get(f"/manage/fulfillment?county_id={scene.shop.county_id}")).text
        assert (await mine.get(f"/manage/fulfillment?county_id={scene.other_county_id}")).status_code == 404


class TestUnitsAndSales:
    async def test_creates_a_unit_and_shows_its_completion(self, client: httpx.AsyncClient, scene: Scene) -> None:
        mine = _as(client, scene.shop.organizer)
        bad = await mine.post("/manage/units", data={"name": "", "unit_type": "party", "budget_yuan": "12.345"}, headers=EN)
        assert bad.status_code == 422 and 'data-error-for="name"' in bad.text and 'data-error-for="budget_yuan"' in bad.text
        data = {"name": "Fogang Party School", "unit_type": "school", "budget_yuan": "100,000", "county_id": str(scene.shop.county_id)}
        done = await mine.post("/manage/units", data=data, headers=EN)
        assert done.status_code == 303
        page = await mine.get("/manage/units", headers=EN)
        assert "Fogang Party School" in page.text and "¥100,000.00" in page.text and "¥10,000.00" in page.text
        assert 'data-completion-bp="0"' in page.text
        other = await _as(client, scene.other_organizer).get("/manage/units")
        assert "Fogang Party School" not in other.text

    async def test_units_sort_by_completion_and_name(self, client: httpx.AsyncClient, scene: Scene) -> None:
        for name, budget in (("B unit", 1000), ("A unit", 5000), ("C unit", 2000)):
            r = await client.post(
                "/api/units",
                json={"name": name, "unit_type": "enterprise", "annual_food_budget_fen": budget * 100, "county_id": scene.shop.county_id},
                headers=scene.shop.organizer.headers,
            )
            assert r.status_code == 201
        mine = _as(client, scene.shop.organizer)
        by_name = re.findall(r"<b>([ABC] unit)</b>", (await mine.get("/manage/units?sort=name")).text)
        assert by_name == ["A unit", "B unit", "C unit"]
        by_budget = re.findall(r"<b>([ABC] unit)</b>", (await mine.get("/manage/units?sort=budget&dir=desc")).text)
        assert by_budget == ["A unit", "C unit", "B unit"]

    async def test_a_subscription_for_a_unit_is_recorded_once_per_form(self, client: httpx.AsyncClient, scene: Scene) -> None:
        unit = await client.post(
            "/api/units",
            json={"name": "Qingyuan Power", "unit_type": "enterprise", "annual_food_budget_fen": 10**7, "county_id": scene.shop.county_id},
            headers=scene.shop.organizer.headers,
        )
        mine = _as(client, scene.shop.organizer)
        form = await mine.get("/manage/subscriptions", headers=EN)
        key = re.search(r'name="key" value="([0-9a-f]+)"', form.text)
        assert key is not None and "Qingyuan Power" in form.text
        data = {
            "unit_id": str(unit.json()["id"]),
            "product_id": [str(scene.shop.product_id), ""],
            "quantity": ["3", ""],
            "key": key.group(1),
        }
        first = await mine.post("/manage/subscriptions", data=data, headers=EN)
        assert first.status_code == 303
        again = await mine.post("/manage/subscriptions", data=data, headers=EN)
        assert again.status_code == 303
        page = await mine.get("/manage/subscriptions", headers=EN)
        assert len(_order_ids(page.text)) == 1 and "¥59.70" in page.text
        short = await mine.post("/manage/subscriptions", data={**data, "quantity": ["100000", ""], "key": uuid.uuid4().hex}, headers=EN)
        assert short.status_code == 422 and 'role="alert"' in short.text

    async def test_a_station_sale_is_recorded(self, client: httpx.AsyncClient, scene: Scene, make: Factory) -> None:
        station = await make.station(scene.shop.county_id, name="Shiling station")
        mine = _as(client, scene.shop.organizer)
        missing = await mine.post(
            "/manage/station-sales", data={"station_id": "", "product_id": [str(scene.shop.product_id)], "quantity": ["1"]}
        )
        assert missing.status_code == 422 and 'data-error-for="station_id"' in missing.text
        data = {"station_id": str(station.id), "product_id": [str(scene.shop.other_product_id)], "quantity": ["2"], "key": uuid.uuid4().hex}
        assert (await mine.post("/manage/station-sales", data=data)).status_code == 303
        page = await mine.get("/manage/station-sales", headers=EN)
        assert "Shiling station" in page.text and "¥10.00" in page.text
        other = await _as(client, scene.other_organizer).get("/manage/station-sales", headers=EN)
        assert "Shiling station" not in other.text and _order_ids(other.text) == []

    async def test_station_sales_page_by_twenty(self, client: httpx.AsyncClient, scene: Scene, make: Factory) -> None:
        station = await make.station(scene.shop.county_id)
        body = {"items": [{"product_id": scene.shop.product_id, "quantity": 1}]}
        for _ in range(21):
            r = await client.post(f"/api/stations/{station.id}/sales", json=body, headers=scene.shop.organizer.headers)
            assert r.status_code == 201
        mine = _as(client, scene.shop.organizer)
        first = await mine.get("/manage/station-sales")
        more = re.search(r'href="(/manage/station-sales\?cursor=\d+)" rel="next"', first.text)
        assert len(_order_ids(first.text)) == 20 and more is not None
        second = await mine.get(more.group(1))
        assert len(_order_ids(second.text)) == 1 and not set(_order_ids(second.text)) & set(_order_ids(first.text))


class TestUsersAndAudit:
    async def test_an_admin_creates_a_user_and_changes_a_role(self, client: httpx.AsyncClient, scene: Scene) -> None:
        admin = _as(client, scene.admin)
        data = {"username": "org_lianzhou", "display_name": "Lianzhou office", "password": "fupin-2020!", "role": "organizer"}
        created = await admin.post("/manage/users", data={**data, "county_ids": [str(scene.other_county_id)]}, headers=EN)
        assert created.status_code == 303
        taken = await admin.post("/manage/users", data=data, headers=EN)
        assert taken.status_code == 422 and "This username is taken." in taken.text
        listing = await admin.get("/manage/users?role=organizer&q=lianzhou", headers=EN)
        user_id = int(re.findall(r'data-user-id="(\d+)"', listing.text)[0])
        assert "Yingde" in listing.text
        ask = await admin.post(f"/manage/users/{user_id}/role", data={"role": "cadre"}, headers=EN)
        assert ask.status_code == 200 and 'id="confirm-yes"' in ask.text
        done = await admin.post(f"/manage/users/{user_id}/role", data={"role": "cadre", "confirmed": "yes"}, headers=EN)
        assert done.status_code == 303
        assert f'data-user-id="{user_id}" data-role="cadre"' in (await admin.get("/manage/users", headers=EN)).text

    async def test_the_audit_log_pages_and_verifies(self, client: httpx.AsyncClient, scene: Scene) -> None:
        page = await _as(client, scene.admin).get("/manage/audit", headers=EN)
        assert 'id="audit-verification" data-ok="true"' in page.text and "user.created" in page.text
        filtered = await client.get("/manage/audit?action=order.shipped")
        assert "user.created" not in filtered.text.split('id="audit-table"')[1]
