"""Writing pre-encoded websocket frames straight to a connection's transport.

Going through Starlette's `WebSocket.send_text` and the ASGI `send` costs one task switch and
one await per client per event; at 1,000 viewers x 50 events/s that is the relay's whole CPU
budget. A server frame is not masked, so one encoding of an event serves every client of an
audience: the hub writes it to each transport in a plain loop, like `websockets.broadcast()`,
and measures each client's backlog with `transport.get_write_buffer_size()`.

This works on uvicorn's default websocket implementation (websockets' Sans-I/O protocol), whose
ASGI `send` is a bound method of the connection's protocol object. Any other server (uvicorn's
`--ws websockets` or `wsproto`, another ASGI server) or permessage-deflate (frames differ per
connection) leaves `fast_socket` returning None, and the relay uses the per-client ASGI path.
Frames written here bypass ASGI middleware that would wrap `send`; none of ours does for websockets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from websockets.frames import Frame, Opcode
from websockets.protocol import State

_MAX_WRAPPERS = 16


def text_frame(text: str) -> bytes:
    """An unmasked, uncompressed text frame (what a server sends) carrying `text`."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


class FastSocket:
    """A websocket connection the relay may write whole frames to without the ASGI send."""

    __slots__ = ("conn", "protocol", "transport")

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.transport: asyncio.Transport = protocol.transport
        self.conn: Any = protocol.conn

    def usable(self) -> bool:
        """True while the connection is open and nobody started closing it."""
        # The hub's write loop checks only `close_sent` and `is_closing()`: uvicorn closes the
        # transport whenever the protocol leaves OPEN (close received, keepalive timeout, shutdown).
        protocol = self.protocol
        return not (protocol.close_sent or protocol.disconnected or self.transport.is_closing()) and self.conn.state is State.OPEN

    def buffered(self) -> int:
        """Bytes written to the transport that the kernel has not taken yet."""
        return self.transport.get_write_buffer_size()


def fast_socket(send: Callable[..., Any]) -> FastSocket | None:
    """The connection behind an ASGI `send` (looking through wrappers' closures), when frames can be written to it."""
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    except ImportError:  # an older uvicorn, or none
        return None
    todo: list[Any] = [send]
    seen: set[int] = set()
    while todo and len(seen) < _MAX_WRAPPERS:
        candidate = todo.pop()
        if id(candidate) in seen:
            continue
        seen.add(id(candidate))
        owner = getattr(candidate, "__self__", None)
        if isinstance(owner, WebSocketsSansIOProtocol):
            return _checked(owner)
        # Starlette wraps `send` in closures (its exception handling); the real one is a free variable.
        for cell in getattr(candidate, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if callable(value) and not isinstance(value, type):
                todo.append(value)
    return None


def _checked(protocol: Any) -> FastSocket | None:
    conn = getattr(protocol, "conn", None)
    needed = ("transport", "close_sent", "disconnected")
    if conn is None or not all(hasattr(protocol, name) for name in needed) or getattr(conn, "extensions", None):
        return None  # not the shape this module knows, or compressed frames (one encoding per connection)
    return FastSocket(protocol)
