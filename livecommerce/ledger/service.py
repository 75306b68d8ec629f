"""Posting paid sales to the double-entry ledger, and reversing them on refund.

A sale debits the clearing account (money received) with each line's amount and credits
every split party its share; a refund posts the mirror image, linked to the sale. Entries
are only ever inserted. Account balances and the sales aggregates move in the same
transaction, each account and aggregate row touched once per posting and always in the
same order (sorted keys), so concurrent postings serialize on the rows they share without
deadlocking. Idempotency and the at-most-once reversal rest on unique constraints.

Every entry names the bucket of its account it moves, `pending` or `settled`: sales post to
pending, the settlement transfer moves an order's amounts to settled, and a reversal takes
from whichever bucket the order is in (the rule is in `settlement`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.kit.errors import Conflict, InvalidState
from livecommerce.kit.i18n import _l
from livecommerce.kit.metrics import LEDGER_POSTINGS
from livecommerce.kit.tables import table_of
from livecommerce.ledger import settlement
from livecommerce.ledger.allocation import allocate
from livecommerce.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction, SalesAggregate, SalesDaily, SalesMinute

CLEARING = "clearing"
PLATFORM = "platform"
# Daily statistics are bucketed by the calendar day in China, the zone the contract displays in.
REPORTING_ZONE = ZoneInfo("Asia/Shanghai")

ACCOUNTS: Table = table_of(LedgerAccount)
TRANSACTIONS: Table = table_of(LedgerTransaction)
ENTRIES: Table = table_of(LedgerEntry)
AGGREGATES: Table = table_of(SalesAggregate)
DAILY: Table = table_of(SalesDaily)
MINUTES: Table = table_of(SalesMinute)

SALE_COUNTERS = ("orders", "units", "gross_fen")
REFUND_COUNTERS = ("refunded_orders", "refunded_units", "refunded_fen")
MINUTE_COUNTERS = ("paid_orders", "gmv_fen", "refunded_orders", "refunded_fen")


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
    # Set when the goods changed hands as the sale was made (a station's counter): the
    # settlement days count from then instead of from a later receipt.
    delivered_at: datetime | None = None


@dataclass(frozen=True)
class StreamTotals:
    """Running sales figures of one stream."""

    gmv_fen: int
    paid_orders: int
    units: int
    refunded_fen: int
    refunded_orders: int = 0
    refunded_units: int = 0

    @property
    def net_fen(self) -> int:
        """Sales less refunds."""
        return self.gmv_fen - self.refunded_fen


@dataclass(frozen=True)
class Leg:
    """One entry to be written: which account, which side, how much, and for which line."""

    party: str
    direction: str
    amount_fen: int
    order_line_id: int | None = None
    product_id: int | None = None
    county_id: int | None = None
    quantity: int | None = None
    bucket: str = settlement.PENDING

    def mirrored(self) -> Leg:
        """The same entry on the other side (for a reversal)."""
        return replace(self, direction="credit" if self.direction == "debit" else "debit")

    def in_bucket(self, bucket: str) -> Leg:
        """The same entry against the other part of the account's balance."""
        return replace(self, bucket=bucket)


def account_kind(party: str) -> str:
    """`household`, `station`, `county`, `platform` or `clearing`."""
    return party.split(":", 1)[0]


def balance_sign(party: str, direction: str) -> int:
    """+1 when an entry on this side raises the account's balance, -1 when it lowers it.

    Clearing holds money received, so debits raise it; every other account is money owed
    to a party, raised by credits.
    """
    debit_normal = party == CLEARING
    return 1 if (direction == "debit") == debit_normal else -1


def sale_legs(sale: Sale) -> list[Leg]:
    """The entries of a sale: per line, a clearing debit and one credit per party with a share."""
    if not sale.lines:
        raise ValueError("a sale needs at least one line")
    total = sum(line.amount_fen for line in sale.lines)
    if sale.total_fen and sale.total_fen != total:
        raise ValueError(f"sale total {sale.total_fen} differs from its lines' sum {total}")
    legs: list[Leg] = []
    for line in sale.lines:
        if line.amount_fen <= 0 or line.quantity <= 0:
            raise ValueError("a sale line needs a positive amount and quantity")
        received = Leg(
            CLEARING, "debit", line.amount_fen, line.order_line_id, line.product_id, line.county_id, line.quantity, settlement.PENDING
        )
        legs.append(received)
        for party, share in allocate(line.amount_fen, line.splits):
            if share:
                legs.append(replace(received, party=party, direction="credit", amount_fen=share, quantity=None))
    return legs


