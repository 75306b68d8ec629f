"""Reading the books: balances (now or at a moment, pending and settled), an account's entries, and the balance proof."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.kit.pagination import PageParams
from livecommerce.ledger.schemas import AccountBalance, EntryPublic, LedgerCheck
from livecommerce.ledger.service import ACCOUNTS, CLEARING, ENTRIES, TRANSACTIONS, account_kind, balance_sign
from livecommerce.ledger.settlement import PENDING, REFUNDED, SETTLED, SETTLEMENTS


def signed_amount() -> Any:
    """An entry's effect on its account's balance (needs ACCOUNTS joined)."""
    is_clearing, amount = ACCOUNTS.c.party == CLEARING, ENTRIES.c.amount_fen
    return case(
        (and_(is_clearing, ENTRIES.c.direction == "debit"), amount),
        (is_clearing, -amount),
        (ENTRIES.c.direction == "credit", amount),
        else_=-amount,
    )


def bucket_amount(bucket: str) -> Any:
    """An entry's effect on one part (`pending` or `settled`) of its account's balance (needs ACCOUNTS joined)."""
    return case((ENTRIES.c.bucket == bucket, signed_amount()), else_=0)


async def account_balance(session: AsyncSession, party: str, *, as_of: datetime | None = None) -> AccountBalance:
    """The running balance and its parts now, or the sums of entries up to `as_of`; zero for an account never used."""
    if as_of is None:
        row = (
            await session.execute(
                select(ACCOUNTS.c.balance_fen, ACCOUNTS.c.pending_fen, ACCOUNTS.c.settled_fen).where(ACCOUNTS.c.party == party)
            )
        ).first()
    else:
        row = (
            await session.execute(
                select(func.sum(signed_amount()), func.sum(bucket_amount(PENDING)), func.sum(bucket_amount(SETTLED)))
                .select_from(ENTRIES.join(ACCOUNTS, ACCOUNTS.c.id == ENTRIES.c.account_id))
                .where(ACCOUNTS.c.party == party, ENTRIES.c.created_at <= as_of)
            )
        ).first()
    balance, pending, settled = (int(v or 0) for v in (row or (0, 0, 0)))
    return AccountBalance(party=party, kind=account_kind(party), balance_fen=balance, pending_fen=pending, settled_fen=settled, as_of=as_of)


async def account_entries(
    session: AsyncSession, party: str, page: PageParams, *, since: datetime | None = None, until: datetime | None = None
) -> tuple[list[EntryPublic], str | None]:
    """One page of an account's entries, oldest first."""
    stmt = (
        select(
            ENTRIES.c.id,
            ENTRIES.c.transaction_id,
            TRANSACTIONS.c.kind,
            TRANSACTIONS.c.order_id,
            TRANSACTIONS.c.channel,
            TRANSACTIONS.c.stream_id,
            ENTRIES.c.direction,
            ENTRIES.c.bucket,
            ENTRIES.c.amount_fen,
            ENTRIES.c.product_id,
            ENTRIES.c.created_at,
        )
        .select_from(
            ENTRIES.join(ACCOUNTS, ACCOUNTS.c.id == ENTRIES.c.account_id).join(TRANSACTIONS, TRANSACTIONS.c.id == ENTRIES.c.transaction_id)
        )
        .where(ACCOUNTS.c.party == party)
        .order_by(ENTRIES.c.id)
        .limit(page.limit + 1)
    )
    if page.after_id is not None:
        stmt = stmt.where(ENTRIES.c.id > page.after_id)
    if since is not None:
        stmt = stmt.where(ENTRIES.c.created_at >= since)
    if until is not None:
        stmt = stmt.where(ENTRIES.c.created_at < until)
    rows = (await session.execute(stmt)).all()
    items = [
        EntryPublic(
            id=r.id,
            transaction_id=r.transaction_id,
            kind=r.kind,
            order_id=r.order_id,
            channel=r.channel,
            stream_id=r.stream_id,
            direction=r.direction,
            bucket=r.bucket,
            amount_fen=r.amount_fen,
            balance_effect_fen=balance_sign(party, r.direction) * r.amount_fen,
            product_id=r.product_id,
            created_at=r.created_at,
        )
        for r in rows[: page.limit]
    ]
    return items, (str(items[-1].id) if len(rows) > page.limit else None)


