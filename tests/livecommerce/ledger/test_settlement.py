"""Settlement: a paid order's credits stay pending until it is delivered and the settlement days pass, then settle once.

The whole path runs through the API with the app's clock frozen and moved: address, order,
payment, parcel, receipt (by the buyer, and by the auto-receive job), settlement by the
scheduler's job, with every party's balance, pending and settled read at each step.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from livecommerce.kit.clock import FrozenClock, utcnow
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from livecommerce.kit.settings import Settings
from livecommerce.ledger import service as ledger_service
from livecommerce.ledger.books import check_books
from livecommerce.ledger.models import LedgerAccount, LedgerTransaction
from livecommerce.ledger.scheduled import settle_due_orders
from livecommerce.ledger.service import REPORTING_ZONE
from livecommerce.ledger.settlement import settlement_status
from schedulers.jobs import JobContext, auto_receive_orders, settle_orders
from schedulers.notify import LogNotifier
from tests.factories import Factory, TestUser
from tests.livecommerce.orders.aftersales import buy, buyer_with_address, ship
from tests.livecommerce.orders.helpers import Shop, open_stream

PRICE = 1990
SPLITS_BP = {"household": 7000, "station": 1000, "county": 1000, "platform": 1000}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(utcnow())


@dataclass
class World:
    shop: Shop
    admin: TestUser
    parties: dict[str, str]  # kind -> party


@pytest.fixture
async def world(make: Factory, db: Database) -> World:
    county = await make.county()
    assert county.id is not None
    household = await make.household(county.id)
    station = await make.station(county.id)
    parties = {
        "household": f"household:{household.id}",
        "station": f"station:{station.id}",
        "county": f"county:{county.id}",
        "platform": "platform",
    }
    splits = [(parties[kind], bp) for kind, bp in SPLITS_BP.items()]
    product = await make.product(county.id, splits=splits, price_fen=PRICE, stock=1000)
    other = await make.product(county.id, splits=splits, price_fen=500, stock=10)
    anchor = await make.anchor(county.id)
    assert product.id and other.id and anchor.id and household.id
    stream_id = await open_stream(db, anchor.id, [product.id, other.id])
    organizer = await make.user(Role.organizer, county_ids=[county.id])
    cadre = await make.user(Role.cadre, county_ids=[county.id], anchor_id=anchor.id)
    shop = Shop(county.id, product.id, other.id, stream_id, organizer, cadre, household.id)
    return World(shop, await make.user(Role.admin), parties)


def share(kind: str, quantity: int = 1) -> int:
    """A party's share of `quantity` boxes (the splits divide 1990 fen exactly)."""
    return PRICE * quantity * SPLITS_BP[kind] // 10000


