"""Master-data endpoints: counties, stations, households, anchors and products.

Each endpoint: its happy path, 401 without a token, 403 for a wrong role and for an organizer
outside the county, 404 for an unknown id, 422 for bad input; every error is problem+json.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from livecommerce.catalog import service
from livecommerce.catalog.models import County
from livecommerce.catalog.schemas import HouseholdChange
from livecommerce.kit.clock import utcnow
from livecommerce.kit.errors import Forbidden
from livecommerce.kit.principal import Principal, Role
from tests import factories
from tests.factories import Factory

UNKNOWN_ID = 999_999
TOO_LARGE_ID = 2**31


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status; returns its body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers["content-type"]
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


def error_fields(r: httpx.Response) -> set[str]:
    """The fields named in a 422 problem's `errors`."""
    return {e["field"] for e in assert_problem(r, 422)["errors"]}


class Staff:
    """An admin, an organizer of `county`, an organizer of another county, a cadre of `county` and a viewer."""

    def __init__(
        self,
        county: County,
        admin: factories.TestUser,
        organizer: factories.TestUser,
        outsider: factories.TestUser,
        cadre: factories.TestUser,
        viewer: factories.TestUser,
    ):
        self.county = county
        self.county_id = county.id
        self.admin = admin
        self.organizer = organizer
        self.outsider = outsider
        self.cadre = cadre
        self.viewer = viewer


@pytest.fixture
async def staff(make: Factory) -> Staff:
    county = await make.county(name="佛冈县", code="441821")
    other = await make.county(name="英德市", code="441881")
    anchor = await make.anchor(county.id)
    return Staff(
        county,
        admin=await make.user(Role.admin),
        organizer=await make.user(Role.organizer, county_ids=[county.id]),
        outsider=await make.user(Role.organizer, county_ids=[other.id]),
        cadre=await make.user(Role.cadre, county_ids=[county.id], anchor_id=anchor.id),
        viewer=await make.user(Role.viewer),
    )


class TestCreateCounty:
    body = {"name": "南雄市", "code": "440282", "city": "韶关市", "province": "广东省"}

    async def test_admin_adds_a_county(self, client: httpx.AsyncClient, staff: Staff) -> None:
        r = await client.post("/api/counties", json=self.body, headers=staff.admin.headers)
        assert r.status_code == 201, r.text
        assert r.json() == {**self.body, "id": r.json()["id"]}
        assert (await client.get(f"/api/counties/{r.json()['id']}")).json()["code"] == "440282"

    async def test_without_token_is_401(self, client: httpx.AsyncClient) -> None:
        r = await client.post("/api/counties", json=self.body)
        assert_problem(r, 401)
        assert r.headers["www-authenticate"] == "Bearer"

    @pytest.mark.parametrize("who", ["organizer", "cadre", "viewer"])
    async def test_non_admin_is_403(self, client: httpx.AsyncClient, staff: Staff, who: str) -> None:
        r = await client.post("/api/counties", json=self.body, headers=getattr(staff, who).headers)
        assert_problem(r, 403)

    async def test_missing_and_malformed_fields_are_422(self, client: httpx.AsyncClient, staff: Staff) -> None:
        r = await client.post("/api/counties", json={"name": "", "code": "bad code!"}, headers=staff.admin.headers)
        assert error_fields(r) >= {"name", "code", "city", "province"}

    async def test_duplicate_code_is_409(self, client: httpx.AsyncClient, staff: Staff) -> None:
        assert (await client.post("/api/counties", json=self.body, headers=staff.admin.headers)).status_code == 201
        r = await client.post("/api/counties", json={**self.body, "name": "again"}, headers=staff.admin.headers)
        assert assert_problem(r, 409)["type"].endswith("/conflict")


class TestListCounties:
    async def test_pages_follow_next_cursor_to_the_end(self, client: httpx.AsyncClient, make: Factory) -> None:
        ids = [(await make.county()).id for _ in range(5)]
        seen: list[int] = []
        cursor: str | None = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            body = (await client.get("/api/counties", params=params)).json()
            pages += 1
            assert len(body["items"]) <= 2
            seen += [c["id"] for c in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == ids
        assert pages == 3

    async def test_last_full_page_has_no_next_cursor(self, client: httpx.AsyncClient, make: Factory) -> None:
        for _ in range(2):
            await make.county()
        body = (await client.get("/api/counties", params={"limit": 2})).json()
        assert len(body["items"]) == 2
        assert body["next_cursor"] is None

    @pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 201}, {"cursor": "abc"}, {"cursor": "²"}, {"cursor": str(TOO_LARGE_ID)}])
    async def test_bad_limit_or_cursor_is_422(self, client: httpx.AsyncClient, params: dict[str, Any]) -> None:
        r = await client.get("/api/counties", params=params)
        assert error_fields(r) & {"query.limit", "query.cursor"}