async def check_books(session: AsyncSession, *, as_of: datetime | None = None) -> LedgerCheck:
    """Recompute from the entries: debits against credits, each transaction, each running balance."""
    window = [] if as_of is None else [ENTRIES.c.created_at <= as_of]
    sums_by_side = await session.execute(
        select(ENTRIES.c.direction, func.sum(ENTRIES.c.amount_fen)).where(*window).group_by(ENTRIES.c.direction)
    )
    totals = {direction: total for direction, total in sums_by_side.all()}
    debits, credits = int(totals.get("debit") or 0), int(totals.get("credit") or 0)
    per_transaction = (
        select(ENTRIES.c.transaction_id)
        .where(*window)
        .group_by(ENTRIES.c.transaction_id)
        .having(func.sum(case((ENTRIES.c.direction == "debit", ENTRIES.c.amount_fen), else_=-ENTRIES.c.amount_fen)) != 0)
    ).subquery()
    unbalanced = int(await session.scalar(select(func.count()).select_from(per_transaction)) or 0)
    transactions = int(await session.scalar(select(func.count(func.distinct(ENTRIES.c.transaction_id))).where(*window)) or 0)
    accounts = int(await session.scalar(select(func.count()).select_from(ACCOUNTS)) or 0)
    mismatched: list[str] = []
    split_mismatched: list[str] = []
    if as_of is None:
        mismatched, split_mismatched = await _mismatched_accounts(session)
    unbalanced_settlements = await _unbalanced_settlements(session)
    return LedgerCheck(
        balanced=debits == credits and unbalanced == 0 and not mismatched and not split_mismatched and unbalanced_settlements == 0,
        total_debits_fen=debits,
        total_credits_fen=credits,
        transactions_checked=transactions,
        unbalanced_transactions=unbalanced,
        accounts_checked=accounts,
        mismatched_accounts=mismatched,
        split_mismatched_accounts=split_mismatched,
        unbalanced_settlements=unbalanced_settlements,
        as_of=as_of,
    )


async def _mismatched_accounts(session: AsyncSession) -> tuple[list[str], list[str]]:
    """Parties whose running balance differs from its entries; and those whose pending and settled parts
    differ from their entries, do not add up to the balance, or are negative (no order settles or
    refunds more than it credited, so neither part can be)."""
    sums = (
        select(
            ENTRIES.c.account_id.label("account_id"),
            func.sum(signed_amount()).label("total"),
            func.sum(bucket_amount(PENDING)).label("pending"),
            func.sum(bucket_amount(SETTLED)).label("settled"),
        )
        .select_from(ENTRIES.join(ACCOUNTS, ACCOUNTS.c.id == ENTRIES.c.account_id))
        .group_by(ENTRIES.c.account_id)
    ).subquery()
    rows = await session.execute(
        select(
            ACCOUNTS.c.party,
            ACCOUNTS.c.balance_fen != func.coalesce(sums.c.total, literal(0)),
            or_(
                ACCOUNTS.c.pending_fen + ACCOUNTS.c.settled_fen != ACCOUNTS.c.balance_fen,
                ACCOUNTS.c.pending_fen != func.coalesce(sums.c.pending, literal(0)),
                ACCOUNTS.c.settled_fen != func.coalesce(sums.c.settled, literal(0)),
                ACCOUNTS.c.pending_fen < 0,
                ACCOUNTS.c.settled_fen < 0,
            ),
        )
        .select_from(ACCOUNTS.outerjoin(sums, sums.c.account_id == ACCOUNTS.c.id))
        .order_by(ACCOUNTS.c.party)
    )
    found = rows.all()
    return [party for party, bad, _ in found if bad], [party for party, _, bad in found if bad]


