"""Sign-in, registration and the admin bootstrap."""

from __future__ import annotations

import httpx

from livecommerce.accounts.models import Role
from tests.factories import Factory


class TestSignIn:
    async def test_register_then_sign_in_returns_bearer_token(self, client: httpx.AsyncClient) -> None:
        r = await client.post("/api/auth/register", json={"username": "lihua", "password": "s3cret-pass", "display_name": "李华"})
        assert r.status_code == 201, r.text
        assert r.json()["role"] == "viewer"
        r = await client.post("/api/auth/token", data={"username": "lihua", "password": "s3cret-pass"})
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        assert r.json()["token_type"] == "bearer"
        me = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["username"] == "lihua"

    async def test_wrong_password_is_401_problem(self, client: httpx.AsyncClient, make: Factory) -> None:
        user = await make.user(Role.viewer)
        r = await client.post("/api/auth/token", data={"username": user.username, "password": "nope-nope"})
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == 401

    async def test_duplicate_username_is_409(self, client: httpx.AsyncClient) -> None:
        body = {"username": "dup", "password": "s3cret-pass", "display_name": "D"}
        assert (await client.post("/api/auth/register", json=body)).status_code == 201
        r = await client.post("/api/auth/register", json=body)
        assert r.status_code == 409
        assert r.json()["type"].endswith("conflict")

    async def test_validation_error_is_problem_json_with_errors(self, client: httpx.AsyncClient) -> None:
        r = await client.post("/api/auth/register", json={"username": "x"})
        assert r.status_code == 422
        body = r.json()
        assert r.headers["content-type"].startswith("application/problem+json")
        assert {e["field"] for e in body["errors"]} >= {"username", "password", "display_name"}
