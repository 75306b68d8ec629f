"""The double-entry ledger: accounts, journal transactions and their entries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from livecommerce.clock import utcnow
from livecommerce.types import UTCDateTime


class LedgerAccount(SQLModel, table=True):
    """One party's account (`household:12`, `station:3`, `county:1`, `platform`, `clearing`).

    `balance_fen` is a running total kept in step with the entries under a row lock; the
    entries are the truth and `GET /api/ledger/check` recomputes from them.
    """

    __tablename__ = "ledger_accounts"

    id: int | None = Field(default=None, primary_key=True)
    party: str = Field(max_length=64, unique=True, index=True)
    kind: str = Field(max_length=16)
    balance_fen: int = Field(default=0)
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
    kind: str = Field(max_length=16)  # sale | reversal
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
    amount_fen: int
    order_line_id: int | None = Field(default=None, foreign_key="order_lines.id")
    product_id: int | None = Field(default=None, foreign_key="products.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