def _upsert(session: AsyncSession, table: Table) -> Any:
    """INSERT with ON CONFLICT support for the session's backend."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


async def _open_transaction(
    session: AsyncSession, *, kind: str, order_id: int, channel: str, stream_id: int | None, reverses_id: int | None, now: datetime
) -> int | None:
    """Insert the journal transaction; None if the unique constraints say it exists already.

    ON CONFLICT DO NOTHING instead of a check: a concurrent duplicate waits on the unique
    index until the first commits and then inserts nothing.
    """
    values = {"kind": kind, "order_id": order_id, "channel": channel, "stream_id": stream_id, "reverses_id": reverses_id, "created_at": now}
    stmt = _upsert(session, TRANSACTIONS).values(values).on_conflict_do_nothing().returning(TRANSACTIONS.c.id)
    tx_id = (await session.execute(stmt)).scalar()
    return None if tx_id is None else int(tx_id)


async def _write_entries(session: AsyncSession, postings: list[tuple[int, list[Leg]]], now: datetime) -> None:
    """Move each account's balance and its pending and settled parts once for all the postings (creating it on first use),
    then insert every posting's entries.

    The deltas of every posting are summed per account first, so a batch of sales takes each
    account row (the platform's and the county's, hot in every sale) once, not once per sale.
    """
    deltas: dict[str, dict[str, int]] = defaultdict(lambda: {"balance_fen": 0, "pending_fen": 0, "settled_fen": 0})
    for _, legs in postings:
        for leg in legs:
            if leg.bucket not in settlement.BUCKETS:
                raise ValueError(f"unknown bucket {leg.bucket!r}")
            effect = balance_sign(leg.party, leg.direction) * leg.amount_fen
            deltas[leg.party]["balance_fen"] += effect
            deltas[leg.party][f"{leg.bucket}_fen"] += effect
    rows = [{"party": p, "kind": account_kind(p), **deltas[p], "created_at": now} for p in sorted(deltas)]
    # One statement for every account of the postings (executemany, so it compiles once and
    # is cached); rows are locked in the sorted order of `rows`.
    account_ids = {party: account_id for account_id, party in (await session.execute(_upsert_accounts(session), rows)).all()}
    entries = [
        {
            "transaction_id": transaction_id,
            "account_id": account_ids[leg.party],
            "direction": leg.direction,
            "bucket": leg.bucket,
            "amount_fen": leg.amount_fen,
            "order_line_id": leg.order_line_id,
            "product_id": leg.product_id,
            "county_id": leg.county_id,
            "quantity": leg.quantity,
            "created_at": now,
        }
        for transaction_id, legs in postings
        for leg in legs
    ]
    await session.execute(_INSERT_ENTRIES, entries)


def _upsert_accounts(session: AsyncSession) -> Any:
    """The accounts' upsert adding deltas to the running totals, for the session's backend (built once per backend)."""
    dialect = session.get_bind().dialect.name
    stmt = _ACCOUNT_UPSERTS.get(dialect)
    if stmt is None:
        upsert = _upsert(session, ACCOUNTS)
        stmt = _ACCOUNT_UPSERTS[dialect] = upsert.on_conflict_do_update(
            index_elements=[ACCOUNTS.c.party],
            set_={c: ACCOUNTS.c[c] + upsert.excluded[c] for c in ("balance_fen", "pending_fen", "settled_fen")},
        ).returning(ACCOUNTS.c.id, ACCOUNTS.c.party, sort_by_parameter_order=True)
    return stmt


_ACCOUNT_UPSERTS: dict[str, Any] = {}
_INSERT_ENTRIES = insert(ENTRIES)


def _counter_names(refund: bool) -> tuple[str, str, str]:
    orders, units, gross = REFUND_COUNTERS if refund else SALE_COUNTERS
    return orders, units, gross


def stream_aggregate_rows(stream_id: int, legs: Iterable[Leg], *, refund: bool) -> list[dict[str, Any]]:
    """The aggregate increments of one sale's legs (always the sale's own, uncrossed legs)."""
    orders, units, gross = _counter_names(refund)
    rows: dict[tuple[int, str], dict[str, Any]] = {}

    def row(product_id: int, party: str, county_id: int) -> dict[str, Any]:
        key = (product_id, party)
        if key not in rows:
            rows[key] = {"stream_id": stream_id, "product_id": product_id, "party": party, "county_id": county_id}
            rows[key].update(dict.fromkeys(SALE_COUNTERS + REFUND_COUNTERS, 0))
        return rows[key]

    whole = row(0, "", 0)
    whole[orders] = 1
    for leg in legs:
        product_id, county_id = leg.product_id or 0, leg.county_id or 0
        if leg.party == CLEARING:
            whole[units] += leg.quantity or 0
            whole[gross] += leg.amount_fen
            line = row(product_id, "", county_id)
            line[orders] = 1
            line[units] += leg.quantity or 0
            line[gross] += leg.amount_fen
        else:
            row(product_id, leg.party, county_id)[gross] += leg.amount_fen
    return [rows[key] for key in sorted(rows)]


def daily_rows(day: date, channel: str, legs: Iterable[Leg], *, refund: bool) -> list[dict[str, Any]]:
    """The per-(day, county, channel) increments of one sale's legs."""
    orders, units, gross = _counter_names(refund)
    household = "refunded_household_fen" if refund else "household_fen"
    rows: dict[int, dict[str, Any]] = {}
    for leg in legs:
        county_id = leg.county_id or 0
        if county_id not in rows:
            rows[county_id] = {"day": day, "county_id": county_id, "channel": channel}
            rows[county_id].update(dict.fromkeys((*SALE_COUNTERS, *REFUND_COUNTERS, "household_fen", "refunded_household_fen"), 0))
            rows[county_id][orders] = 1
        if leg.party == CLEARING:
            rows[county_id][units] += leg.quantity or 0
            rows[county_id][gross] += leg.amount_fen
        elif account_kind(leg.party) == "household":
            rows[county_id][household] += leg.amount_fen
    return [rows[key] for key in sorted(rows)]


