"""Real servers for end-to-end tests: the app under uvicorn, and private redis-servers, as subprocesses.

    server = start_server({"LIVECOMMERCE_DATABASE_URL": url, "LIVECOMMERCE_REDIS_URL": redis_url})
    httpx.get(f"{server.url}/healthz")
    server.stop()            # SIGTERM, waits, returns the exit code (kill() if it hangs)

Each server logs to a temporary file; `server.log()` returns it (handy in assertion messages).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerHandle:
    """A running app server."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def ws_url(self) -> str:
        """The ws:// base URL."""
        return self.url.replace("http://", "ws://", 1)

    def log(self) -> str:
        """Everything the server wrote so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send `sig` and wait for the exit code; kill the process if it does not exit in time."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                return self.kill()
        return int(self.process.returncode)

    def wait(self, timeout: float = 20.0) -> int:
        """Wait for the process to exit by itself; its exit code."""
        return self.process.wait(timeout)

    def kill(self) -> int:
        """SIGKILL (a crash) and wait."""
        if self.process.poll() is None:
            self.process.kill()
        return self.process.wait(10)


def start_server(env: dict[str, str], port: int | None = None, *, ready_timeout: float = 60.0, args: tuple[str, ...] = ()) -> ServerHandle:
    """Start `livecommerce serve` with `env` on top of this process's environment; return once /healthz answers."""
    port = port or free_port()
    log_file = tempfile.NamedTemporaryFile(prefix=f"lc-server-{port}-", suffix=".log", delete=False)  # noqa: SIM115
    command = [
        sys.executable,
        "-c",
        "from livecommerce.main.cli import main; main()",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *args,
    ]
    process = subprocess.Popen(command, env={**os.environ, **env}, stdout=log_file, stderr=subprocess.STDOUT, cwd=ROOT)
    handle = ServerHandle(f"http://127.0.0.1:{port}", port, process, Path(log_file.name))
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{handle.log()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{handle.url}/healthz", timeout=1).status_code == 200:
                return handle
        time.sleep(0.1)
    handle.kill()
    raise RuntimeError(f"server not up after {ready_timeout}s:\n{handle.log()}")
