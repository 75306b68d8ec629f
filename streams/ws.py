"""The websocket relay route: `WS /ws/streams/{id}?since=<seq>`.

Messages are the outbox envelopes `{"seq", "type", "stream_id", "ts", "data"}`, one JSON
object each, seq rising by exactly 1. With `since`, every event after it comes first.
Staff (admins, organizers) get `data` whole; everyone else a filtered copy with buyers masked.

Refused handshakes answer with a problem+json HTTP response: 401 (bad token), 404 (unknown
stream), 422 (bad `since`), 429 (too many connections from one address,
`ws_max_connections_per_address`, per instance, unless rate limits are off). Close codes after the handshake:
- 1000 normal, 1001 the server is shutting down (reconnect elsewhere with `since`),
- 1008 the client sent more messages than a viewer needs (`ws_max_messages_per_minute`),
- 1009 the client sent a message over `ws_max_message_bytes`,
- 1011 an internal error (reconnect with `since`),
- 4008 this client stopped reading: its socket took no data while its bounded buffer filled
  (events worth `relay_viewer_buffer_bytes` on uvicorn's default protocol, where the relay
  writes frames to the transport itself; `relay_viewer_buffer` queued messages elsewhere), or
  for over 5 s while it caught up from history (reconnect with `since`). Bursts alone never
  cut a reader: a viewer whose unsent bytes pass the bound reads from history at its own pace.
Keepalive pings come from the server (uvicorn's ping interval/timeout) and cut dead peers.

Chat: a signed-in client sends `{"type": "chat.send", "text"}`; the message reaches everyone
(the sender too) as `chat.message` in the stream's log. A refused one comes back to its sender
alone as `{"type": "chat.refused", "reason"}` (no seq: it is not part of the stream's log).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Coroutine
from typing import Any

import structlog
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from livecommerce.accounts.principals import principal_from_token
from livecommerce.broadcasts.audience import record_viewer
from livecommerce.broadcasts.service import get_stream
from livecommerce.kit.db import Database
from livecommerce.kit.errors import Forbidden, LiveCommerceError, Unauthorized, error_problem, problem_response, request_language
from livecommerce.kit.i18n import LazyMessage, _l
from livecommerce.kit.principal import Principal
from livecommerce.kit.security import same_origin_websocket
from livecommerce.kit.settings import Settings
from streams.chat.poster import ChatPoster
from streams.chat.service import ChatRefused, ChatRules, Refusal
from streams.relay.fastpath import fast_socket
from streams.relay.hub import Relay

router = APIRouter()
log = structlog.get_logger(__name__)

CLOSE_TIMEOUT_SECONDS = 30.0


def _token(websocket: WebSocket) -> str | None:
    token = websocket.query_params.get("token")
    if token:
        return token
    scheme, _, credentials = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return credentials.strip()
    cookie = websocket.cookies.get("lc_token") or None
    if cookie and not same_origin_websocket(websocket.headers, websocket.app.state.settings.cors_origins):
        raise Forbidden(_l("A page of another site may not use your sign-in here."))
    return cookie


def _since(websocket: WebSocket) -> int | None:
    raw = websocket.query_params.get("since")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise _BadSince()
    return int(raw)


class _BadSince(LiveCommerceError):
    status, slug = 422, "validation-error"
    title: LazyMessage | str = _l("Invalid input")

    def __init__(self) -> None:
        super().__init__(
            _l("since must be a non-negative integer seq."),
            extra={"errors": [{"field": "query.since", "message": "must be a non-negative integer"}]},
        )


async def _admit(websocket: WebSocket, stream_id: int) -> Principal | None:
    db: Database = websocket.app.state.db
    settings: Settings = websocket.app.state.settings
    relay: Relay = websocket.app.state.relay
    # Streams are never deleted: one this instance already relays exists, and an anonymous viewer of it
    # costs no database work. When 10,000 viewers connect at once (a deploy's reconnects) this lookup
    # was over 40% of the handshakes' CPU (py-spy, bench/relay.py --scale).
    known = relay.relays(stream_id)
    if known and _token(websocket) is None:
        return None
    async with db.read_sessionmaker() as session:
        if not known:
            await get_stream(session, stream_id)  # NotFound for an unknown stream
        token = _token(websocket)
        return await principal_from_token(session, token, settings.secret_key) if token else None


class _TooManyConnections(LiveCommerceError):
    status, slug = 429, "rate-limited"
    title: LazyMessage | str = _l("Too many requests")


class AddressCounter:
    """Open websockets per client address on this instance."""

    def __init__(self) -> None:
        self.open: dict[str, int] = {}

    def acquire(self, address: str, limit: int | None) -> None:
        """Count one more connection from `address`, or refuse it past `limit` (None: no limit)."""
        count = self.open.get(address, 0)
        if limit is not None and count >= limit:
            raise _TooManyConnections(
                _l("Too many open connections from this address (at most {limit}).", limit=limit), headers={"Retry-After": "5"}
            )
        self.open[address] = count + 1

    def release(self, address: str) -> None:
        """Forget one connection from `address`."""
        count = self.open.get(address, 0) - 1
        if count > 0:
            self.open[address] = count
        else:
            self.open.pop(address, None)


def _address_counter(websocket: WebSocket) -> AddressCounter:
    state = websocket.app.state
    counter: AddressCounter | None = getattr(state, "ws_address_counter", None)
    if counter is None:
        counter = state.ws_address_counter = AddressCounter()
    return counter


@router.websocket("/ws/streams/{stream_id}", name="stream_events")
async def stream_events(websocket: WebSocket, stream_id: int) -> None:
    """Relay a stream's events: the history after `since`, then live ones."""
    relay: Relay = websocket.app.state.relay
    settings: Settings = websocket.app.state.settings
    addresses = _address_counter(websocket)
    address = websocket.client.host if websocket.client else "unknown"
    try:
        since = _since(websocket)
        principal = await _admit(websocket, stream_id)
        addresses.acquire(address, settings.ws_max_connections_per_address if settings.rate_limits_enabled else None)
    except LiveCommerceError as exc:
        body = error_problem(exc, request_language(websocket))
        headers = exc.headers if isinstance(exc, Unauthorized | _TooManyConnections) else None
        await websocket.send_denial_response(problem_response(exc.status, body, headers))
        return
    try:
        if principal is not None:  # each signed-in viewer is noted once, for the post-stream review
            async with websocket.app.state.db.transaction() as session:
                await record_viewer(session, stream_id, principal.id, now=websocket.app.state.clock.now())
        await _serve_viewer(websocket, relay, settings, stream_id, since, principal)
    finally:
        addresses.release(address)


