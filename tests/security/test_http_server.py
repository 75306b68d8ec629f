"""The HTTP server as a client meets it: proxy trust, malformed requests, slow clients, websocket Origin.

Each test talks to a real `livecommerce serve` over real sockets, since these answers come from
the server's own protocol layer (uvicorn) and its configuration, before the app sees a request.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
import websockets.sync.client
import yaml

from tests.e2e.servers import ServerHandle, start_server
from tests.security.live import ADMIN_PASSWORD, USER_PASSWORD, Seeded, seed, server_database

pytestmark = [pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[2]
HEADER_TIMEOUT_SECONDS = 1.0
KEEP_ALIVE_SECONDS = 1
REGISTRATIONS_PER_ADDRESS = 3


def _env(url: str, forwarded_allow_ips: str) -> dict[str, str]:
    return {
        "LIVECOMMERCE_DATABASE_URL": url,
        "LIVECOMMERCE_SECRET_KEY": "http-server-secret-key-5d1e",
        "LIVECOMMERCE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "LIVECOMMERCE_RUN_SCHEDULER": "false",
        "LIVECOMMERCE_REDIS_URL": "",
        "LIVECOMMERCE_LOG_LEVEL": "WARNING",
        "LIVECOMMERCE_FORWARDED_ALLOW_IPS": forwarded_allow_ips,
        "LIVECOMMERCE_RATE_LIMITS": f'{{"register_address": "{REGISTRATIONS_PER_ADDRESS}/hour"}}',
        "LIVECOMMERCE_HTTP_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT_SECONDS),
        "LIVECOMMERCE_HTTP_KEEP_ALIVE_TIMEOUT_SECONDS": str(KEEP_ALIVE_SECONDS),
    }


@pytest.fixture(scope="module")
def untrusting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerHandle, Seeded]]:
    """A server whose only trusted proxy is an address the tests never connect from."""
    with server_database(tmp_path_factory.mktemp("http-untrusting")) as url:
        server = start_server(_env(url, "10.255.0.1"))
        try:
            yield server, seed(server.url)
        finally:
            server.stop()


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    """A server with the default trust (loopback): the tests play the proxy."""
    with server_database(tmp_path_factory.mktemp("http-proxied")) as url:
        env = _env(url, "")
        del env["LIVECOMMERCE_FORWARDED_ALLOW_IPS"]
        server = start_server(env)
        try:
            yield server
        finally:
            server.stop()


def _register(base_url: str, username: str, forwarded_for: str) -> int:
    body = {"username": username, "password": USER_PASSWORD, "display_name": "访客"}
    return httpx.post(f"{base_url}/api/auth/register", json=body, headers={"X-Forwarded-For": forwarded_for}, timeout=30).status_code


def _raw(port: int, data: bytes, timeout: float = 5.0) -> tuple[bytes, float]:
    """Send `data` on a new connection; everything the server answered until it closed, and how long that took."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(data)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    return received, time.monotonic() - start