class TestGetCounty:
    async def test_returns_the_county(self, client: httpx.AsyncClient, staff: Staff) -> None:
        r = await client.get(f"/api/counties/{staff.county_id}")
        assert r.status_code == 200
        assert r.json()["name"] == "佛冈县"

    async def test_unknown_id_is_404(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.get(f"/api/counties/{UNKNOWN_ID}"), 404)

    @pytest.mark.parametrize("county_id", ["0", "abc", str(TOO_LARGE_ID), str(10**20)])
    async def test_malformed_or_out_of_range_id_is_422(self, client: httpx.AsyncClient, county_id: str) -> None:
        assert_problem(await client.get(f"/api/counties/{county_id}"), 422)


class TestCreateStation:
    def body(self, county_id: int | None) -> dict[str, Any]:
        return {"county_id": county_id, "name": "王田村电商服务站", "village": "王田村"}

    @pytest.mark.parametrize("who", ["admin", "organizer"])
    async def test_admin_or_county_organizer_adds_a_station(self, client: httpx.AsyncClient, staff: Staff, who: str) -> None:
        r = await client.post("/api/stations", json=self.body(staff.county_id), headers=getattr(staff, who).headers)
        assert r.status_code == 201, r.text
        assert r.json()["village"] == "王田村"
        assert (await client.get(f"/api/stations/{r.json()['id']}")).json()["county_id"] == staff.county_id

    async def test_without_token_is_401(self, client: httpx.AsyncClient, staff: Staff) -> None:
        assert_problem(await client.post("/api/stations", json=self.body(staff.county_id)), 401)

    @pytest.mark.parametrize("who", ["outsider", "cadre", "viewer"])
    async def test_outsider_cadre_or_viewer_is_403(self, client: httpx.AsyncClient, staff: Staff, who: str) -> None:
        r = await client.post("/api/stations", json=self.body(staff.county_id), headers=getattr(staff, who).headers)
        assert_problem(r, 403)

    async def test_unknown_county_is_422(self, client: httpx.AsyncClient, staff: Staff) -> None:
        r = await client.post("/api/stations", json=self.body(UNKNOWN_ID), headers=staff.admin.headers)
        assert error_fields(r) == {"county_id"}

    async def test_missing_fields_are_422(self, client: httpx.AsyncClient, staff: Staff) -> None:
        r = await client.post("/api/stations", json={"county_id": staff.county_id}, headers=staff.admin.headers)
        assert error_fields(r) == {"name", "village"}


class TestListStations:
    async def test_filters_by_county(self, client: httpx.AsyncClient, make: Factory, staff: Staff) -> None:
        mine = await make.station(staff.county_id)
        other = await make.county()
        await make.station(other.id)
        body = (await client.get("/api/stations", params={"county_id": staff.county_id})).json()
        assert [s["id"] for s in body["items"]] == [mine.id]
        assert body["next_cursor"] is None

    async def test_pages_with_limit_and_cursor(self, client: httpx.AsyncClient, make: Factory, staff: Staff) -> None:
        ids = [(await make.station(staff.county_id)).id for _ in range(3)]
        first = (await client.get("/api/stations", params={"limit": 2})).json()
        second = (await client.get("/api/stations", params={"limit": 2, "cursor": first["next_cursor"]})).json()
        assert [s["id"] for s in first["items"] + second["items"]] == ids
        assert second["next_cursor"] is None


class TestGetStation:
    async def test_returns_the_station(self, client: httpx.AsyncClient, make: Factory, staff: Staff) -> None:
        station = await make.station(staff.county_id, name="井冈村电商服务站")
        assert (await client.get(f"/api/stations/{station.id}")).json()["name"] == "井冈村电商服务站"

    async def test_unknown_id_is_404(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.get(f"/api/stations/{UNKNOWN_ID}"), 404)


