"""The daily reconciliation: each provider's bill of a day against the payments and refunds recorded here.

Three kinds of difference: money the provider took (or returned) that no payment here records,
a payment here that the provider's bill of its day does not hold, and one both hold with
different amounts. A bill line is looked up among payments of any day (a notification may
arrive after midnight); a payment here is looked for only in the bill of the day it was
recorded, so one settled in the last minutes of a day can show until the next day's run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, or_, select

from livecommerce.kit.errors import Forbidden
from livecommerce.kit.metrics import RECONCILIATION_DIFFERENCES
from livecommerce.kit.principal import Principal
from livecommerce.orders.models import Payment
from livecommerce.payments.base import BillEntry, PaymentProvider

DifferenceKind = Literal["paid_there_not_here", "here_not_there", "amount_mismatch"]
DIFFERENCE_KINDS: tuple[DifferenceKind, ...] = ("paid_there_not_here", "here_not_there", "amount_mismatch")
REFUND_PREFIX = "refund:"  # how a refund's own payment row names the transaction it returns


@dataclass(frozen=True)
class Difference:
    """One line where the provider's books and ours disagree."""

    kind: DifferenceKind
    entry: Literal["payment", "refund"]
    order_id: int
    provider_txn_id: str
    provider_amount_fen: int | None
    our_amount_fen: int | None


@dataclass(frozen=True)
class Reconciliation:
    """The outcome of comparing one provider's bill of one day with the payments here."""

    provider: str
    day: date
    bill_lines: int
    differences: list[Difference]


def _key(payment: Payment) -> tuple[str, str]:
    if payment.kind == "refund":
        return "refund", payment.provider_txn_id.removeprefix(REFUND_PREFIX)
    return "payment", payment.provider_txn_id


async def reconcile(session: AsyncSession, principal: Principal, provider: PaymentProvider, day: date, *, tz: ZoneInfo) -> Reconciliation:
    """Compare the provider's bill of `day` (in `tz`) with the payments here (admins); the differences also go to /metrics."""
    if not principal.is_admin:
        raise Forbidden("Only an admin may reconcile payments.")
    bill = await provider.bill(day)
    start = datetime.combine(day, time.min, tzinfo=tz)
    txns = {e.provider_txn_id for e in bill}
    named = await session.scalars(
        select(Payment).where(
            col(Payment.provider) == provider.name,
            or_(col(Payment.provider_txn_id).in_(txns), col(Payment.provider_txn_id).in_([REFUND_PREFIX + t for t in txns])),
        )
    )
    ours = {_key(p): p for p in named.all()}
    recorded = await session.scalars(
        select(Payment).where(
            col(Payment.provider) == provider.name, col(Payment.created_at) >= start, col(Payment.created_at) < start + timedelta(days=1)
        )
    )
    differences = [d for d in (_compare(entry, ours.get((entry.kind, entry.provider_txn_id))) for entry in bill) if d is not None]
    in_bill = {(e.kind, e.provider_txn_id) for e in bill}
    for payment in sorted(recorded.all(), key=lambda p: p.id or 0):
        entry, txn = _key(payment)
        if (entry, txn) not in in_bill:
            differences.append(
                Difference("here_not_there", "refund" if entry == "refund" else "payment", payment.order_id, txn, None, payment.amount_fen)
            )
    for kind in DIFFERENCE_KINDS:
        RECONCILIATION_DIFFERENCES.labels(provider.name, kind).set(sum(1 for d in differences if d.kind == kind))
    return Reconciliation(provider=provider.name, day=day, bill_lines=len(bill), differences=differences)


def _compare(entry: BillEntry, ours: Payment | None) -> Difference | None:
    if ours is None:
        return Difference("paid_there_not_here", entry.kind, entry.order_id, entry.provider_txn_id, entry.amount_fen, None)
    if ours.amount_fen != entry.amount_fen:
        return Difference("amount_mismatch", entry.kind, entry.order_id, entry.provider_txn_id, entry.amount_fen, ours.amount_fen)
    return None