async def _add_to(session: AsyncSession, table: Table, key: list[str], rows: list[dict[str, Any]], counters: Iterable[str]) -> None:
    """Upsert increments into an aggregate table (rows already in key order)."""
    if not rows:
        return
    stmt = _upsert(session, table)
    stmt = stmt.on_conflict_do_update(index_elements=key, set_={c: table.c[c] + stmt.excluded[c] for c in counters})
    await session.execute(stmt, rows)


def minute_row(stream_id: int, legs: Iterable[Leg], *, now: datetime, refund: bool) -> dict[str, Any]:
    """The per-minute increment of one sale's legs: one order, and the clearing legs' amounts (the order's total)."""
    amount = sum(leg.amount_fen for leg in legs if leg.quantity is not None)
    orders, gross = ("refunded_orders", "refunded_fen") if refund else ("paid_orders", "gmv_fen")
    row: dict[str, Any] = {"stream_id": stream_id, "minute": floor_minute(now), **dict.fromkeys(MINUTE_COUNTERS, 0)}
    row[orders], row[gross] = 1, amount
    return row


def floor_minute(at: datetime) -> datetime:
    """The clock minute (UTC) a moment falls in, as `kit.buckets.minute_of` computes it in the database."""
    return at.astimezone(UTC).replace(second=0, microsecond=0)


def _summed(rows: Iterable[dict[str, Any]], key: tuple[str, ...], counters: Iterable[str]) -> list[dict[str, Any]]:
    """Increments of many postings added up per key, in key order (each aggregate row is then taken once)."""
    names = tuple(counters)
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        k = tuple(row[c] for c in key)
        if k in merged:
            for c in names:
                merged[k][c] += row[c]
        else:
            merged[k] = dict(row)
    return [merged[k] for k in sorted(merged)]


@dataclass(frozen=True)
class _Posting:
    """One sale's (or reversal's) legs as the running figures see them."""

    channel: str
    stream_id: int | None
    legs: list[Leg]


