"""Per-stream hubs that deliver each event once, in seq order, to every websocket of this instance.

A hub knows the last seq it delivered. Bus messages are a hint: one that is old is dropped,
one that jumps ahead waits a moment for the missing ones (publishers on other instances race)
and then the gap is filled from history (the bus's recent copy if complete, else the outbox).
A poll of the streams' committed heads catches whatever the bus never carried.

The hub never awaits a socket, so a stalled viewer cannot slow the others. Each event is
encoded once per audience (staff, everyone else). A viewer that is caught up and whose
connection allows it (see `fastpath`) is "live": the hub writes the encoded frames straight to
its transport, like `websockets.broadcast()`, as long as the bytes it has not yet taken stay
under `viewer_buffer_bytes`. Over that bound it drops back to its own writer task, which reads
what it missed from history at the pace its socket takes it and makes it live again once caught
up; a socket that takes nothing for `STALL_SECONDS` meanwhile is cut off (close 4008), and the
client may resume with `since=<last seq it got>`. Viewers without that fast path have a bounded
queue drained by their writer task through the ASGI send.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from prometheus_client import Counter, Gauge

from livecommerce.kit.db import Database
from livecommerce.kit.metrics import EVENTS_RELAYED, REGISTRY, WS_CONNECTIONS, WS_DISCONNECTS
from streams.relay.bus import RESYNC, Envelope, EventBus, Subscription
from streams.relay.fastpath import FastSocket, text_frame
from streams.relay.outbox import EventSource, stream_positions
from streams.relay.presence import Presence
from streams.relay.redis import dumps
from streams.relay.views import public_envelope

log = structlog.get_logger(__name__)

FAST_PATH_VIEWERS = Gauge(
    "livecommerce_relay_fast_path_viewers", "Websocket viewers the relay writes to directly (caught up).", registry=REGISTRY
)
HISTORY_CATCH_UPS = Counter(
    "livecommerce_relay_history_catch_ups_total", "Fast-path viewers sent back to history by a full buffer.", registry=REGISTRY
)

SendText = Callable[[str], Awaitable[None]]

# Close codes (documented in the websocket route).
CLOSE_GOING_AWAY = 1001
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_SLOW_CONSUMER = 4008

REORDER_WINDOW_SECONDS = 0.05
EMPTY_HUB_LINGER_SECONDS = 10.0
MAX_PENDING = 10_000
STALL_SECONDS = 5.0
MAX_FAN_OUT_BATCH = 64  # frames joined into one write per live viewer (a burst is written in slices)


@dataclass(slots=True)
class Frame:
    """One event serialized once per audience, as JSON text and as a ready websocket frame."""

    seq: int
    staff: str
    public: str
    staff_wire: bytes
    public_wire: bytes


def make_frame(envelope: Envelope) -> Frame:
    """Serialize an envelope for staff and for everyone else."""
    staff = dumps(envelope)
    public = dumps(public_envelope(envelope))
    staff_wire = text_frame(staff)
    if public == staff:
        return Frame(int(envelope["seq"]), staff, staff, staff_wire, staff_wire)
    return Frame(int(envelope["seq"]), staff, public, staff_wire, text_frame(public))


@dataclass(frozen=True)
class Closing:
    """Why a viewer is being closed: a websocket close code and reason, or None when the peer left."""

    code: int | None
    reason: str = ""


class Viewer:
    """One websocket watching one stream: live on the hub's fast path, or a bounded queue and the task that writes it out.

    A burst larger than the queue or the byte bound (a catch-up after a Redis outage, say)
    does not cut a healthy viewer: it reads those events from history instead. A viewer is
    cut off (4008) only when its socket stops taking data: the writer is blocked in a send
    (the transport's buffer is full) while its queue fills up or, on the fast path, while
    events worth `viewer_buffer_bytes` arrive; or for longer than `STALL_SECONDS` while it
    reads from history.
    """

    def __init__(self, hub: Hub, send: SendText, *, staff: bool, since: int, buffer: int, fast: FastSocket | None = None) -> None:
        self.hub = hub
        self.send = send
        self.staff = staff
        self.buffer = buffer
        self.fast = fast  # set when the hub may write frames to the connection directly
        self.live = False  # the hub writes to `fast` itself; the queue and the writer are idle
        self.sent_seq = since  # the last seq written to the socket
        self.queued_seq = since  # the last seq accepted for delivery (queued or to be read from history)
        self.backlog_until = since  # history to send before the queue
        self.blocked_since: float | None = None  # set while a send waits for the socket
        self.blocked_bytes = 0  # encoded size of the events that arrived meanwhile
        self._queue: deque[Frame] = deque()
        self._wake = asyncio.Event()
        self.closing: asyncio.Future[Closing] = asyncio.get_running_loop().create_future()
        self.writer: asyncio.Task[None] | None = None
        self.viewer_id: int | None = None  # the signed-in user, for the viewer count

    @property
    def stream_id(self) -> int:
        """The stream watched."""
        return self.hub.stream_id

    def start(self) -> None:
        """Start writing (after the handshake); frames pushed before wait in the queue."""
        self.writer = asyncio.create_task(self.write(), name=f"relay-viewer-{self.stream_id}")

    def push(self, frame: Frame) -> None:
        """Accept a live frame without blocking; cut the viewer off if its socket is stalled."""
        if frame.seq <= self.queued_seq or self.closing.done():
            return
        lagging = self.backlog_until > self.sent_seq
        if self.blocked_since is not None:
            self.blocked_bytes += len(frame.staff_wire if self.staff else frame.public_wire)
            if (
                len(self._queue) >= self.buffer
                or (self.fast is not None and self.blocked_bytes > self.hub.relay.viewer_buffer_bytes)
                or (lagging and asyncio.get_running_loop().time() - self.blocked_since > STALL_SECONDS)
            ):
                self.cut_off()
                return
        if lagging or len(self._queue) >= self.buffer:
            self._queue.clear()
            self.backlog_until = frame.seq
        else:
            self._queue.append(frame)
        self.queued_seq = frame.seq
        self._wake.set()

    def catch_up(self, until: int) -> None:
        """Read everything up to `until` from history (the hub stopped writing to this viewer)."""
        self.backlog_until = max(self.backlog_until, until)
        self.queued_seq = max(self.queued_seq, until)
        self._wake.set()

    def cut_off(self) -> None:
        """Close a viewer whose socket stopped taking data (4008); it may resume from what it got."""
        WS_DISCONNECTS.labels("slow_consumer").inc()
        self.close(CLOSE_SLOW_CONSUMER, f"too slow; reconnect with since={self.sent_seq}")

    def close(self, code: int | None, reason: str = "") -> None:
        """Stop delivering and ask the connection's handler to close with `code`."""
        if not self.closing.done():
            self.closing.set_result(Closing(code, reason))
        self.hub.discard(self)
        if self.writer is not None and self.writer is not asyncio.current_task():
            self.writer.cancel()

    async def write(self) -> None:
        """Send history up to `backlog_until`, then queued frames, each seq once and in order."""
        loop = asyncio.get_running_loop()
        queue, wake = self._queue, self._wake
        try:
            while not self.closing.done():
                if self.backlog_until > self.sent_seq:
                    await self._send_backlog(loop)
                    continue
                while queue:
                    frame = queue.popleft()
                    if frame.seq > self.sent_seq:
                        self.blocked_since = loop.time()
                        await self.send(frame.staff if self.staff else frame.public)
                        self.blocked_since, self.blocked_bytes = None, 0
                        self.sent_seq = frame.seq
                if self.backlog_until <= self.sent_seq and not queue:
                    # Caught up: from the next event on, the hub writes to this viewer itself if it can.
                    if self.fast is not None:
                        self.hub.go_live(self)
                    wake.clear()
                    await wake.wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the peer went away mid-send, or history could not be read
            self.close(None if _is_disconnect(exc) else CLOSE_INTERNAL_ERROR, "relay error")

    async def _send_backlog(self, loop: asyncio.AbstractEventLoop) -> None:
        while self.sent_seq < self.backlog_until and not self.closing.done():
            batch = await self.hub.source.after(self.stream_id, self.sent_seq, self.backlog_until)
            if not batch or int(batch[0]["seq"]) != self.sent_seq + 1:
                raise RuntimeError(f"history of stream {self.stream_id} after seq {self.sent_seq} is missing")
            for envelope in batch:
                self.blocked_since = loop.time()
                try:
                    async with asyncio.timeout(STALL_SECONDS):
                        await self.send(dumps(envelope if self.staff else public_envelope(envelope)))
                except TimeoutError:  # behind and its socket took nothing for that long
                    self.cut_off()
                    return
                self.blocked_since, self.blocked_bytes = None, 0
                self.sent_seq = int(envelope["seq"])


def _is_disconnect(exc: Exception) -> bool:
    name = type(exc).__name__
    return name in {"WebSocketDisconnect", "ClientDisconnected", "ConnectionClosed", "ConnectionClosedOK", "ConnectionClosedError"} or (
        isinstance(exc, RuntimeError) and "close" in str(exc).lower()
    )


class Hub:
    """The viewers of one stream on this instance and the last seq delivered to them."""

    def __init__(self, relay: Relay, stream_id: int) -> None:
        self.relay = relay
        self.source = relay.source
        self.stream_id = stream_id
        self.viewers: set[Viewer] = set()
        # Caught-up viewers the hub writes to directly, by audience (each gets one encoding of an event).
        self.live_public: dict[Viewer, FastSocket] = {}
        self.live_staff: dict[Viewer, FastSocket] = {}
        self.queued: set[Viewer] = set()  # the others: frames go through their queue and writer
        self.last_seq = 0
        self.target = 0  # a seq known to be committed
        self.ready = asyncio.Event()
        self.empty_since: float | None = None
        self._pending: dict[int, Envelope] = {}
        self._wake = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name=f"relay-hub-{stream_id}")

    def offer(self, envelope: Envelope) -> None:
        """A bus message for this stream (possibly old, duplicated or ahead of a gap)."""
        seq = int(envelope["seq"])
        if self.ready.is_set() and seq <= self.last_seq:
            return
        if len(self._pending) >= MAX_PENDING:
            self.target = max(self.target, max(self._pending))
            self._pending.clear()
        self._pending[seq] = envelope
        self._wake.set()

    def behind(self, head: int) -> None:
        """The outbox holds events up to `head`: catch up if this hub is behind."""
        if head > self.target:
            self.target = head
            self._wake.set()

    def rewound(self, head: int) -> None:
        """The database holds fewer events than were delivered (it was restored): start every viewer over."""
        log.warning("relay_stream_rewound", stream_id=self.stream_id, delivered=self.last_seq, head=head)
        self.last_seq = self.target = head
        self._pending.clear()
        for viewer in list(self.viewers):
            viewer.close(CLOSE_TRY_AGAIN_LATER, f"history rewound; reconnect with since={head}")

    @property
    def live(self) -> set[Viewer]:
        """The viewers on the fast path."""
        return {*self.live_public, *self.live_staff}

    def add(self, viewer: Viewer) -> None:
        """Start delivering to a viewer (through its queue until it has caught up)."""
        self.viewers.add(viewer)
        self.queued.add(viewer)
        self.empty_since = None

    def discard(self, viewer: Viewer) -> None:
        """Stop delivering to a viewer."""
        if viewer in self.viewers:
            self.viewers.discard(viewer)
            self.queued.discard(viewer)
            if viewer.live:
                del (self.live_staff if viewer.staff else self.live_public)[viewer]
                viewer.live = False
                FAST_PATH_VIEWERS.dec()
            if not self.viewers:
                self.empty_since = asyncio.get_running_loop().time()

    def go_live(self, viewer: Viewer) -> bool:
        """Write to a caught-up viewer directly from now on, if its connection allows it."""
        fast = viewer.fast
        if (
            fast is None
            or viewer not in self.queued
            or viewer.sent_seq != self.last_seq
            or viewer.closing.done()
            or not fast.usable()
            or fast.buffered() > self.relay.viewer_buffer_bytes
        ):
            return False
        self.queued.discard(viewer)
        (self.live_staff if viewer.staff else self.live_public)[viewer] = fast
        viewer.live = True
        FAST_PATH_VIEWERS.inc()
        return True

    async def _run(self) -> None:
        while True:
            try:
                head, epoch = (await stream_positions(self.relay.db, [self.stream_id]))[self.stream_id]
                self.source.epochs[self.stream_id] = epoch
                break
            except Exception as exc:  # database unreachable: viewers wait rather than get a wrong start
                log.warning("relay_hub_head_failed", stream_id=self.stream_id, error=type(exc).__name__)
                await asyncio.sleep(1.0)
        self.last_seq = head
        self.target = max(self.target, head)
        self.ready.set()
        self._wake.set()
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._advance()
            except Exception as exc:  # history unreachable for now: the next poll retries
                log.warning("relay_hub_catch_up_failed", stream_id=self.stream_id, error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(0.5)

    async def _advance(self) -> None:
        self._drain()
        if self._pending:
            # A later message arrived first; give the missing ones a moment before reading history.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + REORDER_WINDOW_SECONDS
            while self._pending and loop.time() < deadline:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(deadline - loop.time()):
                        await self._wake.wait()
                self._wake.clear()
                self._drain()
            if self._pending:
                # Seqs are taken under a lock held to commit: a committed seq means all before it are.
                self.target = max(self.target, max(self._pending))
        while self.target > self.last_seq:
            batch = await self.source.after(self.stream_id, self.last_seq, self.target)
            if not batch or int(batch[0]["seq"]) != self.last_seq + 1:
                raise RuntimeError(f"no history after seq {self.last_seq} up to {self.target}")
            frames: list[Frame] = []
            for envelope in batch:
                if int(envelope["seq"]) == self.last_seq + len(frames) + 1:
                    frames.append(make_frame(envelope))
            if frames:
                self._deliver(frames)
            self._drain()

    def _drain(self) -> None:
        pending = self._pending
        if not pending:
            return
        for seq in [s for s in pending if s <= self.last_seq]:
            del pending[seq]
        frames: list[Frame] = []
        while (seq := self.last_seq + len(frames) + 1) in pending:
            frames.append(make_frame(pending.pop(seq)))
        if frames:
            self._deliver(frames)

    def _deliver(self, frames: list[Frame]) -> None:
        """Hand consecutive frames (starting at last_seq + 1) to every viewer."""
        for start in range(0, len(frames), MAX_FAN_OUT_BATCH):
            part = frames[start : start + MAX_FAN_OUT_BATCH]
            self.last_seq = part[-1].seq
            if self.live_public:
                self._write_live(self.live_public, part, [f.public_wire for f in part])
            if self.live_staff:
                self._write_live(self.live_staff, part, [f.staff_wire for f in part])
            for viewer in list(self.queued):
                for frame in part:
                    viewer.push(frame)
            EVENTS_RELAYED.inc(len(self.viewers) * len(part))

    def _write_live(self, live: dict[Viewer, FastSocket], frames: list[Frame], wires: list[bytes]) -> None:
        # The hot loop: one transport write per live viewer of an audience, no await, nothing encoded per viewer.
        last = frames[-1].seq
        data = wires[0] if len(wires) == 1 else b"".join(wires)
        room = self.relay.viewer_buffer_bytes - len(data)
        closed: list[Viewer] = []
        behind: list[Viewer] = []
        for viewer, fast in live.items():
            transport = fast.transport
            if fast.protocol.close_sent or transport.is_closing():
                closed.append(viewer)  # the peer left or a close is under way
            elif transport.get_write_buffer_size() > room:
                behind.append(viewer)  # a burst, or a stalled socket: it reads these from history at its own pace
            else:
                transport.write(data)
                viewer.sent_seq = viewer.queued_seq = viewer.backlog_until = last
        for viewer in behind:
            del live[viewer]
            viewer.live = False
            self.queued.add(viewer)
            viewer.catch_up(last)
        if behind:
            FAST_PATH_VIEWERS.dec(len(behind))
            HISTORY_CATCH_UPS.inc(len(behind))
        for viewer in closed:
            viewer.close(None)  # its handler finishes the connection


class Relay:
    """This instance's hubs, fed by the bus and by a poll of the outbox heads."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        presence: Presence,
        *,
        viewer_buffer: int = 512,
        viewer_buffer_bytes: int = 256 * 1024,
        fast_path: bool = True,
        poll_interval: float = 1.0,
    ) -> None:
        self.db = db
        self.bus = bus
        self.presence = presence
        self.source = EventSource(db, bus)
        self.viewer_buffer = viewer_buffer
        self.viewer_buffer_bytes = viewer_buffer_bytes
        self.fast_path = fast_path
        self.poll_interval = poll_interval
        self.hubs: dict[int, Hub] = {}
        self.viewers: set[Viewer] = set()
        self._left = asyncio.Event()
        self._resync = asyncio.Event()
        self._subscription: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Subscribe to the bus and start the consumer and the poller."""
        self._subscription = await self.bus.subscribe()
        self._tasks = [
            asyncio.create_task(self._consume(self._subscription), name="relay-consume"),
            asyncio.create_task(self._poll(), name="relay-poll"),
        ]

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Close every viewer with 1001, wait for their handlers, cancel and await every task."""
        self.going_away()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace_seconds):
                while self.viewers:
                    self._left.clear()
                    await self._left.wait()
        tasks = [*self._tasks, *(hub.task for hub in self.hubs.values()), *(v.writer for v in self.viewers if v.writer)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.hubs.clear()
        self._tasks.clear()
        if self._subscription is not None:
            await self.bus.unsubscribe(self._subscription)

    def going_away(self) -> None:
        """Ask every viewer's handler to close with 1001 (the server is shutting down)."""
        for viewer in list(self.viewers):
            viewer.close(CLOSE_GOING_AWAY, "server shutting down")

    async def join(
        self,
        stream_id: int,
        send: SendText,
        *,
        since: int | None,
        staff: bool,
        fast: FastSocket | None = None,
        viewer_id: int | None = None,
    ) -> Viewer:
        """Register a websocket for a stream's events after `since`; `viewer.start()` begins sending.

        `fast` is the connection the hub may write to directly once the viewer has caught up;
        `viewer_id` the signed-in user watching (their tabs count as one viewer), None for anonymous.
        """
        hub = self.hubs.get(stream_id) or self._new_hub(stream_id)
        await hub.ready.wait()
        committed: int | None = None
        if since is not None and since > hub.last_seq:
            # Ahead of this hub: another instance delivered it already, or it comes from a history
            # the database no longer has (a restore); only the committed head tells which.
            committed = (await stream_positions(self.db, [stream_id]))[stream_id][0]
        # No await from here on: the viewer's position and the hub's are taken together.
        head = hub.last_seq
        start = head if since is None else since
        if committed is not None and start > max(committed, head):
            start = max(committed, head)
        viewer = Viewer(hub, send, staff=staff, since=start, buffer=self.viewer_buffer, fast=fast if self.fast_path else None)
        viewer.backlog_until = max(start, head) if start < head else start
        viewer.queued_seq = max(start, head)
        viewer.viewer_id = viewer_id
        hub.add(viewer)
        self.viewers.add(viewer)
        self.presence.joined(stream_id, viewer_id)
        WS_CONNECTIONS.inc()
        return viewer

    def relays(self, stream_id: int) -> bool:
        """True while this instance has a hub for the stream (it was admitted before, so it exists)."""
        return stream_id in self.hubs

    def _new_hub(self, stream_id: int) -> Hub:
        hub = self.hubs[stream_id] = Hub(self, stream_id)
        return hub

    async def leave(self, viewer: Viewer) -> None:
        """Forget a viewer whose connection ended; await its writer."""
        viewer.close(None)
        if viewer in self.viewers:
            self.viewers.discard(viewer)
            self.presence.left(viewer.stream_id, viewer.viewer_id)
            WS_CONNECTIONS.dec()
        if viewer.writer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await viewer.writer
        self._left.set()

    async def _consume(self, subscription: Subscription) -> None:
        async for item in subscription:
            if item is RESYNC:
                self._resync.set()
                continue
            assert isinstance(item, dict)
            hub = self.hubs.get(int(item["stream_id"]))
            if hub is not None:
                hub.offer(item)

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_interval):
                    await self._resync.wait()
            self._resync.clear()
            now = loop.time()
            for stream_id, hub in list(self.hubs.items()):
                if hub.empty_since is not None and now - hub.empty_since > EMPTY_HUB_LINGER_SECONDS and not hub.viewers:
                    del self.hubs[stream_id]
                    hub.task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await hub.task
            # Delivered before the read began means committed before it: a head below that is a rewind.
            delivered = {stream_id: hub.last_seq for stream_id, hub in self.hubs.items() if hub.ready.is_set()}
            try:
                heads = await stream_positions(self.db, list(self.hubs))
            except Exception as exc:  # database unreachable: try again at the next tick
                log.warning("relay_poll_failed", error=type(exc).__name__)
                continue
            for stream_id, (head, epoch) in heads.items():
                self.source.epochs[stream_id] = epoch
                if (watched := self.hubs.get(stream_id)) is not None and watched.ready.is_set():
                    if head < delivered.get(stream_id, 0) <= watched.last_seq:
                        watched.rewound(head)
                    else:
                        watched.behind(head)