class TestCreateHousehold:
    def body(self, county_id: int | None) -> dict[str, Any]:
        return {"county_id": county_id, "name": "朱国强", "village": "王田村", "registration_no": "441821010300120001"}

    @pytest.mark.parametrize("who", ["admin", "organizer"])
    async def test_admin_or_county_organizer_registers_a_household(self, client: httpx.AsyncClient, staff: Staff, who: str) -> None:
        r = await client.post("/api/households", json=self.body(staff.county_id), headers=getattr(staff, who).headers)
        assert r.status_code == 201, r.text
        assert r.json()["name"] == "朱国强"
        assert r.json()["registration_no"] == "441821010300120001"
        assert r.json()["masked"] is False

    async def test_without_token_is_401(self, client: httpx.AsyncClient, staff: Staff) -> None:
        assert_problem(await client.post("/api/households", json=self.body(staff.county_id)), 401)

    @pytest.mark.parametrize("who", ["outsider", "cadre", "viewer"])
    async def test_outsider_cadre_or_viewer_is_403(self, client: httpx.AsyncClient, staff: Staff, who: str) -> None:
        r = await client.post("/api/households", json=self.body(staff.county_id), headers=getattr(staff, who).headers)
        assert_problem(r, 403)

    async def test_unknown_county_is_422(self, client: httpx.AsyncClient, staff: Staff) -> None:
        r = await client.post("/api/households", json=self.body(UNKNOWN_ID), headers=staff.admin.headers)
        assert error_fields(r) == {"county_id"}

    async def test_blank_name_and_extra_field_are_422(self, client: httpx.AsyncClient, staff: Staff) -> None:
        body = {**self.body(staff.county_id), "name": "", "id_card": "x"}
        r = await client.post("/api/households", json=body, headers=staff.admin.headers)
        assert error_fields(r) == {"name", "id_card"}


@pytest.fixture
async def two_households(make: Factory, staff: Staff) -> tuple[int, int]:
    """One household in the staff's county, one in another county."""
    mine = await make.household(staff.county_id, name="朱国强", registration_no="441821010300120001")
    other_county = await make.county()
    theirs = await make.household(other_county.id, name="陆福生", registration_no="441881110200030002")
    assert mine.id is not None and theirs.id is not None
    return mine.id, theirs.id


class TestListHouseholds:
    async def _listed(self, client: httpx.AsyncClient, user: factories.TestUser) -> dict[int, dict[str, Any]]:
        r = await client.get("/api/households", headers=user.headers)
        assert r.status_code == 200, r.text
        return {h["id"]: h for h in r.json()["items"]}

    async def test_admin_sees_every_household_unmasked(
        self, client: httpx.AsyncClient, staff: Staff, two_households: tuple[int, int]
    ) -> None:
        listed = await self._listed(client, staff.admin)
        assert {h["name"] for h in listed.values()} == {"朱国强", "陆福生"}
        assert not any(h["masked"] for h in listed.values())

    async def test_organizer_sees_own_county_unmasked_and_others_masked(
        self, client: httpx.AsyncClient, staff: Staff, two_households: tuple[int, int]
    ) -> None:
        mine, theirs = two_households
        listed = await self._listed(client, staff.organizer)
        assert listed[mine]["name"] == "朱国强"
        assert listed[mine]["registration_no"] == "441821010300120001"
        assert listed[mine]["masked"] is False
        assert listed[theirs]["name"] == "陆**"
        assert listed[theirs]["registration_no"] == "44" + "*" * 14 + "02"
        assert listed[theirs]["masked"] is True

    @pytest.mark.parametrize("who", ["outsider", "cadre", "viewer"])
    async def test_outsider_cadre_and_viewer_see_names_and_numbers_masked(
        self, client: httpx.AsyncClient, staff: Staff, two_households: tuple[int, int], who: str
    ) -> None:
        mine, _ = two_households
        household = (await self._listed(client, getattr(staff, who)))[mine]
        assert household["name"] == "朱**"
        assert "0300" not in household["registration_no"]
        assert household["registration_no"].startswith("44") and household["registration_no"].endswith("01")
        assert household["village"] == "Shiling"
        assert household["masked"] is True

    async def test_filters_by_county(self, client: httpx.AsyncClient, staff: Staff, two_households: tuple[int, int]) -> None:
        r = await client.get("/api/households", params={"county_id": staff.county_id}, headers=staff.admin.headers)
        assert [h["id"] for h in r.json()["items"]] == [two_households[0]]

    async def test_without_token_is_401(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.get("/api/households"), 401)

    async def test_bad_county_filter_is_422(self, client: httpx.AsyncClient, staff: Staff) -> None:
        r = await client.get("/api/households", params={"county_id": "x"}, headers=staff.admin.headers)
        assert error_fields(r) == {"query.county_id"}


