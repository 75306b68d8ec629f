"""The HTTP server's own answers: problem+json for requests the parser refuses, and a header timeout.

uvicorn answers a request it cannot parse (`Content-Length: abc`, a control byte in a header)
itself, before the app sees it, with a plain-text 400 that carries neither the security headers
nor a request id. It also waits forever for a client that sends its headers a byte at a time
(its keep-alive timeout only runs between requests). `ProblemHttpProtocol` is uvicorn's own
httptools protocol with both fixed; `server_options` gives the server settings every entry point
uses, so `serve`, the cluster and the tests run the same server.
"""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from livecommerce.kit.errors import PROBLEM_JSON, problem
from livecommerce.kit.security import BASE_HEADERS
from livecommerce.kit.settings import Settings

_REASONS = {400: b"Bad Request", 408: b"Request Timeout"}


def problem_bytes(status: int, title: str, detail: str, slug: str) -> bytes:
    """A complete HTTP/1.1 problem+json response that closes the connection, with security headers and a request id."""
    body = json.dumps(problem(status, title, detail, slug)).encode()
    lines = [
        b"HTTP/1.1 %d %s" % (status, _REASONS.get(status, b"Error")),
        b"content-type: " + PROBLEM_JSON.encode(),
        b"content-length: %d" % len(body),
        b"connection: close",
        b"x-request-id: " + uuid.uuid4().hex[:16].encode(),
        *(name + b": " + value for name, value in BASE_HEADERS),
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class ProblemHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering unparseable requests with problem+json and timing out slow headers."""

    def __init__(self, *args: Any, header_timeout: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn narrows BaseTransport the same way
        """Start the clock for the first request's headers."""
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the header clock."""
        self._cancel_header_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        """A request started arriving: its headers must be complete within `header_timeout`."""
        super().on_message_begin()
        if self._header_timer is None:
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        """The headers are in: stop their clock, then hand the request on as uvicorn does."""
        self._cancel_header_timer()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        """Answer an unparseable request with problem+json instead of plain text."""
        self._cancel_header_timer()
        detail = "The request is not valid HTTP (a malformed header, such as a non-numeric Content-Length or a control character)."
        self.transport.write(problem_bytes(400, "Bad request", detail, "bad-request"))
        self.transport.close()

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_timed_out)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        if self.transport is not None and not self.transport.is_closing():
            detail = f"The request headers did not arrive within {self.header_timeout:g} seconds."
            self.transport.write(problem_bytes(408, "Request timeout", detail, "request-timeout"))
            self.transport.close()


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn options from the settings: proxy trust, slow-client timeouts, our protocol, websocket limits."""
    return {
        # A partial of a module-level class: picklable, so `--workers` processes get it too.
        "http": functools.partial(ProblemHttpProtocol, header_timeout=settings.http_header_timeout_seconds),
        "proxy_headers": bool(settings.forwarded_allow_ips),
        "forwarded_allow_ips": settings.forwarded_allow_ips or [],
        "timeout_keep_alive": settings.http_keep_alive_timeout_seconds,
        "ws_per_message_deflate": False,
        "ws_max_size": settings.ws_max_message_bytes,
        "timeout_graceful_shutdown": 10,
        "log_config": None,  # keep configure_logging's handler: uvicorn's access and error logs go through structlog too
    }
