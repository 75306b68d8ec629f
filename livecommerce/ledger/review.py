"""The ledger's share of a post-stream review: when a stream's sales and refunds were posted, and many streams' totals at once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.kit.buckets import as_utc, minute_of
from livecommerce.ledger.service import AGGREGATES, ENTRIES, MINUTES, REFUND_COUNTERS, SALE_COUNTERS, TRANSACTIONS, StreamTotals


@dataclass
class MinuteSales:
    """What was posted for one stream in one clock minute: sales at the minute they were paid, refunds at theirs."""

    paid_orders: int = 0
    gmv_fen: int = 0
    refunded_orders: int = 0
    refunded_fen: int = 0


@dataclass
class CountyTotals:
    """One county's produce sold through a set of streams."""

    units: int = 0
    gmv_fen: int = 0
    refunded_fen: int = 0


async def sales_by_minute(session: AsyncSession, stream_id: int) -> dict[datetime, MinuteSales]:
    """Per clock minute (UTC): the stream's sale postings (paid orders and their gross) and reversals (refunds).

    Read from the running per-minute rows (`sales_minutes`): one row per minute with sales,
    however many orders the stream has. `recount_sales_by_minute` is the same from the entries.
    """
    rows = await session.execute(
        select(MINUTES.c.minute, MINUTES.c.paid_orders, MINUTES.c.gmv_fen, MINUTES.c.refunded_orders, MINUTES.c.refunded_fen).where(
            MINUTES.c.stream_id == stream_id
        )
    )
    return {
        as_utc(at): MinuteSales(paid_orders=int(p), gmv_fen=int(g), refunded_orders=int(ro), refunded_fen=int(rf))
        for at, p, g, ro, rf in rows.all()
        if p or g or ro or rf
    }


async def recount_sales_by_minute(session: AsyncSession, stream_id: int) -> dict[datetime, MinuteSales]:
    """`sales_by_minute` recomputed from the journal (a GROUP BY over every posting of the stream), to check the running rows.

    The clearing leg of every line carries the units and the line's full amount, so the
    sum of clearing legs per posting is the order's total, whatever the revenue split.
    """
    minute = minute_of(session, TRANSACTIONS.c.created_at).label("minute")
    rows = await session.execute(
        select(minute, TRANSACTIONS.c.kind, func.count(func.distinct(TRANSACTIONS.c.id)), func.sum(ENTRIES.c.amount_fen))
        .select_from(TRANSACTIONS.join(ENTRIES, ENTRIES.c.transaction_id == TRANSACTIONS.c.id))
        # Sales and refunds; settlement transfers move no units and are no sales.
        .where(TRANSACTIONS.c.stream_id == stream_id, TRANSACTIONS.c.kind.in_(("sale", "reversal")), ENTRIES.c.quantity.is_not(None))
        .group_by(minute, TRANSACTIONS.c.kind)
    )
    result: dict[datetime, MinuteSales] = defaultdict(MinuteSales)
    for at, kind, orders, amount in rows.all():
        bucket = result[as_utc(at)]
        if kind == "sale":
            bucket.paid_orders += int(orders)
            bucket.gmv_fen += int(amount or 0)
        else:
            bucket.refunded_orders += int(orders)
            bucket.refunded_fen += int(amount or 0)
    return dict(result)


async def totals_of_streams(session: AsyncSession, stream_ids: Iterable[int]) -> dict[int, StreamTotals]:
    """Each stream's running totals (zeros for a stream that sold nothing), in one query."""
    ids = sorted(set(stream_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(AGGREGATES.c.stream_id, *(AGGREGATES.c[c] for c in SALE_COUNTERS + REFUND_COUNTERS)).where(
            AGGREGATES.c.stream_id.in_(ids), AGGREGATES.c.product_id == 0, AGGREGATES.c.party == ""
        )
    )
    found: dict[int, StreamTotals] = {}
    for sid, orders, units, gross, refunded_orders, refunded_units, refunded_fen in rows.all():
        found[int(sid)] = StreamTotals(
            gmv_fen=int(gross),
            paid_orders=int(orders),
            units=int(units),
            refunded_fen=int(refunded_fen),
            refunded_orders=int(refunded_orders),
            refunded_units=int(refunded_units),
        )
    empty = StreamTotals(gmv_fen=0, paid_orders=0, units=0, refunded_fen=0)
    return {sid: found.get(sid, empty) for sid in ids}


async def county_totals_of_streams(session: AsyncSession, stream_ids: Iterable[int]) -> dict[int, CountyTotals]:
    """Sales of each county's produce through these streams, from the per-product aggregate rows."""
    ids = sorted(set(stream_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(
            AGGREGATES.c.county_id,
            func.sum(AGGREGATES.c.units),
            func.sum(AGGREGATES.c.gross_fen),
            func.sum(AGGREGATES.c.refunded_fen),
        )
        .where(AGGREGATES.c.stream_id.in_(ids), AGGREGATES.c.product_id != 0, AGGREGATES.c.party == "")
        .group_by(AGGREGATES.c.county_id)
    )
    return {int(cid): CountyTotals(units=int(u or 0), gmv_fen=int(g or 0), refunded_fen=int(r or 0)) for cid, u, g, r in rows.all()}


async def county_sales_of_streams(session: AsyncSession, stream_ids: Iterable[int]) -> dict[tuple[int, int], int]:
    """Net sales (refunds subtracted) of each county's produce in each stream, by (stream, county)."""
    ids = sorted(set(stream_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(AGGREGATES.c.stream_id, AGGREGATES.c.county_id, func.sum(AGGREGATES.c.gross_fen - AGGREGATES.c.refunded_fen))
        .where(AGGREGATES.c.stream_id.in_(ids), AGGREGATES.c.product_id != 0, AGGREGATES.c.party == "")
        .group_by(AGGREGATES.c.stream_id, AGGREGATES.c.county_id)
    )
    return {(int(sid), int(cid)): int(net or 0) for sid, cid, net in rows.all()}