async def account(client: httpx.AsyncClient, world: World, party: str) -> dict[str, int]:
    """The party's balance, pending and settled, as the API gives them; pending + settled is always the balance."""
    r = await client.get(f"/api/ledger/accounts/{party}", headers=world.admin.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["pending_fen"] + body["settled_fen"] == body["balance_fen"]
    return {k: body[k] for k in ("balance_fen", "pending_fen", "settled_fen")}


async def books_balance(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    r = await client.get("/api/ledger/check", headers=world.admin.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["balanced"], body
    return body


def job_context(db: Database, settings: Settings, clock: FrozenClock) -> JobContext:
    return JobContext(db=db, settings=settings, clock=clock, notifier=LogNotifier())


async def settlements_of(db: Database, order_id: int) -> int:
    async with db.sessionmaker() as session:
        stmt = select(func.count()).where(LedgerTransaction.order_id == order_id, LedgerTransaction.kind == "settlement")
        return int(await session.scalar(stmt) or 0)


async def status_of(db: Database, order_id: int) -> str | None:
    async with db.sessionmaker() as session:
        return await settlement_status(session, order_id)


async def delivered_order(client: httpx.AsyncClient, make: Factory, db: Database, world: World, quantity: int = 1) -> dict[str, Any]:
    """A paid order, shipped and received by its buyer now."""
    buyer, address_id = await buyer_with_address(client, make, db)
    order = await buy(client, buyer, world.shop, address_id=address_id, quantity=quantity)
    assert (await ship(client, world.shop.organizer, order["id"])).status_code == 201
    r = await client.post(f"/api/orders/{order['id']}/received", headers=buyer.headers)
    assert r.status_code == 200, r.text
    return order


class TestWholePath:
    async def test_received_by_the_buyer_then_settled_after_the_days(
        self, client: httpx.AsyncClient, make: Factory, db: Database, world: World, clock: FrozenClock, settings: Settings
    ) -> None:
        assert settings.settlement_days == 7
        ctx = job_context(db, settings, clock)
        household = world.parties["household"]
        buyer, address_id = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, world.shop, address_id=address_id, quantity=2)
        assert order["address_id"] == address_id
        paid = {kind: await account(client, world, party) for kind, party in world.parties.items()}
        for kind in world.parties:
            assert paid[kind] == {"balance_fen": share(kind, 2), "pending_fen": share(kind, 2), "settled_fen": 0}
        assert await account(client, world, "clearing") == {"balance_fen": 2 * PRICE, "pending_fen": 2 * PRICE, "settled_fen": 0}

        clock.advance(timedelta(days=1))
        r = await ship(client, world.shop.organizer, order["id"], "SF", "SF123456789012")
        assert r.status_code == 201, r.text
        assert await settle_orders(ctx, clock.now()) == 0
        assert (await account(client, world, household))["pending_fen"] == share("household", 2)

        clock.advance(timedelta(days=2))
        received_at = clock.now()
        r = await client.post(f"/api/orders/{order['id']}/received", headers=buyer.headers)
        assert r.status_code == 200 and r.json()["fulfillment"] == "delivered"
        assert await settle_orders(ctx, received_at + timedelta(days=7) - timedelta(seconds=1)) == 0
        assert await account(client, world, household) == paid["household"]
        assert await status_of(db, order["id"]) == "pending"

        clock.set(received_at + timedelta(days=7))
        assert await settle_orders(ctx, clock.now()) == 1
        for kind, party in world.parties.items():
            assert await account(client, world, party) == {"balance_fen": share(kind, 2), "pending_fen": 0, "settled_fen": share(kind, 2)}
        assert await account(client, world, "clearing") == {"balance_fen": 2 * PRICE, "pending_fen": 0, "settled_fen": 2 * PRICE}
        assert await status_of(db, order["id"]) == "settled"
        checked = await books_balance(client, world)
        assert checked["split_mismatched_accounts"] == [] and checked["unbalanced_settlements"] == 0

        clock.advance(timedelta(days=1))
        assert await settle_orders(ctx, clock.now()) == 0
        assert await settlements_of(db, order["id"]) == 1
        entries = (await client.get(f"/api/ledger/accounts/{household}/entries", headers=world.admin.headers)).json()["items"]
        assert [(e["kind"], e["direction"], e["bucket"], e["amount_fen"]) for e in entries] == [
            ("sale", "credit", "pending", share("household", 2)),
            ("settlement", "debit", "pending", share("household", 2)),
            ("settlement", "credit", "settled", share("household", 2)),
        ]

    async def test_auto_received_by_the_timer_then_settled_after_the_days(
        self, client: httpx.AsyncClient, make: Factory, db: Database, world: World, clock: FrozenClock, settings: Settings
    ) -> None:
        ctx = job_context(db, settings, clock)
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, world.shop)
        shipped_at = clock.now()
        assert (await ship(client, world.shop.organizer, order["id"])).status_code == 201
        assert await auto_receive_orders(ctx, shipped_at + timedelta(days=settings.auto_receive_days) - timedelta(minutes=1)) == 0
        delivered_at = shipped_at + timedelta(days=settings.auto_receive_days, minutes=1)
        assert await auto_receive_orders(ctx, delivered_at) == 1
        assert (await client.get(f"/api/orders/{order['id']}", headers=buyer.headers)).json()["fulfillment"] == "delivered"
        # The days count from delivery, not from shipping or payment.
        assert await settle_orders(ctx, shipped_at + timedelta(days=settings.settlement_days, hours=1)) == 0
        assert await settle_orders(ctx, delivered_at + timedelta(days=settings.settlement_days) - timedelta(seconds=1)) == 0
        assert (await account(client, world, world.parties["station"]))["pending_fen"] == share("station")
        assert await settle_orders(ctx, delivered_at + timedelta(days=settings.settlement_days)) == 1
        assert await account(client, world, world.parties["station"]) == {
            "balance_fen": share("station"),
            "pending_fen": 0,
            "settled_fen": share("station"),
        }
        await books_balance(client, world)

    async def test_an_order_never_delivered_never_settles(
        self, client: httpx.AsyncClient, make: Factory, db: Database, world: World, clock: FrozenClock, settings: Settings
    ) -> None:
        ctx = job_context(db, settings, clock)
        buyer, _ = await buyer_with_address(client, make, db)
        unshipped = await buy(client, buyer, world.shop)
        shipped = await buy(client, buyer, world.shop)
        await ship(client, world.shop.organizer, shipped["id"])
        assert await settle_orders(ctx, clock.now() + timedelta(days=settings.auto_receive_days - 1, hours=23)) == 0
        assert await status_of(db, unshipped["id"]) == "pending" and await status_of(db, shipped["id"]) == "pending"
        assert (await account(client, world, world.parties["county"]))["pending_fen"] == 2 * share("county")

    async def test_settlement_days_come_from_settings(self) -> None:
        assert Settings().settlement_days == 7
        assert Settings(settlement_days=15).settlement_days == 15

    async def test_a_station_counter_sale_settles_the_days_after_it_is_made(
        self, client: httpx.AsyncClient, db: Database, world: World, clock: FrozenClock, settings: Settings
    ) -> None:
        station_id = int(world.parties["station"].split(":")[1])
        body = {"items": [{"product_id": world.shop.product_id, "quantity": 1}]}
        r = await client.post(f"/api/stations/{station_id}/sales", json=body, headers=world.shop.organizer.headers)
        assert r.status_code == 201, r.text
        sold_at = clock.now()
        ctx = job_context(db, settings, clock)
        assert await settle_orders(ctx, sold_at + timedelta(days=settings.settlement_days) - timedelta(seconds=1)) == 0
        assert await settle_orders(ctx, sold_at + timedelta(days=settings.settlement_days)) == 1
        assert (await account(client, world, world.parties["household"]))["settled_fen"] == share("household")


class TestStatements:
    async def test_household_statement_shows_pending_and_settled(
        self, client: httpx.AsyncClient, make: Factory, db: Database, world: World, clock: FrozenClock, settings: Settings
    ) -> None:
        first = await delivered_order(client, make, db, world, quantity=1)
        await delivered_order(client, make, db, world, quantity=3)
        clock.advance(timedelta(days=settings.settlement_days))
        async with db.transaction() as session:
            assert await ledger_service.settle_sale(session, first["id"], now=clock.now(), days=settings.settlement_days)
        # Statements go by days in Asia/Shanghai, which after 16:00 UTC is already the next day.
        today = clock.now().astimezone(REPORTING_ZONE).date().isoformat()
        start = (clock.now() - timedelta(days=10)).astimezone(REPORTING_ZONE).date().isoformat()
        r = await client.get(
            f"/api/households/{world.shop.household_id}/statement?from={start}&to={today}", headers=world.shop.organizer.headers
        )
        assert r.status_code == 200, r.text
        moved = r.json()["account"]
        h1, h3 = share("household", 1), share("household", 3)
        assert moved["opening_balance_fen"] == 0 and moved["opening_pending_fen"] == 0 and moved["opening_settled_fen"] == 0
        # The settlement transfer is neither a sale nor a refund.
        assert moved["credited_fen"] == h1 + h3 and moved["debited_fen"] == 0
        assert moved["settled_in_period_fen"] == h1
        assert moved["closing_balance_fen"] == h1 + h3
        assert (moved["closing_pending_fen"], moved["closing_settled_fen"]) == (h3, h1)
        products = r.json()["by_product"]
        assert [(p["credited_fen"], p["reversed_fen"]) for p in products] == [(h1 + h3, 0)]

    async def test_county_statement_accounts_add_up(
        self, client: httpx.AsyncClient, make: Factory, db: Database, world: World, clock: FrozenClock, settings: Settings
    ) -> None:
        await delivered_order(client, make, db, world)
        clock.advance(timedelta(days=settings.settlement_days))
        assert await settle_due_orders(db, now=clock.now(), days=settings.settlement_days) == 1
        r = await client.get(f"/api/counties/{world.shop.county_id}/statement", headers=world.shop.organizer.headers)
        assert r.status_code == 200, r.text
        by_party = {a["party"]: a for a in r.json()["accounts"]}
        for kind in ("household", "station", "county"):
            row = by_party[world.parties[kind]]
            assert row["closing_pending_fen"] + row["closing_settled_fen"] == row["closing_balance_fen"] == share(kind)
            assert row["closing_settled_fen"] == share(kind)


class TestRefunds:
    async def test_refund_of_a_pending_order_takes_back_pending_credit_only(
        self, client: httpx.AsyncClient, make: Factory, db: Database, world: World, clock: FrozenClock, settings: Settings
    ) -> None:
        household = world.parties["household"]
        settled_order = await delivered_order(client, make, db, world, quantity=1)
        clock.advance(timedelta(days=settings.settlement_days))
        assert await settle_due_orders(db, now=clock.now(), days=settings.settlement_days) == 1
        pending_order = await delivered_order(client, make, db, world, quantity=2)
        before = await account(client, world, household)
        assert before == {
            "balance_fen": share("household", 3),
            "pending_fen": share("household", 2),
            "settled_fen": share("household", 1),
        }
        r = await client.post(f"/api/orders/{pending_order['id']}/refund", headers=world.shop.organizer.headers)
        assert r.status_code == 200, r.text
        after = await account(client, world, household)
        assert after == {"balance_fen": share("household", 1), "pending_fen": 0, "settled_fen": share("household", 1)}
        assert await status_of(db, pending_order["id"]) == "refunded"
        assert await status_of(db, settled_order["id"]) == "settled"
        # A refunded order is never settled afterwards.
        clock.advance(timedelta(days=30))
        assert await settle_due_orders(db, now=clock.now(), days=settings.settlement_days) == 0
        assert await settlements_of(db, pending_order["id"]) == 0
        await books_balance(client, world)

    async def test_refund_after_settlement_reverses_from_settled(
        self, client: httpx.AsyncClient, make: Factory, db: Database, world: World, clock: FrozenClock, settings: Settings
    ) -> None:
        order = await delivered_order(client, make, db, world, quantity=2)
        clock.advance(timedelta(days=settings.settlement_days))
        assert await settle_due_orders(db, now=clock.now(), days=settings.settlement_days) == 1
        still_pending = await delivered_order(client, make, db, world, quantity=1)
        r = await client.post(f"/api/orders/{order['id']}/refund", headers=world.shop.organizer.headers)
        assert r.status_code == 200, r.text
        for kind, party in world.parties.items():
            assert await account(client, world, party) == {"balance_fen": share(kind), "pending_fen": share(kind), "settled_fen": 0}
        assert await account(client, world, "clearing") == {"balance_fen": PRICE, "pending_fen": PRICE, "settled_fen": 0}
        entries = (await client.get(f"/api/ledger/accounts/{world.parties['county']}/entries", headers=world.admin.headers)).json()
        reversal = [(e["direction"], e["bucket"]) for e in entries["items"] if e["kind"] == "reversal"]
        assert reversal == [("debit", "settled")]
        assert (await client.post(f"/api/orders/{order['id']}/refund", headers=world.shop.organizer.headers)).status_code == 409
        assert await status_of(db, still_pending["id"]) == "pending"
        await books_balance(client, world)

    async def test_approved_refund_request_of_a_delivered_pending_order(
        self, client: httpx.AsyncClient, make: Factory, db: Database, world: World, clock: FrozenClock, settings: Settings
    ) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        order = await buy(client, buyer, world.shop)
        await ship(client, world.shop.organizer, order["id"])
        await client.post(f"/api/orders/{order['id']}/received", headers=buyer.headers)
        clock.advance(timedelta(days=settings.settlement_days - 1))
        r = await client.post(f"/api/orders/{order['id']}/refund-requests", json={"reason": "破损"}, headers=buyer.headers)
        assert r.status_code == 201, r.text
        r = await client.post(f"/api/refund-requests/{r.json()['id']}/approve", headers=world.shop.organizer.headers)
        assert r.status_code == 200, r.text
        assert await account(client, world, world.parties["household"]) == {"balance_fen": 0, "pending_fen": 0, "settled_fen": 0}
        clock.advance(timedelta(days=2))
        assert await settle_due_orders(db, now=clock.now(), days=settings.settlement_days) == 0
        await books_balance(client, world)


class TestCrashAndFailure:
    async def test_a_failing_order_stays_pending_and_the_rest_settle(
        self,
        client: httpx.AsyncClient,
        make: Factory,
        db: Database,
        world: World,
        clock: FrozenClock,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        orders = [await delivered_order(client, make, db, world) for _ in range(3)]
        broken = orders[1]["id"]
        write_entries = ledger_service._write_entries

        async def crash_on_broken(session: Any, postings: list[tuple[int, list[ledger_service.Leg]]], now: Any) -> None:
            # Dies after the settlement row was claimed and the journal transaction opened: a crash between the steps.
            for transaction_id, legs in postings:
                if any(leg.bucket == "settled" for leg in legs) and await _order_of(session, transaction_id) == broken:
                    raise RuntimeError("the machine fell over")
            await write_entries(session, postings, now)

        monkeypatch.setattr(ledger_service, "_write_entries", crash_on_broken)
        clock.advance(timedelta(days=settings.settlement_days))
        assert await settle_due_orders(db, now=clock.now(), days=settings.settlement_days) == 2
        assert await status_of(db, broken) == "pending" and await settlements_of(db, broken) == 0
        assert (await account(client, world, world.parties["household"]))["pending_fen"] == share("household")
        await books_balance(client, world)
        monkeypatch.setattr(ledger_service, "_write_entries", write_entries)
        assert await settle_due_orders(db, now=clock.now(), days=settings.settlement_days) == 1
        assert await account(client, world, world.parties["household"]) == {
            "balance_fen": share("household", 3),
            "pending_fen": 0,
            "settled_fen": share("household", 3),
        }
        await books_balance(client, world)


async def _order_of(session: Any, transaction_id: int) -> int:
    return int(await session.scalar(select(LedgerTransaction.order_id).where(LedgerTransaction.id == transaction_id)))


@pytest.mark.slow
class TestConcurrency:
    async def test_two_settlement_runs_at_once_settle_each_order_once(
        self, client: httpx.AsyncClient, make: Factory, db: Database, world: World, clock: FrozenClock, settings: Settings
    ) -> None:
        orders = [await delivered_order(client, make, db, world, quantity=1 + i % 3) for i in range(8)]
        clock.advance(timedelta(days=settings.settlement_days))
        runs = await asyncio.gather(*(settle_due_orders(db, now=clock.now(), days=settings.settlement_days) for _ in range(2)))
        assert sum(runs) == len(orders)
        assert [await settlements_of(db, o["id"]) for o in orders] == [1] * len(orders)
        units = sum(1 + i % 3 for i in range(len(orders)))
        for kind, party in world.parties.items():
            settled = share(kind, units)
            assert await account(client, world, party) == {"balance_fen": settled, "pending_fen": 0, "settled_fen": settled}
        await books_balance(client, world)

    async def test_concurrent_approvals_and_settlement_leave_the_books_balanced(
        self, client: httpx.AsyncClient, make: Factory, db: Database, world: World, clock: FrozenClock, settings: Settings
    ) -> None:
        requests = []
        orders = []
        for _ in range(6):
            buyer, _ = await buyer_with_address(client, make, db)
            order = await buy(client, buyer, world.shop)
            await ship(client, world.shop.organizer, order["id"])
            await client.post(f"/api/orders/{order['id']}/received", headers=buyer.headers)
            r = await client.post(f"/api/orders/{order['id']}/refund-requests", json={"reason": "不要了"}, headers=buyer.headers)
            assert r.status_code == 201, r.text
            requests.append(r.json()["id"])
            orders.append(order["id"])
        clock.advance(timedelta(days=settings.settlement_days))

        async def approve(request_id: int) -> int:
            r = await client.post(f"/api/refund-requests/{request_id}/approve", headers=world.shop.organizer.headers)
            return r.status_code

        results = await asyncio.gather(
            settle_due_orders(db, now=clock.now(), days=settings.settlement_days),
            *(approve(request_id) for request_id in requests),
            settle_due_orders(db, now=clock.now(), days=settings.settlement_days),
        )
        assert all(code == 200 for code in results[1:-1]), results
        # Whichever came first, every order ends refunded, from pending or from settled, and nothing is left.
        assert [await status_of(db, o) for o in orders] == ["refunded"] * len(orders)
        transfers = [await settlements_of(db, o) for o in orders]
        assert all(t <= 1 for t in transfers) and sum(transfers) == results[0] + results[-1]
        for party in [*world.parties.values(), "clearing"]:
            assert await account(client, world, party) == {"balance_fen": 0, "pending_fen": 0, "settled_fen": 0}
        await books_balance(client, world)


class TestCheck:
    async def test_check_fails_when_pending_and_settled_do_not_add_up(
        self, client: httpx.AsyncClient, make: Factory, db: Database, world: World
    ) -> None:
        await delivered_order(client, make, db, world)
        await books_balance(client, world)
        party = world.parties["station"]
        async with db.transaction() as session:
            await session.execute(
                update(LedgerAccount)
                .where(LedgerAccount.party == party)  # type: ignore[arg-type]
                .values(pending_fen=LedgerAccount.pending_fen - 1, settled_fen=LedgerAccount.settled_fen + 1)
            )
        body = (await client.get("/api/ledger/check", headers=world.admin.headers)).json()
        assert body["balanced"] is False
        assert body["split_mismatched_accounts"] == [party] and body["mismatched_accounts"] == []
        async with db.transaction() as session:
            assert not (await check_books(session)).balanced
