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

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, or_, select

from livecommerce.kit.db import Database
from livecommerce.kit.errors import Forbidden
from livecommerce.kit.i18n import _l
from livecommerce.kit.metrics import RECONCILIATION_DIFFERENCES
from livecommerce.kit.principal import Principal
from livecommerce.kit.settings import Settings
from livecommerce.orders.models import Payment
from livecommerce.payments.base import BillEntry, PaymentProvider
from livecommerce.payments.registry import REAL_PROVIDERS, PaymentProviders

log = structlog.get_logger(__name__)

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
    """An admin compares the provider's bill of `day` (in `tz`) with the payments here."""
    if not principal.is_admin:
        raise Forbidden(_l("Only an admin may reconcile payments."))
    return await reconcile_day(session, provider, day, tz=tz)


async def reconcile_previous_day(db: Database, providers: PaymentProviders, settings: Settings, now: datetime) -> list[Reconciliation]:
    """The daily job: yesterday's bill of each enabled real provider, each in its own session; one failing never stops the rest."""
    day = now.astimezone(settings.tz).date() - timedelta(days=1)
    results = []
    for name in providers.names:
        if name not in REAL_PROVIDERS:
            continue
        try:
            async with db.transaction() as session:
                result = await reconcile_day(session, providers.get(name), day, tz=settings.tz)
        except Exception:
            log.exception("payment_reconciliation_failed", provider=name, day=day.isoformat())
            continue
        for d in result.differences:
            log.warning("payment_reconciliation_difference", provider=name, day=day.isoformat(), **_fields(d))
        log.info(
            "payment_reconciliation_done",
            provider=name,
            day=day.isoformat(),
            bill_lines=result.bill_lines,
            differences=len(result.differences),
        )
        results.append(result)
    return results


def _fields(d: Difference) -> dict[str, object]:
    return {
        "kind": d.kind,
        "entry": d.entry,
        "order_id": d.order_id,
        "provider_txn_id": d.provider_txn_id,
        "provider_amount_fen": d.provider_amount_fen,
        "our_amount_fen": d.our_amount_fen,
    }


async def reconcile_day(session: AsyncSession, provider: PaymentProvider, day: date, *, tz: ZoneInfo) -> Reconciliation:
    """Compare the provider's bill of `day` (in `tz`) with the payments here; the differences also go to /metrics."""
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
