"""Sign-in, registration, bearer tokens, user administration and the admin bootstrap."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, update
from sqlmodel import col, select

from livecommerce.accounts.models import User, UserCounty
from livecommerce.accounts.security import create_access_token
from livecommerce.audit.models import AuditRecord
from livecommerce.kit.auth import OptionalUser
from livecommerce.kit.clock import utcnow
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from livecommerce.kit.settings import DEFAULT_RATE_LIMITS, Settings
from livecommerce.main.app import create_app
from tests.factories import Factory


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status; returns its body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["type"] and body["title"] and body["detail"]
    return body


async def sign_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/api/auth/token", data={"username": username, "password": password})


class TestSignIn:
    async def test_register_then_sign_in_returns_bearer_token(self, client: httpx.AsyncClient) -> None:
        r = await client.post("/api/auth/register", json={"username": "lihua", "password": "s3cret-pass", "display_name": "李华"})
        assert r.status_code == 201, r.text
        assert r.json()["role"] == "viewer"
        r = await sign_in(client, "lihua", "s3cret-pass")
        assert r.status_code == 200, r.text
        assert r.json()["token_type"] == "bearer"
        me = await client.get("/api/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
        assert me.json()["username"] == "lihua"

    async def test_wrong_password_is_401_problem(self, client: httpx.AsyncClient, make: Factory) -> None:
        user = await make.user(Role.viewer)
        assert_problem(await sign_in(client, user.username, "nope-nope"), 401)

    async def test_unknown_user_gets_the_same_answer_as_a_wrong_password(self, client: httpx.AsyncClient, make: Factory) -> None:
        user = await make.user(Role.viewer)
        wrong_password = assert_problem(await sign_in(client, user.username, "nope-nope"), 401)
        unknown_user = assert_problem(await sign_in(client, "nobody-here", "nope-nope"), 401)
        assert wrong_password == unknown_user

    async def test_inactive_user_cannot_sign_in(self, client: httpx.AsyncClient, make: Factory, db: Database) -> None:
        user = await make.user(Role.organizer)
        async with db.transaction() as session:
            await session.execute(update(User).where(col(User.id) == user.id).values(is_active=False))
        assert_problem(await sign_in(client, user.username, "correct horse battery"), 401)

    async def test_missing_form_fields_are_422(self, client: httpx.AsyncClient) -> None:
        body = assert_problem(await client.post("/api/auth/token", data={"username": "x"}), 422)
        assert {e["field"] for e in body["errors"]} == {"password"}


class TestRegister:
    async def test_duplicate_username_is_409(self, client: httpx.AsyncClient) -> None:
        body = {"username": "dup", "password": "s3cret-pass", "display_name": "D"}
        assert (await client.post("/api/auth/register", json=body)).status_code == 201
        assert assert_problem(await client.post("/api/auth/register", json=body), 409)["type"].endswith("conflict")

    async def test_validation_error_is_problem_json_with_errors(self, client: httpx.AsyncClient) -> None:
        body = assert_problem(await client.post("/api/auth/register", json={"username": "x"}), 422)
        assert {e["field"] for e in body["errors"]} >= {"username", "password", "display_name"}

    async def test_cannot_choose_a_role(self, client: httpx.AsyncClient) -> None:
        body = {"username": "sneaky", "password": "s3cret-pass", "display_name": "S", "role": "admin"}
        assert {e["field"] for e in assert_problem(await client.post("/api/auth/register", json=body), 422)["errors"]} == {"role"}


class TestCreateUser:
    async def test_admin_creates_an_organizer_who_can_sign_in(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        fogang, yingde = await make.county(), await make.county()
        body = {
            "username": "organizer_north",
            "password": "long enough",
            "role": "organizer",
            "display_name": "专班",
            "county_ids": [yingde.id, fogang.id, yingde.id],
        }
        r = await client.post("/api/users", json=body, headers=admin.headers)
        assert r.status_code == 201, r.text
        assert r.json()["role"] == "organizer"
        assert r.json()["county_ids"] == sorted([fogang.id, yingde.id])
        assert "password" not in r.json() and "password_hash" not in r.json()
        assert (await sign_in(client, "organizer_north", "long enough")).status_code == 200

    async def test_admin_creates_a_cadre_linked_to_an_anchor(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        county = await make.county()
        anchor = await make.anchor(county.id)
        body = {"username": "cadre_zhou", "password": "long enough", "role": "cadre", "display_name": "周", "anchor_id": anchor.id}
        r = await client.post("/api/users", json={**body, "county_ids": [county.id]}, headers=admin.headers)
        assert r.status_code == 201, r.text
        assert r.json()["anchor_id"] == anchor.id

    async def test_without_token_is_401(self, client: httpx.AsyncClient) -> None:
        body = {"username": "someone", "password": "long enough", "role": "admin", "display_name": "x"}
        assert_problem(await client.post("/api/users", json=body), 401)

    @pytest.mark.parametrize("role", [Role.organizer, Role.cadre, Role.viewer])
    async def test_non_admin_is_403(self, client: httpx.AsyncClient, make: Factory, role: Role) -> None:
        caller = await make.user(role)
        body = {"username": "someone", "password": "long enough", "role": "admin", "display_name": "x"}
        assert_problem(await client.post("/api/users", json=body, headers=caller.headers), 403)
        assert (await sign_in(client, "someone", "long enough")).status_code == 401

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"role": "superuser"}, "role"),
            ({"password": "short"}, "password"),
            ({"username": "has space"}, "username"),
            ({"county_ids": [999_999]}, "county_ids"),
            ({"county_ids": [0]}, "county_ids.0"),
            ({"anchor_id": 999_999}, "anchor_id"),
            ({"anchor_id": 2**31}, "anchor_id"),
        ],
    )
    async def test_invalid_user_is_422(self, client: httpx.AsyncClient, make: Factory, change: dict[str, Any], field: str) -> None:
        admin = await make.user(Role.admin)
        body = {"username": "someone", "password": "long enough", "role": "organizer", "display_name": "x", **change}
        problem = assert_problem(await client.post("/api/users", json=body, headers=admin.headers), 422)
        assert field in {e["field"] for e in problem["errors"]}

    async def test_taken_username_is_409(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        body = {"username": admin.username, "password": "long enough", "role": "viewer", "display_name": "x"}
        assert_problem(await client.post("/api/users", json=body, headers=admin.headers), 409)


class TestBearerToken:
    async def test_me_names_the_tokens_user(self, client: httpx.AsyncClient, make: Factory) -> None:
        county = await make.county()
        user = await make.user(Role.organizer, county_ids=[county.id])
        r = await client.get("/api/me", headers=user.headers)
        assert r.status_code == 200
        assert (r.json()["username"], r.json()["county_ids"]) == (user.username, [county.id])

    async def test_token_of_a_deleted_user_is_401(self, client: httpx.AsyncClient, make: Factory, db: Database) -> None:
        county = await make.county()
        user = await make.user(Role.organizer, county_ids=[county.id])
        async with db.transaction() as session:
            await session.execute(delete(UserCounty).where(col(UserCounty.user_id) == user.id))
            await session.execute(delete(User).where(col(User.id) == user.id))
        assert_problem(await client.get("/api/me", headers=user.headers), 401)
        body = {"county_id": county.id, "name": "x", "village": "y"}
        assert_problem(await client.post("/api/stations", json=body, headers=user.headers), 401)

    async def test_token_of_a_deactivated_user_is_401(self, client: httpx.AsyncClient, make: Factory, db: Database) -> None:
        user = await make.user(Role.admin)
        assert (await client.get("/api/me", headers=user.headers)).status_code == 200
        admin = await make.user(Role.admin)
        r = await client.patch(f"/api/users/{user.id}", json={"is_active": False}, headers=admin.headers)
        assert r.status_code == 200, r.text
        assert_problem(await client.get("/api/me", headers=user.headers), 401)

    async def test_a_user_deactivated_behind_the_apps_back_is_401_once_the_cache_expires(
        self, client: httpx.AsyncClient, make: Factory, db: Database, app: object
    ) -> None:
        user = await make.user(Role.admin)
        assert (await client.get("/api/me", headers=user.headers)).status_code == 200
        async with db.transaction() as session:
            await session.execute(update(User).where(col(User.id) == user.id).values(is_active=False))
        app.state.principals._ttl = 0.0  # type: ignore[attr-defined]  # as if the cached entry had expired
        assert_problem(await client.get("/api/me", headers=user.headers), 401)

    async def test_token_of_an_older_credential_version_is_401(self, client: httpx.AsyncClient, make: Factory, db: Database) -> None:
        user = await make.user(Role.admin)
        async with db.transaction() as session:
            await session.execute(update(User).where(col(User.id) == user.id).values(token_version=User.token_version + 1))
        assert_problem(await client.get("/api/me", headers=user.headers), 401)

    async def test_expired_token_is_401(self, client: httpx.AsyncClient, make: Factory, settings: Settings) -> None:
        user = await make.user(Role.admin)
        token = create_access_token(
            user_id=user.id, token_version=0, secret=settings.secret_key, now=utcnow() - timedelta(hours=2), ttl_seconds=60
        )
        body = assert_problem(await client.get("/api/me", headers={"Authorization": f"Bearer {token}"}), 401)
        assert "expired" in body["detail"]

    @pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", ""])
    async def test_malformed_token_is_401(self, client: httpx.AsyncClient, token: str) -> None:
        assert_problem(await client.get("/api/me", headers={"Authorization": f"Bearer {token}"}), 401)

    async def test_token_signed_with_another_key_is_401(self, client: httpx.AsyncClient, make: Factory) -> None:
        user = await make.user(Role.admin)
        forged = create_access_token(
            user_id=user.id, token_version=0, secret="someone else's signing key, long enough for HS256", now=utcnow(), ttl_seconds=60
        )
        assert_problem(await client.get("/api/me", headers={"Authorization": f"Bearer {forged}"}), 401)


@asynccontextmanager
async def running_app(settings: Settings, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An app started (lifespan run) with some settings changed, and a client calling it."""
    app = create_app(settings.model_copy(update=changes), migrate=False)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