async def _aggregate(session: AsyncSession, postings: list[_Posting], *, now: datetime, refund: bool) -> None:
    """Move the running figures of the postings: the streams' rows, their minutes' rows, then the days' (always in this order).

    Every row is keyed by the stream (or the day and county), so postings of unrelated
    streams never wait on each other here; within a stream the whole-stream aggregate row
    is taken first, so the minute row adds no wait and no new lock order. The increments of
    all the postings are summed per row first: one update per row, whatever the batch.
    """
    counters = _counter_names(refund)
    in_streams = [p for p in postings if p.stream_id is not None]
    if in_streams:
        stream_rows = (row for p in in_streams for row in stream_aggregate_rows(p.stream_id or 0, p.legs, refund=refund))
        key = ("stream_id", "product_id", "party")
        await _add_to(session, AGGREGATES, list(key), _summed(stream_rows, key, SALE_COUNTERS + REFUND_COUNTERS), counters)
        minute_counters = ("refunded_orders", "refunded_fen") if refund else ("paid_orders", "gmv_fen")
        minute_rows = (minute_row(p.stream_id or 0, p.legs, now=now, refund=refund) for p in in_streams)
        await _add_to(
            session, MINUTES, ["stream_id", "minute"], _summed(minute_rows, ("stream_id", "minute"), MINUTE_COUNTERS), minute_counters
        )
    day = now.astimezone(REPORTING_ZONE).date()
    household = "refunded_household_fen" if refund else "household_fen"
    daily = (row for p in postings for row in daily_rows(day, p.channel, p.legs, refund=refund))
    day_counters = (*SALE_COUNTERS, *REFUND_COUNTERS, "household_fen", "refunded_household_fen")
    await _add_to(
        session,
        DAILY,
        ["day", "county_id", "channel"],
        _summed(daily, ("day", "county_id", "channel"), day_counters),
        (*counters, household),
    )


async def credit_sale(session: AsyncSession, sale: Sale, *, now: datetime) -> bool:
    """Post the balanced entries of a paid sale; False (and nothing posted) if it was posted before."""
    return sale.order_id in await credit_sales(session, [sale], now=now)


async def credit_sales(session: AsyncSession, sales: Sequence[Sale], *, now: datetime) -> set[int]:
    """Post the balanced entries of paid sales together; the orders posted now (a sale posted before posts nothing).

    One journal insert for all (ON CONFLICT DO NOTHING on the unique (order, kind): a
    concurrent duplicate waits on the index until the first commits, then inserts nothing),
    one balance update per account carrying the summed deltas, one insert of every entry,
    of every settlement row, and one update per aggregate row.
    """
    if not sales:
        return set()
    legs = {sale.order_id: sale_legs(sale) for sale in sales}
    if len(legs) != len(sales):
        raise ValueError("a batch credits each order once")
    ordered = sorted(sales, key=lambda s: s.order_id)  # the unique keys are taken in a fixed order
    rows = [
        {"kind": "sale", "order_id": s.order_id, "channel": s.channel, "stream_id": s.stream_id, "reverses_id": None, "created_at": now}
        for s in ordered
    ]
    opened = {int(order_id): int(tx_id) for tx_id, order_id in (await session.execute(_open_sales(session), rows)).all()}
    posted = [s for s in ordered if s.order_id in opened]
    if not posted:
        return set()
    await _write_entries(session, [(opened[s.order_id], legs[s.order_id]) for s in posted], now)
    await settlement.open_settlements(session, [(s.order_id, opened[s.order_id], s.delivered_at) for s in posted], now=now)
    await _aggregate(session, [_Posting(s.channel, s.stream_id, legs[s.order_id]) for s in posted], now=now, refund=False)
    LEDGER_POSTINGS.labels("sale").inc(len(posted))
    return set(opened)


def _open_sales(session: AsyncSession) -> Any:
    """The journal insert of many sales, returning the ids of the rows it made (built once per backend)."""
    dialect = session.get_bind().dialect.name
    stmt = _SALE_INSERTS.get(dialect)
    if stmt is None:
        stmt = _SALE_INSERTS[dialect] = (
            _upsert(session, TRANSACTIONS).on_conflict_do_nothing().returning(TRANSACTIONS.c.id, TRANSACTIONS.c.order_id)
        )
    return stmt


_SALE_INSERTS: dict[str, Any] = {}


