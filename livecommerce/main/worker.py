"""`livecommerce scheduler`: the worker that runs the jobs at scale.

Start as many as you like; the leader lock lets one run the jobs while the others wait to take
over. Stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from wsgiref.simple_server import WSGIServer

import structlog
from prometheus_client import start_http_server

from livecommerce.kit.clock import Clock
from livecommerce.kit.db import Database, create_engine
from livecommerce.kit.metrics import REGISTRY
from livecommerce.kit.settings import Settings
from livecommerce.main.app import wire_database
from livecommerce.main.registry import load_models
from schedulers.notify import Notifier
from schedulers.runtime import build_component

log = structlog.get_logger(__name__)


def _serve_metrics(settings: Settings) -> WSGIServer | None:
    """Serve this worker's Prometheus metrics (job runs and failures) on its own port, if configured."""
    if settings.worker_metrics_port is None:
        return None
    server, _thread = start_http_server(settings.worker_metrics_port, addr=settings.worker_metrics_host, registry=REGISTRY)
    return server


async def run_worker(
    settings: Settings, *, stop: asyncio.Event | None = None, clock: Clock | None = None, notifier: Notifier | None = None
) -> None:
    """Contend for leadership and run the jobs until `stop` is set or a signal arrives."""
    load_models()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT) if stop is None else ()
    stop = stop or asyncio.Event()
    for sig in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    db = Database(create_engine(settings))
    wire_database(db)
    component = build_component(db, settings, clock or Clock(), notifier)
    metrics_server = _serve_metrics(settings)
    log.info("scheduler_worker_started", holder=component.lock.holder, metrics_port=settings.worker_metrics_port)
    try:
        await component.start()
        await stop.wait()
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
        await component.stop()
        await db.dispose()
        for sig in signals:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
        log.info("scheduler_worker_stopped", holder=component.lock.holder)
