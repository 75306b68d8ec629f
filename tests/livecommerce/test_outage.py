"""A database that cannot be reached gives 503 problem+json quickly, never a hang or a 500."""

from __future__ import annotations

import socket
import time

import httpx

from livecommerce.kit.settings import Settings
from livecommerce.main.app import create_app


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TestDatabaseUnreachable:
    async def test_requests_get_503_problem_and_readyz_reports_it(self) -> None:
        settings = Settings(
            database_url=f"postgresql://postgres@127.0.0.1:{_closed_port()}/nowhere", secret_key="x" * 32, run_scheduler=False
        )
        app = create_app(settings, migrate=False)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                started = time.monotonic()
                r = await client.get("/api/counties")
                assert r.status_code == 503, r.text
                assert r.headers["content-type"].startswith("application/problem+json")
                assert r.headers["retry-after"] == "2"
                ready = await client.get("/readyz")
                assert ready.status_code == 503
                assert ready.json()["checks"]["database"].startswith("unavailable")
                assert (await client.get("/healthz")).status_code == 200
                assert time.monotonic() - started < 15
