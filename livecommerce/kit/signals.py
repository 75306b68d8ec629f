"""In-transaction signals: a lower domain announces a change, a higher one reacts in the same session.

A domain low in the house (catalog) cannot call one above it (broadcasts) without an upward
import. It sends a signal instead; the composition root connects the handlers once at start-up.
Handlers run inside the sender's transaction, so what they write commits or rolls back with it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")
Handler = Callable[[AsyncSession, T], Awaitable[None]]


@dataclass
class Signal(Generic[T]):
    """A named change that handlers subscribe to; sending awaits each handler in turn."""

    name: str
    handlers: list[Handler[T]] = field(default_factory=list)

    def connect(self, handler: Handler[T]) -> None:
        """Subscribe `handler` (connecting the same handler twice keeps one)."""
        if handler not in self.handlers:
            self.handlers.append(handler)

    async def send(self, session: AsyncSession, payload: T) -> None:
        """Run every handler in the sender's session."""
        for handler in self.handlers:
            await handler(session, payload)


@dataclass(frozen=True)
class StockChange:
    """A product's buckets after a change (units free, held by unpaid orders, sold), and a deal's if one moved."""

    product_id: int
    stock: int
    reserved: int
    sold: int
    deal_id: int | None = None
    remaining: int | None = None


# Sent by the catalog's stock module for every change of a product's (or a deal's) buckets.
stock_changed: Signal[tuple[StockChange, ...]] = Signal("stock_changed")
