"""Builds the relay component for an app instance."""

from __future__ import annotations

from fastapi import FastAPI

from livecommerce.components import Component


def build_relay(app: FastAPI) -> Component | None:
    """The relay that fans outbox events out to websocket viewers."""
    return None
