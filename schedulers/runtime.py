"""Builds the scheduler component for an app instance."""

from __future__ import annotations

from fastapi import FastAPI

from livecommerce.components import Component


def build_scheduler(app: FastAPI) -> Component | None:
    """The in-process scheduler (embedded mode), or None when a worker runs the jobs."""
    return None
