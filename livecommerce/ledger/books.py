"""Reading the books: balances (now or at a moment), an account's entries, and the balance proof."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.kit.pagination import PageParams
from livecommerce.ledger.schemas import AccountBalance, EntryPublic, LedgerCheck
from livecommerce.ledger.service import ACCOUNTS, CLEARING, ENTRIES, TRANSACTIONS, account_kind, balance_sign


def signed_amount() -> Any:
    """An entry's effect on its account's balance (needs ACCOUNTS joined)."""
    is_clearing, amount = ACCOUNTS.c.party == CLEARING, ENTRIES.c.amount_fen
    return case(
        (and_(is_clearing, ENTRIES.c.direction == "debit"), amount),
        (is_clearing, -amount),
        (ENTRIES.c.direction == "credit", amount),
        else_=-amount,
    )


async def account_balance(session: AsyncSession, party: str, *, as_of: datetime | None = None) -> AccountBalance:
    """The running balance now, or the sum of entries up to `as_of`; zero for an account never used."""
    if as_of is None:
        balance = await session.scalar(select(ACCOUNTS.c.balance_fen).where(ACCOUNTS.c.party == party))
    else:
        balance = await session.scalar(
            select(func.coalesce(func.sum(signed_amount()), 0))
            .select_from(ENTRIES.join(ACCOUNTS, ACCOUNTS.c.id == ENTRIES.c.account_id))
            .where(ACCOUNTS.c.party == party, ENTRIES.c.created_at <= as_of)
        )
    return AccountBalance(party=party, kind=account_kind(party), balance_fen=int(balance or 0), as_of=as_of)


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
    if as_of is None:
        # The running balances are of now; compare each with the sum of its entries.
        sums = (
            select(ENTRIES.c.account_id.label("account_id"), func.sum(signed_amount()).label("total"))
            .select_from(ENTRIES.join(ACCOUNTS, ACCOUNTS.c.id == ENTRIES.c.account_id))
            .group_by(ENTRIES.c.account_id)
        ).subquery()
        rows = await session.execute(
            select(ACCOUNTS.c.party)
            .select_from(ACCOUNTS.outerjoin(sums, sums.c.account_id == ACCOUNTS.c.id))
            .where(ACCOUNTS.c.balance_fen != func.coalesce(sums.c.total, literal(0)))
            .order_by(ACCOUNTS.c.party)
        )
        mismatched = list(rows.scalars().all())
    return LedgerCheck(
        balanced=debits == credits and unbalanced == 0 and not mismatched,
        total_debits_fen=debits,
        total_credits_fen=credits,
        transactions_checked=transactions,
        unbalanced_transactions=unbalanced,
        accounts_checked=accounts,
        mismatched_accounts=mismatched,
        as_of=as_of,
    )


async def list_balances(
    session: AsyncSession, page: PageParams, *, as_of: datetime | None = None, county_parties: list[str] | None = None
) -> tuple[list[AccountBalance], str | None]:
    """Every account (or only `county_parties`) with its balance now or at `as_of`, by account id."""
    stmt = select(ACCOUNTS.c.id, ACCOUNTS.c.party, ACCOUNTS.c.balance_fen).order_by(ACCOUNTS.c.id).limit(page.limit + 1)
    if page.after_id is not None:
        stmt = stmt.where(ACCOUNTS.c.id > page.after_id)
    if county_parties is not None:
        stmt = stmt.where(ACCOUNTS.c.party.in_(county_parties))
    rows = (await session.execute(stmt)).all()
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    balances = {r.id: int(r.balance_fen) for r in rows}
    if as_of is not None and rows:
        sums = await session.execute(
            select(ENTRIES.c.account_id, func.sum(signed_amount()))
            .select_from(ENTRIES.join(ACCOUNTS, ACCOUNTS.c.id == ENTRIES.c.account_id))
            .where(ENTRIES.c.account_id.in_(list(balances)), ENTRIES.c.created_at <= as_of)
            .group_by(ENTRIES.c.account_id)
        )
        at = dict(sums.all())
        balances = {account_id: int(at.get(account_id) or 0) for account_id in balances}
    items = [AccountBalance(party=r.party, kind=account_kind(r.party), balance_fen=balances[r.id], as_of=as_of) for r in rows]
    return items, (str(rows[-1].id) if more else None)
