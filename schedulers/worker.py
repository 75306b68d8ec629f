"""`livecommerce scheduler`: the worker that runs the jobs at scale.

Start as many as you like; the leader lock lets one run the jobs while the others wait to take
over. Stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

import structlog

from livecommerce.clock import Clock
from livecommerce.db import Database, create_engine
from livecommerce.registry import load_models
from livecommerce.settings import Settings
from schedulers.notify import Notifier
from schedulers.runtime import build_component

log = structlog.get_logger(__name__)


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
    component = build_component(db, settings, clock or Clock(), notifier)
    log.info("scheduler_worker_started", holder=component.lock.holder)
    try:
        await component.start()
        await stop.wait()
    finally:
        await component.stop()
        await db.dispose()
        for sig in signals:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
        log.info("scheduler_worker_stopped", holder=component.lock.holder)