def _head_and_body(response: bytes) -> tuple[dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return {"status": lines[0].split()[1], **headers}, body


class TestProxyTrust:
    def test_rotating_x_forwarded_for_does_not_escape_the_registration_limit(self, untrusting: tuple[ServerHandle, Seeded]) -> None:
        server, _ = untrusting
        codes = [_register(server.url, f"rotating{i}", f"198.51.100.{i}") for i in range(REGISTRATIONS_PER_ADDRESS + 2)]
        assert codes[:REGISTRATIONS_PER_ADDRESS] == [201] * REGISTRATIONS_PER_ADDRESS
        assert codes[REGISTRATIONS_PER_ADDRESS:] == [429, 429]

    def test_limit_is_keyed_on_the_address_the_trusted_proxy_saw(self, behind_proxy: ServerHandle) -> None:
        # The proxy overwrites the header with the peer it saw; a client-written entry in front changes nothing.
        codes = [_register(behind_proxy.url, f"seen{i}", f"10.9.{i}.1, 203.0.113.7") for i in range(REGISTRATIONS_PER_ADDRESS + 1)]
        assert codes == [201] * REGISTRATIONS_PER_ADDRESS + [429]
        assert _register(behind_proxy.url, "another_client", "203.0.113.8") == 201

    def test_nginx_overwrites_x_forwarded_for(self) -> None:
        conf = (ROOT / "deploy" / "nginx.conf").read_text()
        directives = [line.split("#")[0].strip() for line in conf.splitlines()]
        forwarded = [d for d in directives if d.startswith("proxy_set_header X-Forwarded-For")]
        assert forwarded and all(d == "proxy_set_header X-Forwarded-For $remote_addr;" for d in forwarded)

    def test_compose_trusts_only_nginx_fixed_address(self) -> None:
        compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
        nginx_address = compose["services"]["nginx"]["networks"]["default"]["ipv4_address"]
        for name in ("app1", "app2"):
            environment = compose["services"][name]["environment"]
            assert "FORWARDED_ALLOW_IPS" not in environment
            assert environment["LIVECOMMERCE_FORWARDED_ALLOW_IPS"] == nginx_address


class TestMalformedRequests:
    @pytest.mark.parametrize(
        "head",
        [
            b"POST /api/auth/register HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
            b"POST /api/streams/1/orders HTTP/1.1\r\nHost: x\r\nIdempotency-Key: a\x7fb\r\nContent-Length: 2\r\n\r\n{}",
        ],
        ids=["content-length-abc", "del-in-idempotency-key"],
    )
    def test_unparseable_request_is_400_problem_json_with_headers(self, untrusting: tuple[ServerHandle, Seeded], head: bytes) -> None:
        server, _ = untrusting
        response, _ = _raw(server.port, head)
        headers, body = _head_and_body(response)
        assert headers["status"] == "400"
        assert headers["content-type"] == "application/problem+json"
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
        assert headers["x-request-id"]
        assert b'"status": 400' in body


class TestSlowClients:
    def test_headers_sent_too_slowly_are_cut_off(self, untrusting: tuple[ServerHandle, Seeded]) -> None:
        server, _ = untrusting
        response, elapsed = _raw(server.port, b"GET /api/streams HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        assert elapsed < HEADER_TIMEOUT_SECONDS + 2
        headers, _ = _head_and_body(response)
        assert headers["status"] == "408" and headers["content-type"] == "application/problem+json"

    def test_a_silent_connection_is_cut_off(self, untrusting: tuple[ServerHandle, Seeded]) -> None:
        server, _ = untrusting
        _, elapsed = _raw(server.port, b"")
        assert elapsed < HEADER_TIMEOUT_SECONDS + 2

    def test_an_idle_keep_alive_connection_is_closed(self, untrusting: tuple[ServerHandle, Seeded]) -> None:
        server, _ = untrusting
        response, elapsed = _raw(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert response.startswith(b"HTTP/1.1 200")
        assert elapsed < KEEP_ALIVE_SECONDS + 2


class TestWebsocketOrigin:
    def _connect(self, server: ServerHandle, stream_id: int, headers: dict[str, str]) -> None:
        url = f"ws://127.0.0.1:{server.port}/ws/streams/{stream_id}"
        with websockets.sync.client.connect(url, additional_headers=headers, open_timeout=10, compression=None):
            pass

    def test_staff_cookie_from_a_foreign_origin_is_refused(self, untrusting: tuple[ServerHandle, Seeded]) -> None:
        server, seeded = untrusting
        token = seeded.tokens[0]
        with pytest.raises(websockets.InvalidStatus) as refused:
            self._connect(server, seeded.stream_id, {"Cookie": f"lc_token={token}", "Origin": "https://evil.example"})
        assert refused.value.response.status_code == 403

    def test_staff_cookie_from_the_own_origin_is_accepted(self, untrusting: tuple[ServerHandle, Seeded]) -> None:
        server, seeded = untrusting
        self._connect(server, seeded.stream_id, {"Cookie": f"lc_token={seeded.tokens[0]}", "Origin": f"http://127.0.0.1:{server.port}"})

    def test_bearer_token_needs_no_origin_check(self, untrusting: tuple[ServerHandle, Seeded]) -> None:
        server, seeded = untrusting
        self._connect(server, seeded.stream_id, {"Authorization": f"Bearer {seeded.tokens[0]}", "Origin": "https://app.example"})
