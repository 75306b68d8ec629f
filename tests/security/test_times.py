"""A time without a UTC offset is refused with 422 everywhere a request carries one (never a 500, never guessed)."""

from __future__ import annotations

import httpx
import pytest

from livecommerce.kit.principal import Role
from livecommerce.kit.types import TIME_RULE
from tests.factories import Factory

NAIVE = ["2026-12-01T00:00:00", "2026-12-01", "2026-12-01 08:00"]


@pytest.fixture
async def admin_headers(make: Factory) -> dict[str, str]:
    return (await make.user(Role.admin)).headers


def _assert_422_on(r: httpx.Response, field: str) -> None:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in r.json()["errors"]}


class TestLedgerTimes:
    @pytest.mark.parametrize("as_of", NAIVE)
    async def test_ledger_check_without_offset_is_422(self, client: httpx.AsyncClient, admin_headers: dict[str, str], as_of: str) -> None:
        _assert_422_on(await client.get("/api/ledger/check", params={"as_of": as_of}, headers=admin_headers), "query.as_of")

    @pytest.mark.parametrize("as_of", NAIVE)
    async def test_account_list_without_offset_is_422(self, client: httpx.AsyncClient, admin_headers: dict[str, str], as_of: str) -> None:
        _assert_422_on(await client.get("/api/ledger/accounts", params={"as_of": as_of}, headers=admin_headers), "query.as_of")

    @pytest.mark.parametrize("as_of", NAIVE)
    async def test_account_balance_without_offset_is_422(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str], as_of: str
    ) -> None:
        r = await client.get("/api/ledger/accounts/platform", params={"as_of": as_of}, headers=admin_headers)
        _assert_422_on(r, "query.as_of")

    @pytest.mark.parametrize("name", ["since", "until"])
    async def test_entries_window_without_offset_is_422(self, client: httpx.AsyncClient, admin_headers: dict[str, str], name: str) -> None:
        r = await client.get("/api/ledger/accounts/platform/entries", params={name: "2026-12-01T00:00:00"}, headers=admin_headers)
        _assert_422_on(r, f"query.{name}")

    @pytest.mark.parametrize("as_of", ["2026-12-01T00:00:00+08:00", "2026-12-01T00:00:00Z"])
    async def test_ledger_check_with_offset_is_answered(self, client: httpx.AsyncClient, admin_headers: dict[str, str], as_of: str) -> None:
        r = await client.get("/api/ledger/check", params={"as_of": as_of}, headers=admin_headers)
        assert r.status_code == 200, r.text
        assert r.json()["balanced"] is True


class TestSchedulingTimes:
    async def test_slot_without_offset_is_422(self, client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
        studio = (await client.post("/api/studios", json={"name": "Hall", "platform": "douyin"}, headers=admin_headers)).json()
        body = {"studio_id": studio["id"], "starts_at": "2027-01-05T20:00:00", "ends_at": "2027-01-05T21:00:00+08:00"}
        _assert_422_on(await client.post("/api/slots", json=body, headers=admin_headers), "starts_at")

    async def test_slot_listing_window_without_offset_is_422(self, client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
        _assert_422_on(await client.get("/api/slots", params={"from": "2027-01-05"}, headers=admin_headers), "query.from")


class TestTheRuleIsDocumented:
    async def test_openapi_description_states_the_rule(self, client: httpx.AsyncClient) -> None:
        schema = (await client.get("/openapi.json")).json()
        assert TIME_RULE in schema["info"]["description"]
        assert "422" in TIME_RULE