class TestGetHousehold:
    async def test_county_organizer_sees_it_unmasked(
        self, client: httpx.AsyncClient, staff: Staff, two_households: tuple[int, int]
    ) -> None:
        r = await client.get(f"/api/households/{two_households[0]}", headers=staff.organizer.headers)
        assert r.json()["name"] == "朱国强" and r.json()["masked"] is False

    async def test_viewer_sees_it_masked(self, client: httpx.AsyncClient, staff: Staff, two_households: tuple[int, int]) -> None:
        r = await client.get(f"/api/households/{two_households[0]}", headers=staff.viewer.headers)
        assert r.json()["name"] == "朱**" and r.json()["masked"] is True

    async def test_without_token_is_401(self, client: httpx.AsyncClient, two_households: tuple[int, int]) -> None:
        assert_problem(await client.get(f"/api/households/{two_households[0]}"), 401)

    async def test_unknown_id_is_404(self, client: httpx.AsyncClient, staff: Staff) -> None:
        assert_problem(await client.get(f"/api/households/{UNKNOWN_ID}", headers=staff.admin.headers), 404)


class TestCreateAnchor:
    def body(self, county_id: int | None) -> dict[str, Any]:
        return {"name": "黄建华", "title": "佛冈县县长", "county_id": county_id}

    @pytest.mark.parametrize("who", ["admin", "organizer"])
    async def test_admin_or_county_organizer_adds_an_anchor(self, client: httpx.AsyncClient, staff: Staff, who: str) -> None:
        r = await client.post("/api/anchors", json=self.body(staff.county_id), headers=getattr(staff, who).headers)
        assert r.status_code == 201, r.text
        assert (await client.get(f"/api/anchors/{r.json()['id']}")).json() == r.json()

    async def test_without_token_is_401(self, client: httpx.AsyncClient, staff: Staff) -> None:
        assert_problem(await client.post("/api/anchors", json=self.body(staff.county_id)), 401)

    @pytest.mark.parametrize("who", ["outsider", "cadre", "viewer"])
    async def test_outsider_cadre_or_viewer_is_403(self, client: httpx.AsyncClient, staff: Staff, who: str) -> None:
        r = await client.post("/api/anchors", json=self.body(staff.county_id), headers=getattr(staff, who).headers)
        assert_problem(r, 403)

    async def test_unknown_county_and_missing_title_are_422(self, client: httpx.AsyncClient, staff: Staff) -> None:
        r = await client.post("/api/anchors", json=self.body(UNKNOWN_ID), headers=staff.admin.headers)
        assert error_fields(r) == {"county_id"}
        r = await client.post("/api/anchors", json={"name": "x", "county_id": staff.county_id}, headers=staff.admin.headers)
        assert error_fields(r) == {"title"}


class TestListAnchors:
    async def test_filters_by_county_and_pages(self, client: httpx.AsyncClient, make: Factory, staff: Staff) -> None:
        ids = [(await make.anchor(staff.county_id)).id for _ in range(3)]
        await make.anchor((await make.county()).id)
        first = (await client.get("/api/anchors", params={"county_id": staff.county_id, "limit": 3})).json()
        # The staff fixture's cadre already hosts as an anchor of this county.
        assert [a["id"] for a in first["items"]][1:] == ids[:2]
        rest = (await client.get("/api/anchors", params={"county_id": staff.county_id, "cursor": first["next_cursor"]})).json()
        assert [a["id"] for a in rest["items"]] == ids[2:]


class TestGetAnchor:
    async def test_unknown_id_is_404(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.get(f"/api/anchors/{UNKNOWN_ID}"), 404)


