"""Cached principals: no query per request for a known token, and a revocation still takes effect at once on every instance."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from livecommerce.accounts.security import create_access_token
from livecommerce.kit.clock import utcnow
from livecommerce.kit.principal import Role
from livecommerce.kit.settings import Settings
from livecommerce.main.app import create_app
from tests.conftest import REDIS_URL
from tests.factories import Factory


@pytest.fixture
async def two_instances(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, object, object]]:
    """Two app instances on one database and one Redis, as at scale."""
    shared = settings.model_copy(update={"redis_url": REDIS_URL})
    apps = [create_app(shared, migrate=False), create_app(shared, migrate=False)]
    async with apps[0].router.lifespan_context(apps[0]), apps[1].router.lifespan_context(apps[1]):
        for app in apps:
            deadline = time.monotonic() + 5
            while not app.state.notices.healthy and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") for app in apps]
        try:
            yield clients[0], clients[1], apps[0], apps[1]
        finally:
            for c in clients:
                await c.aclose()


async def until_status(client: httpx.AsyncClient, headers: dict[str, str], status: int, within: float = 2.0) -> int:
    deadline = time.monotonic() + within
    while True:
        code = (await client.get("/api/me", headers=headers)).status_code
        if code == status or time.monotonic() > deadline:
            return code
        await asyncio.sleep(0.02)


class TestCachedPrincipals:
    async def test_a_known_token_is_answered_without_reading_the_user_again(
        self, client: httpx.AsyncClient, make: Factory, app: object
    ) -> None:
        user = await make.user(Role.viewer)
        principals = app.state.principals  # type: ignore[attr-defined]
        assert (await client.get("/api/me", headers=user.headers)).status_code == 200
        loads = principals.loads
        for _ in range(5):
            assert (await client.get("/api/me", headers=user.headers)).status_code == 200
        assert principals.loads == loads

    async def test_a_password_change_makes_old_tokens_401_at_once(self, client: httpx.AsyncClient, make: Factory) -> None:
        user = await make.user(Role.viewer)
        assert (await client.get("/api/me", headers=user.headers)).status_code == 200
        r = await client.post(
            "/api/auth/password",
            json={"current_password": "correct horse battery", "new_password": "second-password-2"},
            headers=user.headers,
        )
        assert r.status_code == 200, r.text
        assert (await client.get("/api/me", headers=user.headers)).status_code == 401
        fresh = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert (await client.get("/api/me", headers=fresh)).status_code == 200


class TestAcrossInstances:
    async def test_deactivation_on_one_instance_is_401_on_the_other(
        self, two_instances: tuple[httpx.AsyncClient, httpx.AsyncClient, object, object], make: Factory
    ) -> None:
        a, b, _, app_b = two_instances
        user = await make.user(Role.viewer)
        admin = await make.user(Role.admin)
        assert (await b.get("/api/me", headers=user.headers)).status_code == 200  # now cached on B
        loads = app_b.state.principals.loads  # type: ignore[attr-defined]
        assert (await b.get("/api/me", headers=user.headers)).status_code == 200
        assert app_b.state.principals.loads == loads  # type: ignore[attr-defined]  # answered from B's cache
        assert (await a.patch(f"/api/users/{user.id}", json={"is_active": False}, headers=admin.headers)).status_code == 200
        assert await until_status(b, user.headers, 401) == 401

    async def test_an_instance_that_cannot_hear_notices_does_not_trust_its_cache(
        self, two_instances: tuple[httpx.AsyncClient, httpx.AsyncClient, object, object], make: Factory
    ) -> None:
        _, b, _, app_b = two_instances
        user = await make.user(Role.viewer)
        assert (await b.get("/api/me", headers=user.headers)).status_code == 200
        app_b.state.notices.healthy = False  # type: ignore[attr-defined]  # as while its subscriber reconnects
        loads = app_b.state.principals.loads  # type: ignore[attr-defined]
        assert (await b.get("/api/me", headers=user.headers)).status_code == 200
        assert app_b.state.principals.loads == loads + 1  # type: ignore[attr-defined]


class TestCheckedSignatures:
    async def test_a_token_checked_once_is_still_refused_once_it_expires(
        self, client: httpx.AsyncClient, make: Factory, settings: Settings
    ) -> None:
        user = await make.user(Role.viewer)
        token = create_access_token(user_id=user.id, token_version=0, secret=settings.secret_key, now=utcnow(), ttl_seconds=2)
        headers = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/api/me", headers=headers)).status_code == 200  # signature checked and remembered
        await asyncio.sleep(2.2)
        response = await client.get("/api/me", headers=headers)
        assert response.status_code == 401 and "expired" in response.json()["detail"]

    async def test_a_remembered_signature_does_not_outlive_a_sign_out(self, client: httpx.AsyncClient, make: Factory) -> None:
        user = await make.user(Role.viewer)
        assert (await client.get("/api/me", headers=user.headers)).status_code == 200
        assert (await client.post("/api/auth/logout", headers=user.headers)).status_code == 204
        assert (await client.get("/api/me", headers=user.headers)).status_code == 401