async def _serve_viewer(
    websocket: WebSocket, relay: Relay, settings: Settings, stream_id: int, since: int | None, principal: Principal | None
) -> None:
    # Joined before the handshake completes: once a client is connected, nothing committed is missed.
    staff = principal is not None and principal.is_staff
    # Starlette keeps the ASGI send as `_send`; under uvicorn's default websocket protocol the hub writes frames to it directly.
    fast = fast_socket(websocket._send) if relay.fast_path else None
    who = None if principal is None else principal.id  # the same signed-in viewer in two tabs counts once
    viewer = await relay.join(stream_id, websocket.send_text, since=since, staff=staff, fast=fast, viewer_id=who)
    try:
        await websocket.accept()
    except BaseException:
        await relay.leave(viewer)
        raise
    viewer.start()
    reader = asyncio.create_task(_read_until_disconnect(websocket, settings, stream_id, principal), name=f"ws-reader-{stream_id}")
    try:
        waiting: set[asyncio.Future[object]] = {reader, viewer.closing}  # type: ignore[arg-type]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if viewer.closing.done() and not reader.done():
            closing = viewer.closing.result()
            reader.cancel()
            if closing.code is not None:
                # A stalled peer may never drain its buffer; give up on the close frame then.
                try:
                    async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                        await websocket.close(closing.code, closing.reason)
                except Exception as exc:  # the peer is gone or not reading: nothing more to do
                    log.warning("relay_close_failed", stream_id=stream_id, code=closing.code, error=type(exc).__name__)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        await relay.leave(viewer)


async def _read_until_disconnect(websocket: WebSocket, settings: Settings, stream_id: int, principal: Principal | None) -> None:
    # Viewers say little: chat, nothing else. Reading keeps flow control moving and notices the close.
    # Whoever talks a lot, or sends something large, is not a viewer: close them.
    window_start = asyncio.get_running_loop().time()
    received = 0
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            size = len(message.get("bytes") or b"") + len((message.get("text") or "").encode())
            if size > settings.ws_max_message_bytes:
                await websocket.close(1009, "message too big")
                return
            now = asyncio.get_running_loop().time()
            if now - window_start >= 60:
                window_start, received = now, 0
            received += 1
            if received > settings.ws_max_messages_per_minute:
                await websocket.close(1008, "too many messages")
                return
            text = message.get("text")
            if text:
                await _handle_unbroken(websocket, _on_client_message(websocket, settings, stream_id, principal, text))


async def _handle_unbroken(websocket: WebSocket, work: Coroutine[Any, Any, None]) -> None:
    # The reader is cancelled when the connection ends; a chat message half-way through its
    # transaction must still commit or roll back cleanly, never leave a connection holding the
    # stream's counter locked. So it runs as its own task (referenced until done) behind a shield.
    tasks: set[asyncio.Task[None]] | None = getattr(websocket.app.state, "chat_tasks", None)
    if tasks is None:
        tasks = websocket.app.state.chat_tasks = set()
    task = asyncio.create_task(work, name="ws-chat-message")
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    await asyncio.shield(task)


async def _on_client_message(websocket: WebSocket, settings: Settings, stream_id: int, principal: Principal | None, raw: str) -> None:
    try:
        message = json.loads(raw)
    except ValueError:
        return
    if not isinstance(message, dict) or message.get("type") != "chat.send":
        return  # nothing else is a request; unknown messages are ignored (they still count against the limits)
    text = message.get("text")
    try:
        if not isinstance(text, str):
            raise ChatRefused(Refusal.invalid, _l("text must be a string."))
        await _chat_poster(websocket, settings).post(stream_id, principal, text)
    except ChatRefused as refused:
        await websocket.send_text(json.dumps({"type": "chat.refused", "stream_id": stream_id, "reason": refused.reason.value}))
    except LiveCommerceError as exc:
        log.info("chat_message_failed", stream_id=stream_id, error=exc.slug)
        await websocket.send_text(json.dumps({"type": "chat.refused", "stream_id": stream_id, "reason": Refusal.invalid.value}))


def _chat_poster(websocket: WebSocket, settings: Settings) -> ChatPoster:
    # One per app: concurrent messages of a stream share its batches (`streams/chat/poster.py`).
    state = websocket.app.state
    poster: ChatPoster | None = getattr(state, "chat_poster", None)
    if poster is None or poster.db is not state.db:  # made for the app's current database, as the order desk is
        poster = state.chat_poster = ChatPoster(state.db, ChatRules.from_settings(settings), state.clock)
    return poster
