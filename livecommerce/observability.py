"""Request ids, access logs and request metrics, as one pure ASGI middleware."""

from __future__ import annotations

import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from livecommerce.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = structlog.get_logger("livecommerce.http")
_UNMATCHED = "<unmatched>"


class ObservabilityMiddleware:
    """Binds `request_id` for the request's logs, times it, counts it by route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", _UNMATCHED)
            method = scope.get("method", "GET")
            HTTP_REQUESTS.labels(route, method, f"{status // 100}xx").inc()
            HTTP_LATENCY.labels(route, method).observe(elapsed)
            if status >= 500:
                log.error("request", method=method, route=route, status=status, ms=round(elapsed * 1000, 1))
            elif route not in ("/healthz", "/readyz", "/metrics"):
                log.debug("request", method=method, route=route, status=status, ms=round(elapsed * 1000, 1))
            structlog.contextvars.unbind_contextvars("request_id")


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1")[:64]
            if text.replace("-", "").isalnum():
                return text
    return None
