"""Rate limits: the order-placement dependency, limits shared by two real servers through Redis, failing open."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import Depends

from livecommerce.kit.errors import RateLimited
from livecommerce.kit.principal import Principal, Role
from livecommerce.kit.ratelimit import RateLimiter
from livecommerce.kit.ratelimit_deps import order_placement_limit
from livecommerce.kit.settings import DEFAULT_RATE_LIMITS, Settings
from livecommerce.main.app import create_app
from tests.conftest import REDIS_URL
from tests.e2e.servers import free_port, start_server
from tests.factories import Factory
from tests.security.live import ADMIN_PASSWORD, server_database

BUYER = Principal(id=7, username="buyer7", role=Role.viewer, display_name="买家")


def _limited_settings(settings: Settings, redis: bool, **rules: str) -> Settings:
    return settings.model_copy(
        update={"rate_limits_enabled": True, "rate_limits": {**DEFAULT_RATE_LIMITS, **rules}, "redis_url": REDIS_URL if redis else None}
    )


@pytest.fixture
async def order_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app plus a route guarded exactly as the order endpoint should be (see the report to the lead)."""
    app = create_app(_limited_settings(settings, False, orders_buyer="3/minute", orders_stream="5/minute"), migrate=False)

    async def place(stream_id: int) -> dict[str, int]:
        return {"stream_id": stream_id}

    app.add_api_route("/test/streams/{stream_id}/orders", place, methods=["POST"], dependencies=[Depends(order_placement_limit)])
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


class TestOrderPlacementLimit:
    async def test_a_buyer_is_limited_per_minute(self, order_client: httpx.AsyncClient, make: Factory) -> None:
        buyer = await make.user(Role.viewer)
        for _ in range(3):
            assert (await order_client.post("/test/streams/1/orders", headers=buyer.headers)).status_code == 200
        r = await order_client.post("/test/streams/2/orders", headers=buyer.headers)
        assert r.status_code == 429
        assert r.headers["content-type"].startswith("application/problem+json")
        assert int(r.headers["Retry-After"]) >= 1

    async def test_a_stream_is_limited_across_buyers(self, order_client: httpx.AsyncClient, make: Factory) -> None:
        buyers = [await make.user(Role.viewer) for _ in range(3)]
        statuses = [(await order_client.post("/test/streams/9/orders", headers=buyers[i % 3].headers)).status_code for i in range(6)]
        assert statuses == [200] * 5 + [429]
        # Another stream has its own budget.
        assert (await order_client.post("/test/streams/10/orders", headers=buyers[0].headers)).status_code == 200

    async def test_anonymous_caller_gets_401_before_any_count(self, order_client: httpx.AsyncClient) -> None:
        for _ in range(8):
            assert (await order_client.post("/test/streams/11/orders")).status_code == 401

    async def test_limit_is_shared_by_two_limiters_on_one_redis(self, settings: Settings) -> None:
        limited = _limited_settings(settings, True, orders_buyer="4/minute")
        first, second = RateLimiter(limited), RateLimiter(limited)
        try:
            for i in range(4):
                await order_placement_limit((first, second)[i % 2], BUYER, stream_id=3)
            with pytest.raises(RateLimited):
                await order_placement_limit(first, BUYER, stream_id=3)
            with pytest.raises(RateLimited):
                await order_placement_limit(second, BUYER, stream_id=4)
        finally:
            await first.reset()


class TestFailOpen:
    async def test_unreachable_redis_lets_requests_through(self, settings: Settings) -> None:
        dead = settings.model_copy(
            update={
                "rate_limits_enabled": True,
                "redis_url": f"redis://127.0.0.1:{free_port()}/0",
                "rate_limits": {**DEFAULT_RATE_LIMITS, "orders_buyer": "1/minute"},
            }
        )
        limiter = RateLimiter(dead)
        try:
            for _ in range(3):
                await limiter.check("orders_buyer", 1)
        finally:
            await limiter.close()  # its probe for Redis stops with it


@pytest.mark.e2e
class TestAcrossTwoServers:
    def test_sign_in_and_registration_limits_hold_across_instances(self, tmp_path: Path) -> None:
        prefix = f"lcrl{uuid.uuid4().hex[:8]}"
        with server_database(tmp_path) as url:
            env = {
                "LIVECOMMERCE_DATABASE_URL": url,
                "LIVECOMMERCE_REDIS_URL": REDIS_URL,
                "LIVECOMMERCE_REDIS_PREFIX": prefix,
                "LIVECOMMERCE_SECRET_KEY": "two-instances-secret-key",
                "LIVECOMMERCE_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "LIVECOMMERCE_RUN_SCHEDULER": "false",
                "LIVECOMMERCE_RATE_LIMITS": '{"sign_in_user": "4/minute", "register_address": "3/hour"}',
            }
            servers = [start_server(env), start_server(env)]
            try:
                clients = [httpx.Client(base_url=s.url, timeout=30) for s in servers]
                statuses = [
                    clients[i % 2].post("/api/auth/token", data={"username": "admin", "password": "wrong guess"}).status_code
                    for i in range(4)
                ]
                assert statuses == [401] * 4
                for client in clients:  # both instances now refuse, even the right password
                    r = client.post("/api/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD})
                    assert r.status_code == 429, r.text
                    assert int(r.headers["Retry-After"]) >= 1
                registered = [
                    clients[i % 2]
                    .post("/api/auth/register", json={"username": f"viewer{i}", "password": "long enough", "display_name": "v"})
                    .status_code
                    for i in range(5)
                ]
                assert registered == [201, 201, 201, 429, 429]
            finally:
                for client in clients:
                    client.close()
                for server in servers:
                    server.stop()
