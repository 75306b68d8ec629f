"""Completion equals what the ledger credited, on the clearing account, for the units' orders of certified products."""

from __future__ import annotations

import random

import httpx
import pytest
from sqlalchemy import func, select

from livecommerce.kit.clock import FrozenClock
from livecommerce.kit.db import Database
from livecommerce.ledger.books import signed_amount
from livecommerce.ledger.models import LedgerTransaction
from livecommerce.ledger.service import ACCOUNTS, CLEARING, ENTRIES
from tests.livecommerce.assistance.conftest import Office, certify, local
from tests.livecommerce.assistance.test_quota import quota, subscribe
from tests.livecommerce.assistance.test_units import add_unit

TRANSACTIONS = LedgerTransaction.__table__  # type: ignore[attr-defined]


async def _ledger_credited(db: Database, order_ids: list[int], product_id: int) -> int:
    async with db.sessionmaker() as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(signed_amount()), 0))
            .select_from(
                ENTRIES.join(ACCOUNTS, ACCOUNTS.c.id == ENTRIES.c.account_id).join(
                    TRANSACTIONS, TRANSACTIONS.c.id == ENTRIES.c.transaction_id
                )
            )
            .where(ACCOUNTS.c.party == CLEARING, TRANSACTIONS.c.order_id.in_(order_ids), ENTRIES.c.product_id == product_id)
        )
    return int(total or 0)


class TestQuotaMatchesTheLedger:
    @pytest.mark.parametrize("seed", [1, 2, 3])
    async def test_completion_equals_the_ledgers_credited_total(
        self, client: httpx.AsyncClient, db: Database, office: Office, clock: FrozenClock, seed: int
    ) -> None:
        rng = random.Random(seed)
        certified, uncertified = office.product_ids
        await certify(client, office, certified)
        parent = (await add_unit(client, office.organizer.headers, unit_type="enterprise", county_id=office.county_id)).json()["id"]
        union = (await add_unit(client, office.organizer.headers, name="U", unit_type="union", parent_unit_id=parent)).json()["id"]
        orders: list[int] = []
        for step in range(12):
            clock.set(local(f"2025-04-{step + 1:02d} 10:00"))
            order = await subscribe(client, office, rng.choice([parent, union]), rng.choice([certified, uncertified]), rng.randint(1, 9))
            orders.append(order)
            if rng.random() < 0.3:
                response = await client.post(f"/api/orders/{rng.choice(orders)}/refund", headers=office.organizer.headers)
                assert response.status_code in (200, 409), response.text
        credited = await _ledger_credited(db, orders, certified)
        assert credited > 0  # the seeds chosen buy the certified product at least once
        assert (await quota(client, office, parent, 2025))["completed_fen"] == credited
