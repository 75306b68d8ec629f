"""The double-entry ledger: accounts, journal transactions and their entries."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from livecommerce.kit.clock import utcnow
from livecommerce.kit.types import UTCDateTime


class LedgerAccount(SQLModel, table=True):
    """One party's account (`household:12`, `station:3`, `county:1`, `platform`, `clearing`).

    `balance_fen` is a running total kept in step with the entries under a row lock; the
    entries are the truth and `GET /api/ledger/check` recomputes from them. It is split in
    two running totals, `pending_fen` (credits of orders not yet settled) and `settled_fen`,
    which always add up to it (see `settlement`).
    """

    __tablename__ = "ledger_accounts"

    id: int | None = Field(default=None, primary_key=True)
    party: str = Field(max_length=64, unique=True, index=True)
    kind: str = Field(max_length=16)
    balance_fen: int = Field(default=0, sa_type=BigInteger)  # 32 bits would overflow at ~21M yuan
    pending_fen: int = Field(default=0, sa_type=BigInteger)
    settled_fen: int = Field(default=0, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LedgerTransaction(SQLModel, table=True):
    """A balanced group of entries: one sale, or the reversal of one."""

    __tablename__ = "ledger_transactions"
    __table_args__ = (
        # One sale posting per order, and at most one reversal of any posting: by constraint.
        UniqueConstraint("order_id", "kind", name="uq_ledger_transactions_order_kind"),
        UniqueConstraint("reverses_id", name="uq_ledger_transactions_reverses"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # sale | reversal | settlement
    order_id: int = Field(foreign_key="orders.id", index=True)
    channel: str = Field(max_length=32)
    stream_id: int | None = Field(default=None, index=True)
    reverses_id: int | None = Field(default=None, foreign_key="ledger_transactions.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class LedgerEntry(SQLModel, table=True):
    """One side of a transaction: a debit or a credit of one account. Never updated or deleted."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_pos"),
        CheckConstraint("direction IN ('debit', 'credit')", name="direction"),
        Index("ix_ledger_entries_account_created", "account_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    transaction_id: int = Field(foreign_key="ledger_transactions.id", index=True)
    account_id: int = Field(foreign_key="ledger_accounts.id")
    direction: str = Field(max_length=8)
    # Which part of the account's balance the entry moves: `pending` (an order not yet
    # settled) or `settled`. A settlement moves an order's amounts from one to the other.
    bucket: str = Field(max_length=8)
    amount_fen: int = Field(sa_type=BigInteger)
    order_line_id: int | None = Field(default=None, foreign_key="order_lines.id")
    product_id: int | None = Field(default=None, foreign_key="products.id")
    # The county the line's produce came from, and (on the clearing side only) its units:
    # enough to rebuild every report from the entries alone.
    county_id: int | None = Field(default=None)
    quantity: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SaleSettlement(SQLModel, table=True):
    """Where one sale's credits are: `pending` until delivered and held for the settlement days,
    then `settled`; `refunded` once reversed (from whichever bucket they were in).

    The ledger's own copy of the delivery time (the orders domain tells it), so the settlement
    job needs no other domain's tables. Status changes are compare-and-set on this row, the
    one row a settlement and a refund of the same order both take.
    """

    __tablename__ = "ledger_settlements"
    __table_args__ = (Index("ix_ledger_settlements_status_delivered_at", "status", "delivered_at"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", unique=True)
    sale_transaction_id: int = Field(foreign_key="ledger_transactions.id", unique=True)
    status: str = Field(default="pending", max_length=16)  # pending | settled | refunded
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    settled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    refunded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SalesAggregate(SQLModel, table=True):
    """Running sales figures of one stream, kept in the same transaction as each posting.

    `product_id = 0` is the stream as a whole; `party = ''` is one product's lines; a row
    with both set is one party's share of one product. Reports read these few rows
    instead of scanning entries, so they stay fast however many orders a stream has.
    """

    __tablename__ = "sales_aggregates"
    __table_args__ = (UniqueConstraint("stream_id", "product_id", "party", name="uq_sales_aggregates_key"),)

    id: int | None = Field(default=None, primary_key=True)
    stream_id: int
    product_id: int
    party: str = Field(default="", max_length=64)
    county_id: int = Field(default=0)
    orders: int = Field(default=0, sa_type=BigInteger)
    units: int = Field(default=0, sa_type=BigInteger)
    gross_fen: int = Field(default=0, sa_type=BigInteger)
    refunded_orders: int = Field(default=0, sa_type=BigInteger)
    refunded_units: int = Field(default=0, sa_type=BigInteger)
    refunded_fen: int = Field(default=0, sa_type=BigInteger)


class SalesDaily(SQLModel, table=True):
    """Sales of one county's produce through one channel on one day (Asia/Shanghai), for statistics.

    Sales count on the day they were paid, refunds on the day they were refunded.
    """

    __tablename__ = "sales_daily"
    __table_args__ = (UniqueConstraint("day", "county_id", "channel", name="uq_sales_daily_key"),)

    id: int | None = Field(default=None, primary_key=True)
    day: date
    county_id: int
    channel: str = Field(max_length=32)
    orders: int = Field(default=0, sa_type=BigInteger)
    units: int = Field(default=0, sa_type=BigInteger)
    gross_fen: int = Field(default=0, sa_type=BigInteger)
    household_fen: int = Field(default=0, sa_type=BigInteger)
    refunded_orders: int = Field(default=0, sa_type=BigInteger)
    refunded_units: int = Field(default=0, sa_type=BigInteger)
    refunded_fen: int = Field(default=0, sa_type=BigInteger)
    refunded_household_fen: int = Field(default=0, sa_type=BigInteger)


class SalesMinute(SQLModel, table=True):
    """What one stream's postings added up to in one clock minute (UTC), kept in the same transaction as each posting.

    A sale counts at the minute it was posted (paid), a reversal at its own minute (the
    refund); the amounts are the clearing legs', i.e. the orders' totals. The post-stream
    review's timeline reads these rows instead of grouping the entries.
    """

    __tablename__ = "sales_minutes"

    stream_id: int = Field(primary_key=True)
    minute: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    paid_orders: int = Field(default=0, sa_type=BigInteger)
    gmv_fen: int = Field(default=0, sa_type=BigInteger)
    refunded_orders: int = Field(default=0, sa_type=BigInteger)
    refunded_fen: int = Field(default=0, sa_type=BigInteger)
