"""The scaled-out topology as local processes: migrate, N app instances, one scheduler worker, a front.

`livecommerce cluster --instances 2 --port 8000` runs what `docker-compose.yml` runs, without
containers: `livecommerce migrate` once, then `livecommerce serve` on consecutive ports with
`LIVECOMMERCE_SCHEDULER_MODE=worker` (instances never run jobs), one `livecommerce scheduler`,
and a round-robin TCP front on `--port` that carries HTTP and websockets alike. The same class
drives the end-to-end tests, which kill, stop and restart instances under load.

The front balances per connection (a keep-alive HTTP connection or a websocket stays on one
instance), skips an instance that refuses the connection, and leaves health to the instances'
own `/readyz` (an operator's load balancer would poll it).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import structlog

log = structlog.get_logger(__name__)

CLI = "import sys; from livecommerce.main.cli import main; sys.argv[0] = 'livecommerce'; main()"
STOP_TIMEOUT_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 2.0
_NO_UPSTREAM_BODY = (
    b'{"type":"/problems/service-unavailable","title":"Service unavailable","status":503,"detail":"No instance is reachable."}'
)
_NO_UPSTREAM = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\nRetry-After: 1\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_NO_UPSTREAM_BODY), _NO_UPSTREAM_BODY)
)


def cli_command(*args: str) -> list[str]:
    """The command line that runs `livecommerce <args>` with this interpreter."""
    return [sys.executable, "-c", CLI, *args]


@dataclass
class ManagedProcess:
    """A child process of the cluster with its command, environment and log file."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path | None
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        """Start (or start again) the process."""
        if self.running:
            return
        if self.log_path is not None:
            self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.command, env=self.env, stdout=self._log, stderr=subprocess.STDOUT if self._log else None)  # noqa: S603

    @property
    def running(self) -> bool:
        """True while the process lives."""
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        """The process id, while it runs."""
        return self.process.pid if self.running and self.process is not None else None

    def send_signal(self, signum: int) -> None:
        """Send a signal (SIGTERM for a graceful stop, SIGKILL for a crash)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    def wait(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int | None:
        """Wait for the process to end; its exit code (SIGKILL after `timeout`)."""
        if self.process is None:
            return None
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def stop(self, signum: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_SECONDS) -> int | None:
        """Signal the process and wait for it."""
        self.send_signal(signum)
        return self.wait(timeout)


class RoundRobinFront:
    """A TCP front that hands each new connection to the next instance that accepts it."""

    def __init__(self, host: str, port: int, upstreams: list[tuple[str, int]]) -> None:
        self.host = host
        self.port = port
        self.upstreams = upstreams
        self._turn = itertools.count()
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen on host:port."""
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and cut every proxied connection."""
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._proxy(reader, writer)
        except asyncio.CancelledError:
            pass  # the front is stopping; asyncio's server callback must not see a cancelled task
        finally:
            self._connections.discard(task)

    async def _proxy(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = await self._connect()
        if upstream is None:
            with contextlib.suppress(OSError):
                writer.write(_NO_UPSTREAM)
                await writer.drain()
            await _close(writer)
            return
        up_reader, up_writer = upstream
        pipes = [asyncio.create_task(_pipe(reader, up_writer)), asyncio.create_task(_pipe(up_reader, writer))]
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
            await _close(up_writer)
            await _close(writer)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        start = next(self._turn)
        for offset in range(len(self.upstreams)):
            host, port = self.upstreams[(start + offset) % len(self.upstreams)]
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                    return await asyncio.open_connection(host, port)
            except (OSError, TimeoutError):
                continue
        return None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, asyncio.CancelledError):
        await writer.wait_closed()


class FrontThread:
    """A `RoundRobinFront` on its own event loop in a daemon thread (for tests and benchmarks)."""

    def __init__(self, front: RoundRobinFront) -> None:
        self.front = front
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="cluster-front", daemon=True)

    def start(self) -> None:
        """Start the loop and listen."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.front.start(), self.loop).result(10)

    def stop(self) -> None:
        """Stop the front and its loop."""
        asyncio.run_coroutine_threadsafe(self.front.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class Cluster:
    """Migrate, N app instances on consecutive ports, one scheduler worker, and a front."""

    def __init__(
        self,
        *,
        instances: int = 2,
        host: str = "127.0.0.1",
        port: int = 8000,
        instance_ports: list[int] | None = None,
        env: Mapping[str, str] | None = None,
        log_dir: Path | None = None,
        scheduler: bool = True,
    ) -> None:
        if instances < 1:
            raise ValueError("a cluster needs at least one instance")
        self.host = host
        self.port = port
        self.instance_ports = instance_ports or [port + 1 + i for i in range(instances)]
        if len(self.instance_ports) != instances:
            raise ValueError("give one port per instance")
        self.log_dir = log_dir
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            # The front passes bytes through and adds no X-Forwarded-For, and every connection
            # reaches an instance from loopback: trusting loopback's header would let any client
            # name its own address (and dodge the per-address limits). Trust no proxy by default.
            "LIVECOMMERCE_FORWARDED_ALLOW_IPS": "",
            **(env or {}),
            # Instances never run jobs; the worker below does, behind the leader lock.
            "LIVECOMMERCE_SCHEDULER_MODE": "worker",
        }
        self.instances = [
            ManagedProcess(f"app-{i + 1}", cli_command("serve", "--host", host, "--port", str(p)), self.env, self._log(f"app-{i + 1}"))
            for i, p in enumerate(self.instance_ports)
        ]
        self.scheduler = ManagedProcess("scheduler", cli_command("scheduler"), self.env, self._log("scheduler")) if scheduler else None
        self.front = RoundRobinFront(host, port, [(host, p) for p in self.instance_ports])

    @property
    def url(self) -> str:
        """The front's base URL."""
        return f"http://{self.host}:{self.front.port}"

    def instance_url(self, index: int) -> str:
        """The base URL of instance `index` (0-based)."""
        return f"http://{self.host}:{self.instance_ports[index]}"

    def migrate(self) -> None:
        """Run `livecommerce migrate` once, before any instance starts."""
        result = subprocess.run(cli_command("migrate"), env=self.env, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603
        if result.returncode != 0:
            raise RuntimeError(f"livecommerce migrate failed: {result.stderr[-2000:]}")

    def start_processes(self) -> None:
        """Migrate, start every instance (waiting until each answers) and the scheduler worker."""
        self.migrate()
        for process in self.instances:
            process.start()
        for index in range(len(self.instances)):
            self.wait_healthy(index)
        if self.scheduler is not None:
            self.scheduler.start()

    def start_instance(self, index: int, *, wait: bool = True) -> None:
        """Start instance `index` again (after a crash or a stop)."""
        self.instances[index].start()
        if wait:
            self.wait_healthy(index)

    def wait_healthy(self, index: int, timeout: float = 60.0) -> None:
        """Wait until instance `index` answers `/healthz`."""
        process, url = self.instances[index], self.instance_url(index)
        deadline = time.monotonic() + timeout
        while True:
            if not process.running:
                raise RuntimeError(f"{process.name} exited with {process.process and process.process.returncode}{self._tail(process)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{process.name} did not become healthy{self._tail(process)}")
            time.sleep(0.1)

    def stop_processes(self) -> None:
        """Stop the scheduler and every instance gracefully (SIGTERM), all at once."""
        everyone = [*self.instances, *([self.scheduler] if self.scheduler else [])]
        for process in everyone:
            process.send_signal(signal.SIGTERM)
        for process in everyone:
            process.wait()

    async def serve_front(self, stop: asyncio.Event) -> None:
        """Run the front on this loop until `stop` is set."""
        await self.front.start()
        try:
            await stop.wait()
        finally:
            await self.front.stop()

    def _log(self, name: str) -> Path | None:
        return self.log_dir / f"{name}.log" if self.log_dir is not None else None

    @staticmethod
    def _tail(process: ManagedProcess) -> str:
        if process.log_path is None or not process.log_path.exists():
            return ""
        return ":\n" + process.log_path.read_text(errors="replace")[-3000:]


def run_cluster(instances: int, host: str, port: int, log_dir: Path | None = None) -> None:
    """Run a cluster in the foreground until SIGINT or SIGTERM, then stop it gracefully."""
    cluster = Cluster(instances=instances, host=host, port=port, log_dir=log_dir)
    cluster.start_processes()

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        log.info("cluster_ready", front=cluster.url, instances=[cluster.instance_url(i) for i in range(instances)])
        await cluster.serve_front(stop)

    try:
        asyncio.run(_main())
    finally:
        cluster.stop_processes()
