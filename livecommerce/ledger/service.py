"""Posting paid sales to the double-entry ledger, and reversing them on refund.

Interface fixed for the orders module; the ledger work fills in the bodies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class SaleLine:
    """One order line as the ledger needs it: its amount and the product's splits."""

    order_line_id: int
    product_id: int
    county_id: int
    quantity: int
    amount_fen: int
    splits: tuple[tuple[str, int], ...]  # (party, basis points), summing to 10000


@dataclass(frozen=True)
class Sale:
    """A paid order of any channel (live, unit_subscription, physical)."""

    order_id: int
    channel: str
    stream_id: int | None
    lines: tuple[SaleLine, ...]
    total_fen: int = field(default=0)


@dataclass(frozen=True)
class StreamTotals:
    """Running sales figures of one stream."""

    gmv_fen: int
    paid_orders: int
    units: int
    refunded_fen: int


async def credit_sale(session: AsyncSession, sale: Sale, *, now: datetime) -> bool:
    """Post the balanced entries of a paid sale; False (and nothing posted) if it was posted before."""
    raise NotImplementedError


async def reverse_sale(session: AsyncSession, order_id: int, *, now: datetime) -> None:
    """Post the exact reversal of an order's sale posting; Conflict if it was reversed already."""
    raise NotImplementedError


async def stream_totals(session: AsyncSession, stream_id: int) -> StreamTotals:
    """GMV, paid orders, units and refunds of a stream, from running aggregates."""
    raise NotImplementedError
