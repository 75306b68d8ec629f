"""Hostile input gets a 4xx problem, never a 5xx: NUL characters, oversized bodies, odd tokens."""

from __future__ import annotations

import httpx

from livecommerce.kit.principal import Role
from livecommerce.kit.settings import Settings
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