async def reverse_sale(session: AsyncSession, order_id: int, *, now: datetime) -> None:
    """Post the exact reversal of an order's sale posting; Conflict if it was reversed already.

    The reversal takes the sale's amounts back from the bucket they are in: pending before
    the order settled, settled after (see `settlement`).
    """
    sale = (
        await session.execute(
            select(TRANSACTIONS.c.id, TRANSACTIONS.c.channel, TRANSACTIONS.c.stream_id).where(
                TRANSACTIONS.c.order_id == order_id, TRANSACTIONS.c.kind == "sale"
            )
        )
    ).first()
    if sale is None:
        raise InvalidState(_l("Order {order_id} has no sale posting to reverse.", order_id=order_id))
    bucket = await settlement.claim_for_refund(session, order_id, now=now)
    tx_id = await _open_transaction(
        session, kind="reversal", order_id=order_id, channel=sale.channel, stream_id=sale.stream_id, reverses_id=sale.id, now=now
    )
    if tx_id is None:
        raise Conflict(_l("Order {order_id} has been refunded already.", order_id=order_id))
    legs = await posted_legs(session, sale.id)
    await _write_entries(session, [(tx_id, [leg.mirrored().in_bucket(bucket) for leg in legs])], now)
    await _aggregate(session, [_Posting(sale.channel, sale.stream_id, legs)], now=now, refund=True)
    LEDGER_POSTINGS.labels("reversal").inc()


class _NotDue(Exception):
    """Rolls back a settlement's journal row when the order turned out not to be due (or was refunded)."""


async def settle_sale(session: AsyncSession, order_id: int, *, now: datetime, days: int) -> bool:
    """Move a delivered order's credits from pending to settled once `days` have passed; False when not due (or done before).

    One balanced transfer per order: for every leg of the sale, the same entry mirrored in
    the pending bucket and repeated in the settled one. The journal row, the claim on the
    order's settlement row and the entries commit together, or (not due, refunded) not at all.

    The journal row goes first on purpose: its foreign key takes a share lock on the order's
    row, so a settlement meets a refund (which locks the order row, then the settlement row)
    in the same order, order row before settlement row, and the two cannot deadlock.
    """
    sale = (
        await session.execute(
            select(TRANSACTIONS.c.id, TRANSACTIONS.c.channel, TRANSACTIONS.c.stream_id).where(
                TRANSACTIONS.c.order_id == order_id, TRANSACTIONS.c.kind == "sale"
            )
        )
    ).first()
    if sale is None:
        return False
    try:
        async with session.begin_nested():
            tx_id = await _open_transaction(
                session, kind="settlement", order_id=order_id, channel=sale.channel, stream_id=sale.stream_id, reverses_id=None, now=now
            )
            if tx_id is None:
                return False  # settled before (a second scheduler waited on the unique key, then found it taken)
            if await settlement.claim_for_settlement(session, order_id, now=now, days=days) is None:
                raise _NotDue
    except _NotDue:
        return False
    transfer: list[Leg] = []
    for leg in await posted_legs(session, sale.id):
        # Units are counted once, on the sale's clearing leg; the transfer moves money only.
        moved = replace(leg, quantity=None)
        transfer += [moved.mirrored().in_bucket(settlement.PENDING), moved.in_bucket(settlement.SETTLED)]
    await _write_entries(session, [(tx_id, transfer)], now)
    LEDGER_POSTINGS.labels("settlement").inc()
    return True


async def posted_legs(session: AsyncSession, transaction_id: int) -> list[Leg]:
    """The entries of one journal transaction, in the order they were written."""
    rows = await session.execute(
        select(
            ACCOUNTS.c.party,
            ENTRIES.c.direction,
            ENTRIES.c.amount_fen,
            ENTRIES.c.order_line_id,
            ENTRIES.c.product_id,
            ENTRIES.c.county_id,
            ENTRIES.c.quantity,
            ENTRIES.c.bucket,
        )
        .join(ACCOUNTS, ACCOUNTS.c.id == ENTRIES.c.account_id)
        .where(ENTRIES.c.transaction_id == transaction_id)
        .order_by(ENTRIES.c.id)
    )
    return [Leg(*row) for row in rows.all()]


async def stream_totals(session: AsyncSession, stream_id: int) -> StreamTotals:
    """GMV, paid orders, units and refunds of a stream, from running aggregates."""
    row = (
        await session.execute(
            select(*(AGGREGATES.c[c] for c in SALE_COUNTERS + REFUND_COUNTERS)).where(
                AGGREGATES.c.stream_id == stream_id, AGGREGATES.c.product_id == 0, AGGREGATES.c.party == ""
            )
        )
    ).first()
    if row is None:
        return StreamTotals(gmv_fen=0, paid_orders=0, units=0, refunded_fen=0)
    orders, units, gross, refunded_orders, refunded_units, refunded_fen = (int(v) for v in row)
    return StreamTotals(
        gmv_fen=gross,
        paid_orders=orders,
        units=units,
        refunded_fen=refunded_fen,
        refunded_orders=refunded_orders,
        refunded_units=refunded_units,
    )
