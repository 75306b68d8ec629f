"""A real uvicorn server in a subprocess, on a free port, for browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """Start `livecommerce.main.app:create_app` under uvicorn with `env`; yield its base URL; stop it."""
    port = free_port()
    full_env = {**os.environ, "LIVECOMMERCE_RUN_SCHEDULER": "false", "LIVECOMMERCE_RATE_LIMITS_ENABLED": "false", **env}
    command = [
        sys.executable, "-m", "uvicorn", "livecommerce.main.app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--ws-per-message-deflate", "false", "--log-level", "warning",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"server exited with {process.returncode}: {log_path.read_text()[-2000:]}")
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {log_path.read_text()[-2000:]}")
                time.sleep(0.1)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