async def _unbalanced_settlements(session: AsyncSession) -> int:
    """Orders whose settlement state and postings disagree.

    An order settled by a transfer (`settled_at` set) needs one whose settled side moves
    exactly what its sale posted, no more; an order without `settled_at` none (sales from
    before settlement existed were paid out when paid and have none). The unique (order,
    kind) already forbids a second transfer.
    """
    posted = (
        select(TRANSACTIONS.c.order_id.label("order_id"), func.sum(ENTRIES.c.amount_fen).label("amount"))
        .select_from(TRANSACTIONS.join(ENTRIES, ENTRIES.c.transaction_id == TRANSACTIONS.c.id))
        .where(TRANSACTIONS.c.kind == "sale")
        .group_by(TRANSACTIONS.c.order_id)
    ).subquery()
    moved = (
        select(TRANSACTIONS.c.order_id.label("order_id"), func.sum(ENTRIES.c.amount_fen).label("amount"))
        .select_from(TRANSACTIONS.join(ENTRIES, ENTRIES.c.transaction_id == TRANSACTIONS.c.id))
        .where(TRANSACTIONS.c.kind == "settlement", ENTRIES.c.bucket == SETTLED)
        .group_by(TRANSACTIONS.c.order_id)
    ).subquery()
    by_transfer = SETTLEMENTS.c.settled_at.is_not(None)
    rows = await session.execute(
        select(func.count())
        .select_from(
            SETTLEMENTS.outerjoin(posted, posted.c.order_id == SETTLEMENTS.c.order_id).outerjoin(
                moved, moved.c.order_id == SETTLEMENTS.c.order_id
            )
        )
        .where(
            or_(
                and_(by_transfer, or_(moved.c.amount.is_(None), moved.c.amount != posted.c.amount)),
                and_(~by_transfer, moved.c.order_id.is_not(None)),
                and_(SETTLEMENTS.c.status == PENDING, by_transfer),
                and_(SETTLEMENTS.c.status == REFUNDED, SETTLEMENTS.c.refunded_at.is_(None)),
            )
        )
    )
    return int(rows.scalar() or 0)


async def list_balances(
    session: AsyncSession, page: PageParams, *, as_of: datetime | None = None, county_parties: list[str] | None = None
) -> tuple[list[AccountBalance], str | None]:
    """Every account (or only `county_parties`) with its balance (pending and settled) now or at `as_of`, by account id."""
    stmt = (
        select(ACCOUNTS.c.id, ACCOUNTS.c.party, ACCOUNTS.c.balance_fen, ACCOUNTS.c.pending_fen, ACCOUNTS.c.settled_fen)
        .order_by(ACCOUNTS.c.id)
        .limit(page.limit + 1)
    )
    if page.after_id is not None:
        stmt = stmt.where(ACCOUNTS.c.id > page.after_id)
    if county_parties is not None:
        stmt = stmt.where(ACCOUNTS.c.party.in_(county_parties))
    rows = (await session.execute(stmt)).all()
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    balances = {r.id: (int(r.balance_fen), int(r.pending_fen), int(r.settled_fen)) for r in rows}
    if as_of is not None and rows:
        sums = await session.execute(
            select(ENTRIES.c.account_id, func.sum(signed_amount()), func.sum(bucket_amount(PENDING)), func.sum(bucket_amount(SETTLED)))
            .select_from(ENTRIES.join(ACCOUNTS, ACCOUNTS.c.id == ENTRIES.c.account_id))
            .where(ENTRIES.c.account_id.in_(list(balances)), ENTRIES.c.created_at <= as_of)
            .group_by(ENTRIES.c.account_id)
        )
        at = {account_id: (int(b or 0), int(p or 0), int(s or 0)) for account_id, b, p, s in sums.all()}
        balances = {account_id: at.get(account_id, (0, 0, 0)) for account_id in balances}
    items = [
        AccountBalance(
            party=r.party,
            kind=account_kind(r.party),
            balance_fen=balances[r.id][0],
            pending_fen=balances[r.id][1],
            settled_fen=balances[r.id][2],
            as_of=as_of,
        )
        for r in rows
    ]
    return items, (str(rows[-1].id) if more else None)
