"""Security headers, the content security policy on pages, CORS only for configured origins, the secret key rule."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from livecommerce.kit.settings import DEFAULT_SECRET_KEY, Settings
from livecommerce.main.app import create_app


@pytest.fixture
async def cors_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"cors_origins": ["https://shop.example.cn"]}), migrate=False)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


class TestSecurityHeaders:
    @pytest.mark.parametrize("path", ["/api/counties", "/healthz", "/api/nowhere"])
    async def test_api_responses_carry_the_base_headers(self, client: httpx.AsyncClient, path: str) -> None:
        r = await client.get(path)
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "same-origin"
        assert "camera=()" in r.headers["permissions-policy"]

    @pytest.mark.parametrize("path", ["/", "/login"])
    async def test_pages_carry_a_content_security_policy_without_inline_scripts(self, client: httpx.AsyncClient, path: str) -> None:
        r = await client.get(path)
        assert r.status_code == 200
        policy = r.headers["content-security-policy"]
        directives = {d.split()[0]: d.split()[1:] for d in (p.strip() for p in policy.split(";")) if d}
        assert directives["script-src"] == ["'self'"]
        assert directives["frame-ancestors"] == ["'none'"]
        assert directives["object-src"] == ["'none'"]
        assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]

    async def test_a_page_has_exactly_one_policy(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/")
        assert len(r.headers.get_list("content-security-policy")) == 1

    async def test_api_docs_get_no_csp_so_their_scripts_load(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/docs")
        assert r.status_code == 200
        assert "content-security-policy" not in r.headers
        assert r.headers["x-content-type-options"] == "nosniff"


class TestCors:
    async def test_no_cors_headers_without_configured_origins(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/counties", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in r.headers
        pre = await client.options("/api/counties", headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in pre.headers

    async def test_configured_origin_is_allowed(self, cors_client: httpx.AsyncClient) -> None:
        r = await cors_client.get("/api/counties", headers={"Origin": "https://shop.example.cn"})
        assert r.headers["access-control-allow-origin"] == "https://shop.example.cn"
        pre = await cors_client.options(
            "/api/counties",
            headers={
                "Origin": "https://shop.example.cn",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Authorization",
            },
        )
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == "https://shop.example.cn"
        assert "access-control-allow-credentials" not in pre.headers

    async def test_other_origins_are_not_allowed_even_when_some_are(self, cors_client: httpx.AsyncClient) -> None:
        r = await cors_client.get("/api/counties", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in r.headers
        pre = await cors_client.options(
            "/api/counties", headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"}
        )
        assert pre.status_code == 400
        assert "access-control-allow-origin" not in pre.headers

    async def test_origin_wildcard_is_never_sent(self, cors_client: httpx.AsyncClient) -> None:
        r = await cors_client.get("/api/counties", headers={"Origin": "https://shop.example.cn"})
        assert r.headers["access-control-allow-origin"] != "*"


class TestSecretKey:
    def test_prod_refuses_the_default_secret_key(self, settings: Settings) -> None:
        with pytest.raises(RuntimeError, match="SECRET_KEY"):
            create_app(settings.model_copy(update={"env": "prod", "secret_key": DEFAULT_SECRET_KEY}), migrate=False)

    def test_prod_starts_with_a_real_secret_key(self, settings: Settings) -> None:
        create_app(settings.model_copy(update={"env": "prod", "secret_key": "a-real-secret-from-the-vault"}), migrate=False)

    def test_dev_mode_may_use_the_default_key(self, settings: Settings) -> None:
        create_app(settings.model_copy(update={"env": "dev", "secret_key": DEFAULT_SECRET_KEY}), migrate=False)

    async def test_token_signed_with_the_default_key_is_refused_by_a_server_with_a_real_one(self, client: httpx.AsyncClient) -> None:
        from livecommerce.accounts.security import create_access_token
        from livecommerce.kit.clock import utcnow

        forged = create_access_token(user_id=1, token_version=0, secret=DEFAULT_SECRET_KEY, now=utcnow(), ttl_seconds=60)
        assert (await client.get("/api/me", headers={"Authorization": f"Bearer {forged}"})).status_code == 401
