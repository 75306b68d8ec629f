"""The scheduler worker serves its own /metrics, so job runs and failures are visible at scale."""

from __future__ import annotations

import asyncio
import socket

import httpx

from livecommerce.kit.settings import Settings
from livecommerce.main.worker import run_worker


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TestWorkerMetrics:
    async def test_worker_serves_job_run_counts_on_its_metrics_port(self, settings: Settings) -> None:
        port = _free_port()
        worker_settings = settings.model_copy(
            update={"scheduler_mode": "worker", "worker_metrics_port": port, "sweep_interval_seconds": 1, "scheduler_retry_seconds": 0.2}
        )
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(worker_settings, stop=stop))
        try:
            text = ""
            async with httpx.AsyncClient() as client:
                for _ in range(150):
                    try:
                        r = await client.get(f"http://127.0.0.1:{port}/metrics")
                        text = r.text
                        if 'livecommerce_job_runs_total{job="sweep"' in text:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
            assert 'livecommerce_job_runs_total{job="sweep",outcome="ok"}' in text
        finally:
            stop.set()
            await asyncio.wait_for(worker, 30)
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, "the metrics port is closed when the worker stops"
