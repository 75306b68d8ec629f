"""Transport-level protections: request body size limits and security headers (CSP on pages)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from livecommerce.kit.errors import PROBLEM_JSON, problem
from livecommerce.kit.spreadsheets import safe_cell

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
)
BASE_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
# The one rule for spreadsheet cells lives with the spreadsheets; kept here under its old name.
spreadsheet_safe = safe_cell


# The interactive API docs load their own scripts; they get the base headers but no CSP.
_NO_CSP_PREFIXES = ("/docs", "/redoc")


class _BodyTooLarge(Exception):
    pass


class BodySizeLimitMiddleware:
    """Refuse request bodies over `max_bytes` with 413 problem+json, declared or streamed.

    `larger` names the paths that take bigger bodies (spreadsheet uploads) and their own limits.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, larger: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope.get("path", ""), self.max_bytes)
        for name, value in scope.get("headers", []):
            if name == b"content-length" and (not value.isdigit() or int(value) > limit):
                await self._reject(send, limit)
                return
        received = 0
        started = False
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if too_large:
                # The app caught the error itself (FastAPI turns any failure while reading a body
                # into 400): its answer is replaced by the 413 below.
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(_BodyTooLarge):
            await self.app(scope, limited_receive, tracking_send)
        if too_large and not started:
            await self._reject(send, limit)

    async def _reject(self, send: Send, limit: int) -> None:
        body = json.dumps(
            problem(413, "Request too large", f"The request body is larger than {limit} bytes.", "payload-too-large")
        ).encode()
        headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class SecurityHeadersMiddleware:
    """Add security headers to every response and a content security policy to pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with_csp = not scope.get("path", "").startswith(_NO_CSP_PREFIXES)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in BASE_HEADERS if h[0] not in present)
                if with_csp and b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapper)


def _host_port(host: str, default_port: int) -> tuple[str, int] | None:
    """(name, port) of a Host header, the port defaulting to the scheme's; None when unreadable."""
    host = host.strip().lower()
    if host.startswith("["):  # an IPv6 literal: [::1]:8000
        name, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif host.count(":") == 1:
        name, _, port = host.partition(":")
    else:
        name, port = host, ""
    if not name:
        return None
    if not port:
        return name, default_port
    return (name, int(port)) if port.isdigit() else None


def same_origin_websocket(headers: Mapping[str, str], trusted_origins: Sequence[str] = ()) -> bool:
    """True unless a browser opened this websocket from a page of another site (cross-site websocket hijacking).

    A browser sends its cookies with a websocket handshake whatever page started it, and always
    names that page in `Origin`; so a cookie-authenticated socket is only ours when `Origin` is
    the host the browser connected to, or one of the configured CORS origins. No `Origin` at
    all is a client that is not a browser (its cookie was not planted by a foreign page).
    """
    origin = headers.get("origin")
    if origin is None:
        return True
    if origin in trusted_origins:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False  # `null` (a sandboxed frame, a file) or something stranger
    default_port = 443 if parts.scheme == "https" else 80
    try:
        origin_port = parts.port or default_port
    except ValueError:
        return False
    host = _host_port(headers.get("host", ""), default_port)
    return host is not None and host == (parts.hostname.lower(), origin_port)