@pytest.fixture
async def parties(make: Factory, staff: Staff) -> dict[str, str]:
    """Split parties in the staff's county, and a household of another county."""
    household = await make.household(staff.county_id)
    station = await make.station(staff.county_id)
    elsewhere = await make.household((await make.county()).id)
    return {
        "household": f"household:{household.id}",
        "station": f"station:{station.id}",
        "county": f"county:{staff.county_id}",
        "elsewhere": f"household:{elsewhere.id}",
    }


def product_body(county_id: int | None, splits: list[tuple[str, int]], **extra: Any) -> dict[str, Any]:
    return {
        "name": "广生源鸡蛋",
        "county_id": county_id,
        "unit": "盒(30枚)",
        "price_fen": 4990,
        "stock": 600,
        "splits": [{"party": p, "bp": bp} for p, bp in splits],
        **extra,
    }


class TestCreateProduct:
    def good(self, staff: Staff, parties: dict[str, str]) -> dict[str, Any]:
        splits = [(parties["household"], 7000), (parties["station"], 1000), (parties["county"], 1000), ("platform", 1000)]
        return product_body(staff.county_id, splits)

    @pytest.mark.parametrize("who", ["admin", "organizer"])
    async def test_admin_or_county_organizer_adds_a_product_with_splits(
        self, client: httpx.AsyncClient, staff: Staff, parties: dict[str, str], who: str
    ) -> None:
        body = self.good(staff, parties)
        r = await client.post("/api/products", json=body, headers=getattr(staff, who).headers)
        assert r.status_code == 201, r.text
        product = r.json()
        assert (product["stock"], product["reserved"], product["sold"]) == (600, 0, 0)
        assert product["splits"] == body["splits"]
        assert (await client.get(f"/api/products/{product['id']}")).json()["splits"] == body["splits"]

    async def test_without_token_is_401(self, client: httpx.AsyncClient, staff: Staff, parties: dict[str, str]) -> None:
        assert_problem(await client.post("/api/products", json=self.good(staff, parties)), 401)

    @pytest.mark.parametrize("who", ["outsider", "cadre", "viewer"])
    async def test_outsider_cadre_or_viewer_is_403(
        self, client: httpx.AsyncClient, staff: Staff, parties: dict[str, str], who: str
    ) -> None:
        r = await client.post("/api/products", json=self.good(staff, parties), headers=getattr(staff, who).headers)
        assert_problem(r, 403)

    @pytest.mark.parametrize("bps", [(7000, 1000, 1000, 999), (7000, 1000, 1000, 1001), (5000, 1000, 1000, 1000)])
    async def test_splits_not_summing_to_10000_are_422(
        self, client: httpx.AsyncClient, staff: Staff, parties: dict[str, str], bps: tuple[int, ...]
    ) -> None:
        splits = list(zip([parties["household"], parties["station"], parties["county"], "platform"], bps, strict=True))
        r = await client.post("/api/products", json=product_body(staff.county_id, splits), headers=staff.admin.headers)
        body = assert_problem(r, 422)
        assert {e["field"] for e in body["errors"]} == {"splits"}
        assert "10000" in body["errors"][0]["message"]

    async def test_a_party_named_twice_is_422(self, client: httpx.AsyncClient, staff: Staff, parties: dict[str, str]) -> None:
        splits = [(parties["household"], 5000), (parties["household"], 4000), ("platform", 1000)]
        r = await client.post("/api/products", json=product_body(staff.county_id, splits), headers=staff.admin.headers)
        assert error_fields(r) == {"splits"}

    @pytest.mark.parametrize("party", ["household:999999", "station:999999", "county:999999"])
    async def test_unknown_party_is_422(self, client: httpx.AsyncClient, staff: Staff, party: str) -> None:
        r = await client.post(
            "/api/products", json=product_body(staff.county_id, [(party, 9000), ("platform", 1000)]), headers=staff.admin.headers
        )
        body = assert_problem(r, 422)
        assert party in body["detail"]

    async def test_party_of_another_county_is_422(self, client: httpx.AsyncClient, staff: Staff, parties: dict[str, str]) -> None:
        splits = [(parties["elsewhere"], 9000), ("platform", 1000)]
        r = await client.post("/api/products", json=product_body(staff.county_id, splits), headers=staff.organizer.headers)
        body = assert_problem(r, 422)
        assert "outside the product's county" in body["detail"]

    @pytest.mark.parametrize(
        "split",
        [
            {"party": "farmer:1", "bp": 10000},
            {"party": "household:0", "bp": 10000},
            {"party": f"household:{2**31}", "bp": 10000},
            {"party": "platform", "bp": 0},
            {"party": "platform", "bp": 10001},
            {"party": "platform", "bp": 100.5},
        ],
    )
    async def test_malformed_split_is_422(self, client: httpx.AsyncClient, staff: Staff, split: dict[str, Any]) -> None:
        body = {**product_body(staff.county_id, []), "splits": [split]}
        r = await client.post("/api/products", json=body, headers=staff.admin.headers)
        assert any(f.startswith("splits") for f in error_fields(r))

    async def test_empty_splits_zero_price_and_negative_stock_are_422(self, client: httpx.AsyncClient, staff: Staff) -> None:
        body = product_body(staff.county_id, [], price_fen=0, stock=-1)
        r = await client.post("/api/products", json=body, headers=staff.admin.headers)
        assert error_fields(r) == {"splits", "price_fen", "stock"}

    async def test_price_as_a_float_is_422(self, client: httpx.AsyncClient, staff: Staff) -> None:
        body = product_body(staff.county_id, [("platform", 10000)], price_fen=49.9)
        r = await client.post("/api/products", json=body, headers=staff.admin.headers)
        assert error_fields(r) == {"price_fen"}

    async def test_unknown_county_is_422(self, client: httpx.AsyncClient, staff: Staff) -> None:
        r = await client.post("/api/products", json=product_body(UNKNOWN_ID, [("platform", 10000)]), headers=staff.admin.headers)
        assert error_fields(r) == {"county_id"}


