"""Long-running parts of an app instance (the relay, the scheduler) with a start/stop life."""

from __future__ import annotations

from typing import Protocol


class Component(Protocol):
    """Something the app starts after the database is ready and stops before it closes."""

    name: str

    async def start(self) -> None:
        """Start background work; return once it is running."""

    async def stop(self) -> None:
        """Stop background work, cancelling and awaiting every task it created."""
