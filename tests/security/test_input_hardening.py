"""Hostile input gets a 4xx problem, never a 5xx: NUL characters, oversized bodies, odd tokens."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from livecommerce.kit.principal import Role
from livecommerce.kit.security import spreadsheet_safe
from livecommerce.kit.settings import Settings
from livecommerce.ledger.schemas import CountySales, HouseholdCredit, StreamReport
from livecommerce.ledger.sheets import stream_report_csv
from tests.factories import Factory


class TestNulCharacters:
    async def test_nul_in_a_registration_is_refused_with_4xx(self, client: httpx.AsyncClient) -> None:
        body = {"username": "nul_user", "password": "long enough pass", "display_name": "李\u0000华"}
        r = await client.post("/api/auth/register", json=body)
        # SQLite stores the character, PostgreSQL cannot: either way the answer is not a 5xx.
        assert r.status_code in (201, 422), r.text

    async def test_nul_in_a_household_name_is_refused_with_4xx(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        county = await make.county()
        body = {"county_id": county.id, "name": "\u0000", "village": "Shiling", "registration_no": "4418"}
        r = await client.post("/api/households", json=body, headers=admin.headers)
        assert r.status_code in (201, 422), r.text
        assert (await client.get("/healthz")).status_code == 200


class TestScheduleFeedToken:
    async def test_non_ascii_feed_token_is_refused_not_a_crash(self, client: httpx.AsyncClient, make: Factory) -> None:
        county = await make.county()
        anchor = await make.anchor(county.id)
        r = await client.get(f"/api/anchors/{anchor.id}/schedule.ics", params={"token": "日历令牌"})
        assert r.status_code == 401, r.text


class TestBodySizeLimit:
    async def test_declared_oversized_body_is_413_problem(self, client: httpx.AsyncClient, settings: Settings) -> None:
        r = await client.post(
            "/api/auth/register", content=b"x" * (settings.max_body_bytes + 1), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 413
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == 413

    async def test_streamed_oversized_body_without_length_is_413(self, client: httpx.AsyncClient, settings: Settings) -> None:
        async def chunks():  # type: ignore[no-untyped-def]
            for _ in range(settings.max_body_bytes // 4096 + 2):
                yield b"y" * 4096

        r = await client.post("/api/auth/register", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413, r.text

    async def test_body_just_under_the_limit_is_read(self, client: httpx.AsyncClient, settings: Settings) -> None:
        padding = "p" * (settings.max_body_bytes - 200)
        r = await client.post(
            "/api/auth/register", json={"username": "fits", "password": "long enough", "display_name": "x", "pad": padding}
        )
        assert r.status_code == 422  # parsed and refused for the unknown field, not for its size
        assert {e["field"] for e in r.json()["errors"]} == {"pad"}

    async def test_non_numeric_content_length_is_413_not_500(self, client: httpx.AsyncClient) -> None:
        r = await client.post("/api/auth/register", content=b"{}", headers={"Content-Type": "application/json", "Content-Length": "abc"})
        assert r.status_code in (400, 413)


def _product_body(county: int, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {"name": "Tea", "county_id": county, "unit": "box", "price_fen": 1990, "stock": 5}
    return {**body, "splits": [{"party": "platform", "bp": 10000}], **overrides}


class TestStrictInput:
    """pydantic's lax mode would read `true` and `"1"` as the integer 1: input models are strict."""

    @pytest.mark.parametrize("field", ["price_fen", "stock", "county_id"])
    @pytest.mark.parametrize("value", [True, "1", 1.5])
    async def test_product_number_of_another_type_is_422(self, client: httpx.AsyncClient, make: Factory, field: str, value: object) -> None:
        admin = await make.user(Role.admin)
        county = await make.county()
        r = await client.post("/api/products", json=_product_body(county.id, **{field: value}), headers=admin.headers)
        assert r.status_code == 422, r.text
        assert field in {e["field"] for e in r.json()["errors"]}

    async def test_split_basis_points_as_text_are_422(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        county = await make.county()
        body = _product_body(county.id, splits=[{"party": "platform", "bp": "10000"}])
        r = await client.post("/api/products", json=body, headers=admin.headers)
        assert r.status_code == 422, r.text

    async def test_a_whole_number_written_with_a_decimal_point_is_that_number(self, client: httpx.AsyncClient, make: Factory) -> None:
        # JSON Schema calls 5.0 an integer; only booleans, text and fractions are refused.
        admin = await make.user(Role.admin)
        county = await make.county()
        r = await client.post("/api/products", json=_product_body(county.id, stock=5.0), headers=admin.headers)
        assert r.status_code == 201, r.text
        assert r.json()["stock"] == 5

    async def test_product_with_proper_types_is_created(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        county = await make.county()
        assert (await client.post("/api/products", json=_product_body(county.id), headers=admin.headers)).status_code == 201

    async def test_household_county_as_text_is_422(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        county = await make.county()
        body = {"county_id": str(county.id), "name": "陈家", "village": "Shiling", "registration_no": "4418"}
        assert (await client.post("/api/households", json=body, headers=admin.headers)).status_code == 422

    async def test_registration_number_as_a_number_is_422(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        county = await make.county()
        body = {"county_id": county.id, "name": "陈家", "village": "Shiling", "registration_no": 441821}
        assert (await client.post("/api/households", json=body, headers=admin.headers)).status_code == 422

    async def test_booking_ids_as_text_are_422(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        r = await client.post("/api/bookings", json={"slot_id": "1", "anchor_ids": [True]}, headers=admin.headers)
        assert r.status_code == 422, r.text
        assert {"slot_id", "anchor_ids.0"} <= {e["field"] for e in r.json()["errors"]}

    async def test_auto_start_as_text_is_422(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        r = await client.post("/api/bookings", json={"slot_id": 1, "anchor_ids": [1], "auto_start": "yes"}, headers=admin.headers)
        assert r.status_code == 422, r.text
        assert "auto_start" in {e["field"] for e in r.json()["errors"]}

    async def test_user_role_by_name_is_still_accepted(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        body = {"username": "cadre_strict", "password": "long enough pass", "role": "cadre", "display_name": "Cadre"}
        r = await client.post("/api/users", json=body, headers=admin.headers)
        assert r.status_code == 201, r.text

    async def test_user_county_ids_as_text_are_422(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        county = await make.county()
        body = {"username": "org_strict", "password": "long enough pass", "role": "organizer", "display_name": "O"}
        r = await client.post("/api/users", json={**body, "county_ids": [str(county.id)]}, headers=admin.headers)
        assert r.status_code == 422, r.text
        r = await client.post("/api/users", json={**body, "county_ids": [county.id]}, headers=admin.headers)
        assert r.status_code == 201, r.text

    async def test_limits_as_text_are_422(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        county = await make.county()
        anchor = await make.anchor(county.id)
        r = await client.put(f"/api/anchors/{anchor.id}/limits", json={"max_broadcasts_per_week": "3"}, headers=admin.headers)
        assert r.status_code == 422, r.text


class TestSpreadsheetFormulas:
    @pytest.mark.parametrize("cell", ["=HYPERLINK(1)", " =1+1", "\t=1", "\u3000=1", "＝SUM(A1)", "＋1", "－1", "＠A1", "  ＠x", "+1", "@x"])
    def test_formula_start_is_neutralised(self, cell: str) -> None:
        assert spreadsheet_safe(cell) == "'" + cell

    @pytest.mark.parametrize("cell", ["陈家茶叶", "Tea = good", "1990", "", "   "])
    def test_plain_text_is_left_alone(self, cell: str) -> None:
        assert spreadsheet_safe(cell) == cell

    def test_stream_report_csv_neutralises_full_width_and_spaced_names(self) -> None:
        county = CountySales(county_id=1, name=" =cmd|' /C calc'!A0", units=0, gross_fen=0, refunded_fen=0, net_fen=0)
        household = HouseholdCredit(
            party="household:1", credited_fen=0, reversed_fen=0, net_fen=0, household_id=1, county_id=1, name="＝1+1", masked=False
        )
        figures = {"gmv_fen": 0, "paid_orders": 0, "refunded_fen": 0, "refunded_orders": 0, "net_fen": 0, "units": 0}
        report = StreamReport(
            stream_id=1, **figures, refunded_units=0, net_units=0, by_product=[], by_county=[county], by_household=[household], by_party=[]
        )
        rows = list(csv.reader(io.StringIO(stream_report_csv(report).decode("utf-8-sig"))))
        names = {row[0]: row[2] for row in rows[1:]}
        assert names["county"].startswith("'") and names["household"].startswith("'")


class TestCursorBounds:
    async def test_largest_id_cursor_is_a_page(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/counties", params={"cursor": "2147483647"})
        assert r.status_code == 200, r.text
        assert r.json()["items"] == []

    @pytest.mark.parametrize("cursor", ["2147483648", "99999999999", "-1", "1e3"])
    async def test_cursor_no_id_can_have_is_422(self, client: httpx.AsyncClient, cursor: str) -> None:
        r = await client.get("/api/counties", params={"cursor": cursor})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")


class TestNulIsRefusedOnEveryBackend:
    async def test_nul_in_a_county_name_is_422_on_sqlite_and_postgresql_alike(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        body = {"name": "连\u0000州", "code": "LZ1", "city": "Qingyuan", "province": "Guangdong"}
        r = await client.post("/api/counties", json=body, headers=admin.headers)
        assert r.status_code == 422, r.text

    async def test_the_schema_says_text_has_no_nul(self, client: httpx.AsyncClient) -> None:
        schema = (await client.get("/openapi.json")).json()
        assert schema["components"]["schemas"]["CountyCreate"]["properties"]["name"]["pattern"] == "^[^\\u0000]*$"
