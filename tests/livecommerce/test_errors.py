"""Every error the framework or the app produces is RFC 9457 problem+json, and bad input is never a 5xx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from livecommerce.kit.principal import Role
from livecommerce.kit.settings import Settings
from livecommerce.main.app import create_app
from tests import factories
from tests.factories import Factory


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status; returns its body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers["content-type"]
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert body["type"].startswith("/problems/")
    assert body["title"] and body["detail"]
    return body


@pytest.fixture
async def admin(make: Factory) -> factories.TestUser:
    return await make.user(Role.admin)


class TestFrameworkErrors:
    async def test_unknown_route_is_404(self, client: httpx.AsyncClient) -> None:
        assert assert_problem(await client.get("/api/no-such-thing"), 404)["type"] == "/problems/not-found"

    async def test_wrong_method_is_405_with_allow_header(self, client: httpx.AsyncClient) -> None:
        r = await client.delete("/api/counties")
        assert_problem(r, 405)
        assert set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}

    async def test_malformed_json_is_422_naming_the_body(self, client: httpx.AsyncClient, admin: factories.TestUser) -> None:
        headers = {**admin.headers, "content-type": "application/json"}
        body = assert_problem(await client.post("/api/counties", content=b'{"name": "x",', headers=headers), 422)
        assert [e["field"] for e in body["errors"]] == ["body"]
        assert body["errors"][0]["type"] == "json_invalid"

    @pytest.mark.parametrize(
        ("content_type", "content"),
        [("text/plain", b'{"name": "x"}'), ("application/x-www-form-urlencoded", b"name=x&code=y"), ("application/xml", b"<county/>")],
    )
    async def test_wrong_content_type_is_422(
        self, client: httpx.AsyncClient, admin: factories.TestUser, content_type: str, content: bytes
    ) -> None:
        r = await client.post("/api/counties", content=content, headers={**admin.headers, "content-type": content_type})
        assert assert_problem(r, 422)["errors"]

    async def test_json_array_instead_of_object_is_422(self, client: httpx.AsyncClient, admin: factories.TestUser) -> None:
        assert_problem(await client.post("/api/counties", json=[1, 2], headers=admin.headers), 422)

    async def test_empty_body_is_422(self, client: httpx.AsyncClient, admin: factories.TestUser) -> None:
        assert_problem(await client.post("/api/counties", headers=admin.headers), 422)

    async def test_missing_token_is_401_with_www_authenticate(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/me")
        assert_problem(r, 401)
        assert r.headers["www-authenticate"] == "Bearer"

    async def test_non_bearer_authorization_is_401(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.get("/api/me", headers={"Authorization": "Basic YWRtaW46YWRtaW4="}), 401)


class TestOutOfRangeNumbers:
    """A number too wide for the database is refused as bad input on both backends (not a 500)."""

    @pytest.mark.parametrize("value", [2**31, 10**20])
    async def test_huge_path_id_is_422(self, client: httpx.AsyncClient, value: int) -> None:
        for path in ("/api/counties", "/api/anchors", "/api/products", "/api/stations"):
            assert_problem(await client.get(f"{path}/{value}"), 422)

    @pytest.mark.parametrize("value", [2**31, 10**20])
    async def test_huge_id_in_a_body_is_422(self, client: httpx.AsyncClient, admin: factories.TestUser, value: int) -> None:
        r = await client.post("/api/stations", json={"county_id": value, "name": "x", "village": "y"}, headers=admin.headers)
        assert {e["field"] for e in assert_problem(r, 422)["errors"]} == {"county_id"}

    @pytest.mark.parametrize("cursor", [str(2**31), "9" * 30, "١٢"])
    async def test_huge_or_non_ascii_cursor_is_422(self, client: httpx.AsyncClient, cursor: str) -> None:
        assert_problem(await client.get("/api/products", params={"cursor": cursor}), 422)


@pytest.fixture
async def app_with_faults(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app plus routes that fail the way an unguarded endpoint would."""
    app = create_app(settings, migrate=False)

    async def bug() -> None:
        raise RuntimeError("a bug")

    async def unguarded_lookup(value: int) -> None:
        from sqlalchemy import text

        async with app.state.db.transaction() as session:
            await session.execute(text("SELECT id FROM counties WHERE id = :v"), {"v": value})

    app.add_api_route("/test/bug", bug)
    app.add_api_route("/test/lookup/{value}", unguarded_lookup)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


class TestSafetyNets:
    async def test_unhandled_exception_is_a_500_problem(self, app_with_faults: httpx.AsyncClient) -> None:
        body = assert_problem(await app_with_faults.get("/test/bug"), 500)
        assert "a bug" not in body["detail"]

    async def test_number_the_driver_cannot_bind_is_422_even_where_unvalidated(
        self, app_with_faults: httpx.AsyncClient, settings: Settings
    ) -> None:
        # PostgreSQL's int4 parameters overflow past 2**31; SQLite's integers past 2**63.
        too_wide = 10**20 if settings.is_sqlite else 2**40
        body = assert_problem(await app_with_faults.get(f"/test/lookup/{too_wide}"), 422)
        assert body["detail"] == "A number in the request is out of range."
        assert (await app_with_faults.get("/test/lookup/7")).status_code == 200


class _DriverError(Exception):
    """A driver error carrying a SQLSTATE the way asyncpg's and psycopg's do."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"driver error {sqlstate}")
        self.sqlstate = sqlstate


@pytest.fixture
async def app_with_contention(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app plus a route that fails with a given SQLSTATE, as the driver reports it."""
    from sqlalchemy.exc import DBAPIError

    app = create_app(settings, migrate=False)

    async def contended(sqlstate: str) -> None:
        raise DBAPIError("UPDATE products ...", {}, _DriverError(sqlstate))

    app.add_api_route("/test/contended/{sqlstate}", contended)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


class TestTransientDatabaseFailures:
    @pytest.mark.parametrize("sqlstate", ["40001", "40P01", "55P03", "57014"])
    async def test_serialization_deadlock_and_timeouts_are_503_to_retry(
        self, app_with_contention: httpx.AsyncClient, sqlstate: str
    ) -> None:
        r = await app_with_contention.get(f"/test/contended/{sqlstate}")
        assert_problem(r, 503)
        assert r.headers["retry-after"] == "1"

    async def test_other_database_errors_stay_500(self, app_with_contention: httpx.AsyncClient) -> None:
        assert_problem(await app_with_contention.get("/test/contended/42P01"), 500)
