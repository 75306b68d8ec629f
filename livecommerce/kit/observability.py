"""Request ids, access logs and request metrics, as one pure ASGI middleware."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from livecommerce.kit.metrics import HTTP_LATENCY, HTTP_REQUESTS, ORDERS, PAYMENTS

log = structlog.get_logger("livecommerce.http")
_UNMATCHED = "<unmatched>"
_STREAM_PATH = re.compile(r"^/(?:api/|ws/|dashboard/)?streams/(\d{1,18})(?:/|$)")


class ObservabilityMiddleware:
    """Binds `request_id` (and `stream_id`) for the request's logs, times it, counts it by route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex[:16]
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id, **_stream_context(scope))
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", _UNMATCHED)
            method = scope.get("method", "GET")
            counted, timed = _series(route, method, status)
            counted.inc()
            timed.observe(elapsed)
            _count_outcome(route, method, status)
            if status == 503:
                # A backend is unreachable: expected during an outage, logged where the error was translated.
                log.warning("request", method=method, route=route, status=status, ms=round(elapsed * 1000, 1))
            elif status >= 500:
                log.error("request", method=method, route=route, status=status, ms=round(elapsed * 1000, 1))
            elif route not in ("/healthz", "/readyz", "/metrics"):
                log.debug("request", method=method, route=route, status=status, ms=round(elapsed * 1000, 1))
            structlog.contextvars.unbind_contextvars("request_id", "stream_id")

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        structlog.contextvars.bind_contextvars(request_id=_incoming_request_id(scope) or uuid.uuid4().hex[:16], **_stream_context(scope))
        try:
            await self.app(scope, receive, send)
        finally:
            structlog.contextvars.unbind_contextvars("request_id", "stream_id")


_SERIES: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _series(route: str, method: str, status: int) -> tuple[Any, Any]:
    """The request counter's and the latency histogram's series for an answer (looked up once per kind of answer).

    `labels()` validates and locks on every call; routes are templates, so the kinds of
    answer are few and their series can be kept.
    """
    key = (route, method, status)
    found = _SERIES.get(key)
    if found is None:
        found = _SERIES[key] = (HTTP_REQUESTS.labels(route, method, f"{status // 100}xx"), HTTP_LATENCY.labels(route, method))
    return found


_ORDER_ROUTE = "/api/streams/{stream_id}/orders"
_PAYMENT_ROUTES = frozenset({"/api/orders/{order_id}/pay", "/api/payments/webhook"})


def _count_outcome(route: str, method: str, status: int) -> None:
    """Orders and payments by outcome, read off the answer the client got (what it saw is what counts)."""
    if method != "POST":
        return
    if route == _ORDER_ROUTE:
        outcome = {201: "placed", 200: "replayed", 409: "refused"}.get(status, _status_outcome(status))
        ORDERS.labels(outcome).inc()
    elif route in _PAYMENT_ROUTES:
        outcome = {200: "paid", 401: "bad_signature", 409: "refused"}.get(status, _status_outcome(status))
        PAYMENTS.labels(outcome).inc()


def _status_outcome(status: int) -> str:
    if status == 503:
        return "unavailable"
    return "rejected" if status < 500 else "failed"


def _stream_context(scope: Scope) -> dict[str, int]:
    match = _STREAM_PATH.match(scope.get("path", ""))
    return {"stream_id": int(match.group(1))} if match else {}


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1")[:64]
            if text.replace("-", "").isalnum():
                return text
    return None