class TestGetProduct:
    async def test_shows_stock_reserved_and_sold(self, client: httpx.AsyncClient, make: Factory, staff: Staff) -> None:
        product = await make.product(staff.county_id, stock=42)
        r = await client.get(f"/api/products/{product.id}")
        assert r.status_code == 200
        assert (r.json()["stock"], r.json()["reserved"], r.json()["sold"]) == (42, 0, 0)
        assert sum(s["bp"] for s in r.json()["splits"]) == 10000

    async def test_unknown_id_is_404(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.get(f"/api/products/{UNKNOWN_ID}"), 404)


class TestListProducts:
    async def test_filters_by_county_and_pages(self, client: httpx.AsyncClient, make: Factory, staff: Staff) -> None:
        ids = [(await make.product(staff.county_id)).id for _ in range(3)]
        await make.product((await make.county()).id)
        first = (await client.get("/api/products", params={"county_id": staff.county_id, "limit": 2})).json()
        rest = (await client.get("/api/products", params={"county_id": staff.county_id, "cursor": first["next_cursor"]})).json()
        assert [p["id"] for p in first["items"] + rest["items"]] == ids
        assert all(len(p["splits"]) == 3 for p in first["items"])
        assert rest["next_cursor"] is None


class TestUpdateProduct:
    @pytest.fixture
    async def product_id(self, make: Factory, staff: Staff) -> int:
        product = await make.product(staff.county_id, price_fen=4990, stock=100)
        assert product.id is not None
        return product.id

    @pytest.mark.parametrize("who", ["admin", "organizer"])
    async def test_county_staff_change_price_and_stock(self, client: httpx.AsyncClient, staff: Staff, product_id: int, who: str) -> None:
        r = await client.patch(f"/api/products/{product_id}", json={"price_fen": 3990, "stock": 250}, headers=getattr(staff, who).headers)
        assert r.status_code == 200, r.text
        fetched = (await client.get(f"/api/products/{product_id}")).json()
        assert (fetched["price_fen"], fetched["stock"]) == (3990, 250)
        assert fetched["name"] == r.json()["name"]

    async def test_replaces_the_splits(self, client: httpx.AsyncClient, staff: Staff, parties: dict[str, str], product_id: int) -> None:
        splits = [{"party": parties["station"], "bp": 2500}, {"party": "platform", "bp": 7500}]
        r = await client.patch(f"/api/products/{product_id}", json={"splits": splits}, headers=staff.organizer.headers)
        assert r.status_code == 200, r.text
        assert (await client.get(f"/api/products/{product_id}")).json()["splits"] == splits

    async def test_clears_the_image_but_keeps_the_rest(self, client: httpx.AsyncClient, staff: Staff, product_id: int) -> None:
        await client.patch(f"/api/products/{product_id}", json={"image_url": "https://example.org/egg.jpg"}, headers=staff.admin.headers)
        r = await client.patch(f"/api/products/{product_id}", json={"image_url": None}, headers=staff.admin.headers)
        assert r.status_code == 200
        assert r.json()["image_url"] is None and r.json()["price_fen"] == 4990

    async def test_without_token_is_401(self, client: httpx.AsyncClient, product_id: int) -> None:
        assert_problem(await client.patch(f"/api/products/{product_id}", json={"price_fen": 1}), 401)

    @pytest.mark.parametrize("who", ["outsider", "cadre", "viewer"])
    async def test_outsider_cadre_or_viewer_is_403(self, client: httpx.AsyncClient, staff: Staff, product_id: int, who: str) -> None:
        r = await client.patch(f"/api/products/{product_id}", json={"price_fen": 1}, headers=getattr(staff, who).headers)
        assert_problem(r, 403)
        assert (await client.get(f"/api/products/{product_id}")).json()["price_fen"] == 4990

    async def test_unknown_id_is_404(self, client: httpx.AsyncClient, staff: Staff) -> None:
        assert_problem(await client.patch(f"/api/products/{UNKNOWN_ID}", json={"price_fen": 1}, headers=staff.admin.headers), 404)

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"price_fen": None},
            {"name": None},
            {"stock": None},
            {"description": None},
            {"splits": None},
            {"stock": -5},
            {"splits": [{"party": "platform", "bp": 9999}]},
            {"county_id": 1},
        ],
    )
    async def test_invalid_change_is_422_and_changes_nothing(
        self, client: httpx.AsyncClient, staff: Staff, product_id: int, body: dict[str, Any]
    ) -> None:
        before = (await client.get(f"/api/products/{product_id}")).json()
        assert_problem(await client.patch(f"/api/products/{product_id}", json=body, headers=staff.admin.headers), 422)
        assert (await client.get(f"/api/products/{product_id}")).json() == before

    async def test_unknown_or_foreign_party_in_new_splits_is_422(
        self, client: httpx.AsyncClient, staff: Staff, parties: dict[str, str], product_id: int
    ) -> None:
        for party in ("household:999999", parties["elsewhere"]):
            splits = [{"party": party, "bp": 5000}, {"party": "platform", "bp": 5000}]
            r = await client.patch(f"/api/products/{product_id}", json={"splits": splits}, headers=staff.admin.headers)
            assert error_fields(r) == {"splits"}
        assert len((await client.get(f"/api/products/{product_id}")).json()["splits"]) == 3


