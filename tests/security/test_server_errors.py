"""Every 5xx, the framework's own answer to a bug included, is problem+json with the security headers and a request id."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from livecommerce.kit.settings import Settings
from livecommerce.main.app import create_app


class _Bug(Exception):
    pass


@pytest.fixture
async def buggy_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with one route that fails the way a bug does."""
    app = create_app(settings, migrate=False)

    @app.get("/api/_bug")
    async def bug() -> None:
        raise _Bug("a bug")

    # raise_app_exceptions=False: what the client would see, even if the exception escaped the app.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


class TestUnhandledError:
    async def test_bug_is_500_problem_json(self, buggy_client: httpx.AsyncClient) -> None:
        r = await buggy_client.get("/api/_bug")
        assert r.status_code == 500
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == 500

    async def test_bug_answer_carries_the_security_headers(self, buggy_client: httpx.AsyncClient) -> None:
        r = await buggy_client.get("/api/_bug")
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert "content-security-policy" in r.headers

    async def test_bug_answer_carries_a_request_id(self, buggy_client: httpx.AsyncClient) -> None:
        r = await buggy_client.get("/api/_bug", headers={"X-Request-Id": "trace-4711"})
        assert r.headers["x-request-id"] == "trace-4711"

    async def test_the_app_keeps_serving_after_a_bug(self, buggy_client: httpx.AsyncClient) -> None:
        await buggy_client.get("/api/_bug")
        assert (await buggy_client.get("/healthz")).status_code == 200
