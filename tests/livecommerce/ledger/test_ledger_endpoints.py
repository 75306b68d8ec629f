"""Account balances, entries and the balance check over HTTP, with who may see what."""

from __future__ import annotations

from datetime import timedelta

import httpx

from livecommerce.kit.clock import utcnow
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from livecommerce.ledger.service import reverse_sale
from tests.factories import Factory
from tests.livecommerce.ledger.support import pay


async def _sale(db: Database, make: Factory) -> tuple[int, str, dict[str, str], int]:
    county = await make.county()
    household = await make.household(county.id)
    product = await make.product(
        county.id, splits=[(f"household:{household.id}", 7000), (f"county:{county.id}", 2000), ("platform", 1000)], price_fen=1000
    )
    buyer = await make.user(Role.viewer)
    order_id = await pay(db, buyer.id, [(product.id, 2)])  # type: ignore[arg-type]
    organizer = await make.user(Role.organizer, county_ids=[county.id])
    return county.id, f"household:{household.id}", organizer.headers, order_id  # type: ignore[return-value]


class TestGetAccount:
    async def test_organizer_sees_a_household_of_their_county(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        _, household, headers, _ = await _sale(db, make)
        response = await client.get(f"/api/ledger/accounts/{household}", headers=headers)
        assert response.status_code == 200
        assert response.json()["party"] == household
        assert response.json()["balance_fen"] == 1400

    async def test_organizer_of_another_county_is_forbidden(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        _, household, _, _ = await _sale(db, make)
        stranger = await make.user(Role.organizer, county_ids=[(await make.county()).id])
        assert (await client.get(f"/api/ledger/accounts/{household}", headers=stranger.headers)).status_code == 403

    async def test_platform_account_is_for_admins_only(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        _, _, headers, _ = await _sale(db, make)
        admin = await make.user(Role.admin)
        assert (await client.get("/api/ledger/accounts/platform", headers=headers)).status_code == 403
        response = await client.get("/api/ledger/accounts/platform", headers=admin.headers)
        assert response.json()["balance_fen"] == 200

    async def test_cadres_and_viewers_see_no_account(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        county_id, household, _, _ = await _sale(db, make)
        cadre = await make.user(Role.cadre, county_ids=[county_id])
        viewer = await make.user(Role.viewer)
        assert (await client.get(f"/api/ledger/accounts/{household}", headers=cadre.headers)).status_code == 403
        assert (await client.get(f"/api/ledger/accounts/{household}", headers=viewer.headers)).status_code == 403
        assert (await client.get(f"/api/ledger/accounts/{household}")).status_code == 401

    async def test_unknown_or_malformed_party_is_404(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        assert (await client.get("/api/ledger/accounts/household:999999", headers=admin.headers)).status_code == 404
        assert (await client.get("/api/ledger/accounts/bank:1", headers=admin.headers)).status_code == 404

    async def test_balance_as_of_a_moment_before_a_refund(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        _, household, headers, order_id = await _sale(db, make)
        before_refund = utcnow()
        async with db.transaction() as session:
            await reverse_sale(session, order_id, now=before_refund + timedelta(seconds=5))
        now = await client.get(f"/api/ledger/accounts/{household}", headers=headers)
        then = await client.get(f"/api/ledger/accounts/{household}", params={"as_of": before_refund.isoformat()}, headers=headers)
        earlier = await client.get(
            f"/api/ledger/accounts/{household}", params={"as_of": (before_refund - timedelta(hours=1)).isoformat()}, headers=headers
        )
        assert (now.json()["balance_fen"], then.json()["balance_fen"], earlier.json()["balance_fen"]) == (0, 1400, 0)


class TestListAccounts:
    async def test_organizer_lists_only_their_counties_parties(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        county_id, household, headers, _ = await _sale(db, make)
        response = await client.get("/api/ledger/accounts", headers=headers)
        assert sorted(a["party"] for a in response.json()["items"]) == sorted([f"county:{county_id}", household])


class TestAccountEntries:
    async def test_entries_are_paginated_oldest_first(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        _, household, headers, order_id = await _sale(db, make)
        async with db.transaction() as session:
            await reverse_sale(session, order_id, now=utcnow())
        first = await client.get(f"/api/ledger/accounts/{household}/entries", params={"limit": 1}, headers=headers)
        assert first.status_code == 200
        page = first.json()
        assert [(e["kind"], e["direction"], e["balance_effect_fen"]) for e in page["items"]] == [("sale", "credit", 1400)]
        second = await client.get(
            f"/api/ledger/accounts/{household}/entries", params={"limit": 1, "cursor": page["next_cursor"]}, headers=headers
        )
        assert [(e["kind"], e["balance_effect_fen"], e["order_id"]) for e in second.json()["items"]] == [("reversal", -1400, order_id)]
        assert second.json()["next_cursor"] is None


class TestLedgerCheck:
    async def test_books_balance_after_sales_and_refunds(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        _, _, headers, order_id = await _sale(db, make)
        async with db.transaction() as session:
            await reverse_sale(session, order_id, now=utcnow())
        body = (await client.get("/api/ledger/check", headers=headers)).json()
        assert body["balanced"] is True
        assert body["total_debits_fen"] == body["total_credits_fen"] == 4000
        assert (body["transactions_checked"], body["unbalanced_transactions"], body["mismatched_accounts"]) == (2, 0, [])

    async def test_a_running_balance_out_of_step_is_reported(
        self, client: httpx.AsyncClient, db: Database, make: Factory, sync_engine: object
    ) -> None:
        _, household, headers, _ = await _sale(db, make)
        from sqlalchemy import text

        with sync_engine.begin() as conn:  # type: ignore[attr-defined]
            conn.execute(text("UPDATE ledger_accounts SET balance_fen = balance_fen + 1 WHERE party = :p"), {"p": household})
        body = (await client.get("/api/ledger/check", headers=headers)).json()
        assert body["balanced"] is False
        assert body["mismatched_accounts"] == [household]

    async def test_viewers_may_not_check(self, client: httpx.AsyncClient, make: Factory) -> None:
        viewer = await make.user(Role.viewer)
        assert (await client.get("/api/ledger/check", headers=viewer.headers)).status_code == 403