class TestUpdateHousehold:
    async def test_corrects_a_household_and_audits_field_names_only(self, client: httpx.AsyncClient, make: Factory) -> None:

        county = await make.county()
        household = await make.household(county.id, name="陈大福", village="Shiling")
        organizer = Principal(id=1, username="o", role=Role.organizer, display_name="O", county_ids=frozenset({county.id}))  # type: ignore[arg-type]
        async with make.db.transaction() as session:
            await service.update_household(
                session, organizer, household.id, HouseholdChange(name="陈大福", village="Tangtang", monitored=True), utcnow()
            )  # type: ignore[arg-type]
        admin = await make.user(Role.admin)
        r = await client.get(f"/api/households/{household.id}", headers=admin.headers)
        assert r.json()["village"] == "Tangtang" and r.json()["monitored"] is True
        entries = [
            e
            for e in (await client.get("/api/audit?limit=200", headers=admin.headers)).json()["items"]
            if e["action"] == "household.updated"
        ]
        assert len(entries) == 1
        assert "陈大福" not in str(entries[0]) and "Tangtang" not in str(entries[0])

    async def test_an_organizer_of_another_county_is_refused(self, make: Factory) -> None:

        county, other = await make.county(), await make.county()
        household = await make.household(county.id)
        outsider = Principal(id=1, username="o", role=Role.organizer, display_name="O", county_ids=frozenset({other.id}))  # type: ignore[arg-type]
        with pytest.raises(Forbidden):
            async with make.db.transaction() as session:
                await service.update_household(session, outsider, household.id, HouseholdChange(name="x", village="y"), utcnow())  # type: ignore[arg-type]