class TestAdminBootstrap:
    async def test_admin_password_creates_the_admin_at_start_up(self, settings: Settings) -> None:
        async with running_app(settings, admin_password="bootstrap-secret") as client:
            r = await sign_in(client, "admin", "bootstrap-secret")
            assert r.status_code == 200, r.text
            me = await client.get("/api/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
            assert me.json()["role"] == "admin"

    async def test_a_later_start_with_another_password_leaves_the_admin_alone(self, settings: Settings) -> None:
        async with running_app(settings, admin_password="bootstrap-secret"):
            pass
        async with running_app(settings, admin_password="a-different-one") as client:
            assert (await sign_in(client, "admin", "a-different-one")).status_code == 401
            assert (await sign_in(client, "admin", "bootstrap-secret")).status_code == 200

    async def test_without_admin_password_no_admin_is_created(self, settings: Settings, db: Database) -> None:
        async with running_app(settings, admin_password=None):
            pass
        async with db.transaction() as session:
            assert (await session.scalars(select(User).where(col(User.username) == "admin"))).first() is None


@pytest.fixture
async def cookie_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app plus a route that reports who `OptionalUser` saw."""
    app = create_app(settings, migrate=False)

    async def who(principal: OptionalUser) -> dict[str, str | None]:
        return {"username": principal.username if principal else None}

    app.add_api_route("/test/who", who)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


class TestSignInCookie:
    async def test_a_valid_cookie_signs_the_caller_in(self, cookie_client: httpx.AsyncClient, settings: Settings) -> None:
        r = await cookie_client.post("/api/auth/register", json={"username": "lihua", "password": "s3cret-pass", "display_name": "李华"})
        token = create_access_token(user_id=r.json()["id"], token_version=0, secret=settings.secret_key, now=utcnow(), ttl_seconds=60)
        cookie_client.cookies.set("lc_token", token)
        assert (await cookie_client.get("/test/who")).json() == {"username": "lihua"}
        assert (await cookie_client.get("/api/me")).json()["username"] == "lihua"

    async def test_a_stale_cookie_makes_the_caller_anonymous_not_rejected(self, cookie_client: httpx.AsyncClient) -> None:
        cookie_client.cookies.set("lc_token", "expired-or-forged")
        assert (await cookie_client.get("/test/who")).json() == {"username": None}
        assert_problem(await cookie_client.get("/api/me"), 401)

    async def test_a_bad_bearer_token_is_still_rejected(self, cookie_client: httpx.AsyncClient) -> None:
        assert_problem(await cookie_client.get("/test/who", headers={"Authorization": "Bearer expired-or-forged"}), 401)


async def _pair(client: httpx.AsyncClient, username: str, password: str = "correct horse battery") -> dict[str, Any]:
    r = await sign_in(client, username, password)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class TestRefresh:
    async def test_sign_in_returns_a_refresh_token_that_rotates(self, client: httpx.AsyncClient, make: Factory) -> None:
        user = await make.user(Role.viewer)
        first = await _pair(client, user.username)
        assert first["refresh_token"] and first["refresh_expires_in"] > first["expires_in"]
        r = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert r.status_code == 200, r.text
        second = r.json()
        assert second["refresh_token"] != first["refresh_token"]
        assert (await client.get("/api/me", headers=_bearer(second["access_token"]))).json()["username"] == user.username

    async def test_a_refresh_token_is_not_an_access_token(self, client: httpx.AsyncClient, make: Factory) -> None:
        user = await make.user(Role.viewer)
        pair = await _pair(client, user.username)
        assert_problem(await client.get("/api/me", headers=_bearer(pair["refresh_token"])), 401)

    async def test_an_access_token_is_not_a_refresh_token(self, client: httpx.AsyncClient, make: Factory) -> None:
        user = await make.user(Role.viewer)
        pair = await _pair(client, user.username)
        assert_problem(await client.post("/api/auth/refresh", json={"refresh_token": pair["access_token"]}), 401)

    async def test_reusing_a_refresh_token_revokes_every_token_of_the_user(self, client: httpx.AsyncClient, make: Factory) -> None:
        user = await make.user(Role.viewer)
        first = await _pair(client, user.username)
        second = (await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
        # The first refresh token shows up again: one of its holders stole it.
        body = assert_problem(await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]}), 401)
        assert "used already" in body["detail"]
        assert_problem(await client.get("/api/me", headers=_bearer(second["access_token"])), 401)
        assert_problem(await client.post("/api/auth/refresh", json={"refresh_token": second["refresh_token"]}), 401)
        assert (await sign_in(client, user.username, "correct horse battery")).status_code == 200

    async def test_expired_refresh_token_is_401(self, client: httpx.AsyncClient, make: Factory, settings: Settings) -> None:
        user = await make.user(Role.viewer)
        old = create_access_token(
            user_id=user.id, token_version=0, secret=settings.secret_key, now=utcnow() - timedelta(days=30), ttl_seconds=60, kind="refresh"
        )
        assert_problem(await client.post("/api/auth/refresh", json={"refresh_token": old}), 401)

    async def test_refresh_of_a_deactivated_user_is_401(self, client: httpx.AsyncClient, make: Factory, db: Database) -> None:
        user = await make.user(Role.viewer)
        pair = await _pair(client, user.username)
        async with db.transaction() as session:
            await session.execute(update(User).where(col(User.id) == user.id).values(is_active=False))
        assert_problem(await client.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]}), 401)


class TestLogout:
    async def test_logout_revokes_access_and_refresh_tokens(self, client: httpx.AsyncClient, make: Factory, db: Database) -> None:
        user = await make.user(Role.organizer)
        pair = await _pair(client, user.username)
        r = await client.post("/api/auth/logout", headers=_bearer(pair["access_token"]))
        assert r.status_code == 204
        assert_problem(await client.get("/api/me", headers=_bearer(pair["access_token"])), 401)
        assert_problem(await client.get("/api/me", headers=user.headers), 401)
        assert_problem(await client.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]}), 401)
        async with db.transaction() as session:
            actions = (await session.scalars(select(AuditRecord.action).where(col(AuditRecord.target) == f"user:{user.id}"))).all()
        assert "user.logout" in actions

    async def test_logout_needs_a_token(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.post("/api/auth/logout"), 401)


class TestChangePassword:
    async def test_new_password_works_old_one_and_old_tokens_do_not(self, client: httpx.AsyncClient, make: Factory) -> None:
        user = await make.user(Role.cadre)
        body = {"current_password": "correct horse battery", "new_password": "a brand new secret"}
        r = await client.post("/api/auth/password", json=body, headers=user.headers)
        assert r.status_code == 200, r.text
        assert (await client.get("/api/me", headers=_bearer(r.json()["access_token"]))).status_code == 200
        assert_problem(await client.get("/api/me", headers=user.headers), 401)
        assert (await sign_in(client, user.username, "correct horse battery")).status_code == 401
        assert (await sign_in(client, user.username, "a brand new secret")).status_code == 200

    async def test_wrong_current_password_is_422_and_changes_nothing(self, client: httpx.AsyncClient, make: Factory) -> None:
        user = await make.user(Role.viewer)
        body = {"current_password": "not my password", "new_password": "a brand new secret"}
        problem = assert_problem(await client.post("/api/auth/password", json=body, headers=user.headers), 422)
        assert {e["field"] for e in problem["errors"]} == {"current_password"}
        assert (await client.get("/api/me", headers=user.headers)).status_code == 200
        assert (await sign_in(client, user.username, "correct horse battery")).status_code == 200

    async def test_short_new_password_is_422(self, client: httpx.AsyncClient, make: Factory) -> None:
        user = await make.user(Role.viewer)
        body = {"current_password": "correct horse battery", "new_password": "short"}
        assert_problem(await client.post("/api/auth/password", json=body, headers=user.headers), 422)


class TestUpdateUser:
    async def test_role_change_revokes_tokens_and_is_audited(self, client: httpx.AsyncClient, make: Factory, db: Database) -> None:
        admin = await make.user(Role.admin)
        county = await make.county()
        user = await make.user(Role.viewer)
        r = await client.patch(f"/api/users/{user.id}", json={"role": "organizer", "county_ids": [county.id]}, headers=admin.headers)
        assert r.status_code == 200, r.text
        assert (r.json()["role"], r.json()["county_ids"]) == ("organizer", [county.id])
        assert_problem(await client.get("/api/me", headers=user.headers), 401)
        fresh = await _pair(client, user.username)
        assert (await client.get("/api/me", headers=_bearer(fresh["access_token"]))).json()["role"] == "organizer"
        async with db.transaction() as session:
            record = (await session.scalars(select(AuditRecord).where(col(AuditRecord.action) == "user.updated"))).one()
        assert record.actor_id == admin.id and record.target == f"user:{user.id}"
        assert record.details["role"] == {"from": "viewer", "to": "organizer"}
        assert record.details["county_ids"] == {"from": [], "to": [county.id]}

    async def test_deactivation_signs_the_user_out(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        user = await make.user(Role.organizer)
        assert (await client.patch(f"/api/users/{user.id}", json={"is_active": False}, headers=admin.headers)).status_code == 200
        assert_problem(await client.get("/api/me", headers=user.headers), 401)
        assert (await sign_in(client, user.username, "correct horse battery")).status_code == 401

    async def test_display_name_change_keeps_tokens(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        user = await make.user(Role.viewer)
        assert (await client.patch(f"/api/users/{user.id}", json={"display_name": "新名字"}, headers=admin.headers)).status_code == 200
        assert (await client.get("/api/me", headers=user.headers)).json()["display_name"] == "新名字"

    async def test_admin_cannot_demote_themselves(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        assert_problem(await client.patch(f"/api/users/{admin.id}", json={"role": "viewer"}, headers=admin.headers), 409)
        assert_problem(await client.patch(f"/api/users/{admin.id}", json={"is_active": False}, headers=admin.headers), 409)

    @pytest.mark.parametrize("body", [{}, {"role": None}, {"county_ids": [999_999]}, {"anchor_id": 999_999}, {"password": "x"}])
    async def test_invalid_change_is_422(self, client: httpx.AsyncClient, make: Factory, body: dict[str, Any]) -> None:
        admin = await make.user(Role.admin)
        user = await make.user(Role.viewer)
        assert_problem(await client.patch(f"/api/users/{user.id}", json=body, headers=admin.headers), 422)

    async def test_unknown_user_is_404(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        assert_problem(await client.patch("/api/users/999999", json={"display_name": "x"}, headers=admin.headers), 404)


class TestPasswordHashing:
    async def test_async_hash_and_verify_agree_with_the_sync_ones(self) -> None:
        from livecommerce.accounts.security import hash_password_async, verify_password, verify_password_async

        digest = await hash_password_async("tea from Yingde")
        assert digest.startswith("$argon2id$")
        assert verify_password(digest, "tea from Yingde")
        assert await verify_password_async(digest, "tea from Yingde")
        assert not await verify_password_async(digest, "tea from Fogang")
        assert not await verify_password_async(None, "anything")

    async def test_hashing_does_not_hold_the_event_loop(self) -> None:
        import asyncio

        from livecommerce.accounts.security import hash_password_async

        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        try:
            await asyncio.gather(*(hash_password_async(f"pw-{i}") for i in range(4)))
        finally:
            task.cancel()
        # Were hashing done on the loop, the ticker could not run between the four hashes.
        assert ticks > 4


def _rate_limited(r: httpx.Response) -> None:
    assert_problem(r, 429)
    assert int(r.headers["Retry-After"]) >= 1


class TestRateLimits:
    async def test_sign_in_attempts_per_user_are_limited(self, settings: Settings, make: Factory) -> None:
        user = await make.user(Role.viewer)
        async with running_app(
            settings, rate_limits_enabled=True, rate_limits={**DEFAULT_RATE_LIMITS, "sign_in_user": "3/minute"}
        ) as client:
            for _ in range(3):
                assert (await sign_in(client, user.username, "wrong password")).status_code == 401
            _rate_limited(await sign_in(client, user.username, "correct horse battery"))
            # Case does not open a new budget.
            _rate_limited(await sign_in(client, user.username.upper(), "correct horse battery"))
            # Another user from the same address still signs in.
            other = await make.user(Role.viewer)
            assert (await sign_in(client, other.username, "correct horse battery")).status_code == 200

    async def test_sign_in_attempts_per_address_are_limited(self, settings: Settings, make: Factory) -> None:
        users = [await make.user(Role.viewer) for _ in range(3)]
        async with running_app(
            settings, rate_limits_enabled=True, rate_limits={**DEFAULT_RATE_LIMITS, "sign_in_address": "2/minute"}
        ) as client:
            assert (await sign_in(client, users[0].username, "x-wrong-x")).status_code == 401
            assert (await sign_in(client, users[1].username, "x-wrong-x")).status_code == 401
            _rate_limited(await sign_in(client, users[2].username, "correct horse battery"))

    async def test_registrations_per_address_are_limited(self, settings: Settings) -> None:
        async with running_app(
            settings, rate_limits_enabled=True, rate_limits={**DEFAULT_RATE_LIMITS, "register_address": "2/hour"}
        ) as client:
            for i in range(2):
                body = {"username": f"newbie{i}", "password": "long enough", "display_name": "新"}
                assert (await client.post("/api/auth/register", json=body)).status_code == 201
            _rate_limited(
                await client.post("/api/auth/register", json={"username": "newbie9", "password": "long enough", "display_name": "新"})
            )

    async def test_password_change_attempts_are_limited_like_sign_ins(self, settings: Settings, make: Factory) -> None:
        user = await make.user(Role.viewer)
        async with running_app(
            settings, rate_limits_enabled=True, rate_limits={**DEFAULT_RATE_LIMITS, "sign_in_user": "2/minute"}
        ) as client:
            body = {"current_password": "guess guess", "new_password": "a brand new secret"}
            for _ in range(2):
                assert (await client.post("/api/auth/password", json=body, headers=user.headers)).status_code == 422
            _rate_limited(await client.post("/api/auth/password", json=body, headers=user.headers))

    async def test_page_sign_in_shares_the_limit(self, settings: Settings, make: Factory) -> None:
        user = await make.user(Role.viewer)
        async with running_app(
            settings, rate_limits_enabled=True, rate_limits={**DEFAULT_RATE_LIMITS, "sign_in_user": "2/minute"}
        ) as client:
            headers = {"X-Requested-With": "fetch", "Origin": "http://testserver"}
            for _ in range(2):
                r = await client.post("/login", data={"username": user.username, "password": "wrong"}, headers=headers)
                assert r.status_code == 401, r.text
            _rate_limited(await sign_in(client, user.username, "correct horse battery"))

    async def test_disabled_rate_limits_never_answer_429(self, settings: Settings, make: Factory) -> None:
        user = await make.user(Role.viewer)
        async with running_app(
            settings, rate_limits_enabled=False, rate_limits={**DEFAULT_RATE_LIMITS, "sign_in_user": "1/minute"}
        ) as client:
            for _ in range(3):
                assert (await sign_in(client, user.username, "wrong")).status_code == 401
