"""`stock.changed` for every live stream that features a product whose buckets moved, whoever moved them.

The catalog's stock module records each change and sends `kit.signals.stock_changed`; the
composition root connects `on_stock_changed` to it. A caller that writes its own events in
the same transaction (order placement) passes them to `append_with_stock_changes`, so every
stream's counter is locked once, in ascending stream order, whatever the streams involved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.broadcasts.events import EventType, append_events
from livecommerce.broadcasts.models import Stream, StreamProduct, StreamStatus
from livecommerce.kit.signals import StockChange

_STREAMS: Table = Stream.__table__  # type: ignore[attr-defined]  # SQLModel declares __table__ only at runtime
_FEATURED: Table = StreamProduct.__table__  # type: ignore[attr-defined]  # likewise
_LIVE_FEATURING = (
    select(_FEATURED.c.stream_id, _FEATURED.c.product_id)
    .join(_STREAMS, _STREAMS.c.id == _FEATURED.c.stream_id)
    .where(_FEATURED.c.product_id.in_(bindparam("product_ids", expanding=True)), _STREAMS.c.status == StreamStatus.live.value)
    .order_by(_FEATURED.c.stream_id, _FEATURED.c.product_id)
)

StreamEvents = Sequence[tuple[EventType | str, dict[str, Any]]]


def stock_event_data(change: StockChange) -> dict[str, int]:
    """The `stock.changed` payload (with the deal's remaining units when a deal moved)."""
    data = {"product_id": change.product_id, "stock": change.stock, "reserved": change.reserved, "sold": change.sold}
    if change.deal_id is not None and change.remaining is not None:
        data["deal_id"] = change.deal_id
        data["remaining"] = change.remaining
    return data


async def live_streams_featuring(session: AsyncSession, product_ids: Sequence[int]) -> dict[int, set[int]]:
    """The live streams featuring any of `product_ids`, with the ones each features."""
    if not product_ids:
        return {}
    featured: dict[int, set[int]] = {}
    for stream_id, product_id in (await session.execute(_LIVE_FEATURING, {"product_ids": sorted(set(product_ids))})).all():
        featured.setdefault(stream_id, set()).add(product_id)
    return featured


async def append_with_stock_changes(
    session: AsyncSession, own: Mapping[int, StreamEvents], changes: Sequence[StockChange], *, ts: datetime | None = None
) -> None:
    """Append each stream's own events, then `stock.changed` for the changes it features, streams in ascending order."""
    featured = await live_streams_featuring(session, [change.product_id for change in changes])
    for stream_id in sorted(set(own) | set(featured)):
        events = list(own.get(stream_id, ()))
        products = featured.get(stream_id, set())
        events += [(EventType.stock_changed, stock_event_data(change)) for change in changes if change.product_id in products]
        if events:
            await append_events(session, stream_id, events, ts=ts)


async def on_stock_changed(session: AsyncSession, changes: tuple[StockChange, ...]) -> None:
    """The `stock_changed` handler: tell every live stream featuring a changed product."""
    await append_with_stock_changes(session, {}, changes)
