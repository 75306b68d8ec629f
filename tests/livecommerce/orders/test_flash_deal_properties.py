"""Property: any interleaving of flash-deal announce, open, order, pay, cancel, expire, refund and end keeps the units honest.

A model of one product and its deals runs beside the real service on the test database.
After every step: no bucket is negative, stock + reserved + sold + units waiting in open
deals is what staff put on sale, every bucket and every deal's units match the model, no
buyer holds more of a deal than its limit, and a deal's unsold units came back exactly once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine, Iterator
from datetime import timedelta
from typing import Any, ClassVar, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test
from sqlmodel import col, select

from livecommerce.accounts.models import User
from livecommerce.broadcasts import service as streams_service
from livecommerce.catalog import service as catalog
from livecommerce.catalog.models import FlashDeal, Product
from livecommerce.catalog.schemas import AnchorCreate, CountyCreate, HouseholdCreate, ProductCreate, Split
from livecommerce.kit.clock import FrozenClock, utcnow
from livecommerce.kit.db import Database, create_nullpool_engine
from livecommerce.kit.errors import LiveCommerceError
from livecommerce.kit.principal import Principal, Role
from livecommerce.kit.settings import Settings
from livecommerce.main.app import wire_database
from livecommerce.orders import deals, service
from livecommerce.orders.models import Channel
from livecommerce.orders.placement import Ask, Item, LiveRules, Scope, place_batch
from livecommerce.orders.schemas import FlashDealCreate
from livecommerce.payments.sandbox import SandboxProvider

T = TypeVar("T")
ROOT = Principal(id=0, username="root", role=Role.admin, display_name="root")
STOCK, PRICE, DEAL_PRICE = 12, 1990, 990
TTL, CAP, BUYERS = 200, 6, 3


class DealMachine(RuleBasedStateMachine):
    loop: ClassVar[asyncio.AbstractEventLoop]
    db: ClassVar[Database]
    config: ClassVar[Settings]

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    @initialize()
    def set_up(self) -> None:
        self.clock = FrozenClock(utcnow())
        self.run(self._create_world())
        self.free = STOCK
        self.deals: dict[int, dict[str, Any]] = {}
        self.orders: dict[int, dict[str, Any]] = {}

    async def _create_world(self) -> None:
        tag = uuid.uuid4().hex[:10]
        async with self.db.transaction() as session:
            county = await catalog.create_county(
                session, CountyCreate(name="Fogang", code=f"D{tag}", city="Qingyuan", province="Guangdong")
            )
            assert county.id is not None
            household = await catalog.create_household(
                session, ROOT, HouseholdCreate(county_id=county.id, name="黄家", village="Shijiao", registration_no=f"R{tag}")
            )
            splits = [Split(party=f"household:{household.id}", bp=9000), Split(party="platform", bp=1000)]
            data = ProductCreate(name="eggs", county_id=county.id, unit="box", price_fen=PRICE, stock=STOCK, splits=splits)
            product = await catalog.create_product(session, ROOT, data, self.clock.now())
            assert product.id is not None
            self.product_id = product.id
            anchor = await catalog.create_anchor(session, ROOT, AnchorCreate(name="Host", title="County head", county_id=county.id))
            assert anchor.id is not None
            stream = await streams_service.create_stream(
                session,
                title="deal property",
                scheduled_start=self.clock.now(),
                scheduled_end=self.clock.now() + timedelta(hours=3),
                anchor_ids=[anchor.id],
                product_ids=[product.id],
            )
            assert stream.id is not None
            self.stream_id = stream.id
            await streams_service.start_stream(session, stream.id, now=self.clock.now())
            users = [User(username=f"db{tag}{i}", password_hash="!", role=Role.viewer, display_name=f"买家{i}") for i in range(BUYERS)]
            admin = User(username=f"da{tag}", password_hash="!", role=Role.admin, display_name="Admin")
            session.add_all([*users, admin])
            await session.flush()
            self.admin = Principal(id=admin.id or 0, username=admin.username, role=Role.admin, display_name="Admin")
            self.buyers = [Principal(id=u.id or 0, username=u.username, role=Role.viewer, display_name=u.display_name) for u in users]

    async def _attempt(self, work: Any) -> Any:
        try:
            async with self.db.transaction() as session:
                return await work(session)
        except LiveCommerceError:
            return None

    # --- the model's view --------------------------------------------------------------------

    def _status(self, deal: dict[str, Any]) -> str:
        now = self.clock.now()
        if deal["closed"] or now >= deal["ends_at"]:
            return "ended"
        return "countdown" if now < deal["starts_at"] else "open"

    def _held(self, buyer: int, deal_id: int | None = None) -> int:
        return sum(
            o["qty"]
            for o in self.orders.values()
            if o["buyer"] == buyer and o["status"] in ("pending_payment", "paid") and (deal_id is None or o["deal"] == deal_id)
        )

    def _release(self, order: dict[str, Any]) -> None:
        deal = self.deals.get(order["deal"]) if order["deal"] is not None else None
        if deal is not None and not deal["closed"]:
            deal["remaining"] += order["qty"]
        else:
            self.free += order["qty"]

    def _close(self, deal: dict[str, Any]) -> None:
        self.free += deal["remaining"]
        deal["returned"], deal["remaining"], deal["closed"] = deal["remaining"], 0, True

    # --- steps -------------------------------------------------------------------------------

    @rule(quantity=st.integers(1, 8), limit=st.integers(1, 3), countdown=st.integers(10, 60), duration=st.integers(60, 240))
    def announce(self, quantity: int, limit: int, countdown: int, duration: int) -> None:
        limit = min(limit, quantity)
        body = FlashDealCreate(
            product_id=self.product_id,
            price_fen=DEAL_PRICE,
            quantity=quantity,
            per_buyer_limit=limit,
            countdown_seconds=countdown,
            duration_seconds=duration,
        )
        now = self.clock.now()
        deal = self.run(self._attempt(lambda s: deals.announce_deal(s, self.admin, self.stream_id, body, now=now)))
        assert (deal is not None) is (quantity <= self.free)
        if deal is not None:
            self.free -= quantity
            starts = now + timedelta(seconds=countdown)
            self.deals[deal.id] = {
                "remaining": quantity,
                "limit": limit,
                "starts_at": starts,
                "ends_at": starts + timedelta(seconds=duration),
                "closed": False,
                "returned": 0,
            }

    @rule(buyer=st.integers(0, BUYERS - 1), quantity=st.integers(1, 3), pick=st.integers(0, 5))
    def order(self, buyer: int, quantity: int, pick: int) -> None:
        deal_ids = sorted(self.deals)
        deal_id = deal_ids[pick % len(deal_ids)] if deal_ids and pick < 4 else None
        ask = Ask(
            buyer=self.buyers[buyer],
            scope=Scope(Channel.live, stream_id=self.stream_id),
            items=(Item(self.product_id, quantity, deal_id),),
            key=uuid.uuid4().hex,
            now=self.clock.now(),
        )

        async def work(session: Any) -> int | None:
            await place_batch(session, [ask], LiveRules(self.config), self.config)
            return ask.result.id if ask.result is not None else None

        placed = self.run(self._attempt(work))
        within_cap = self._held(buyer) + quantity <= CAP
        if deal_id is None:
            expected = within_cap and quantity <= self.free
        else:
            deal = self.deals[deal_id]
            expected = (
                within_cap
                and self._status(deal) == "open"
                and self._held(buyer, deal_id) + quantity <= deal["limit"]
                and quantity <= deal["remaining"]
            )
        assert (placed is not None) is expected, (deal_id, quantity, ask.error)
        if placed is None:
            return
        if deal_id is None:
            self.free -= quantity
        else:
            self.deals[deal_id]["remaining"] -= quantity
        self.orders[placed] = {
            "buyer": buyer,
            "qty": quantity,
            "deal": deal_id,
            "status": "pending_payment",
            "expires_at": self.clock.now() + timedelta(seconds=TTL),
        }

    @precondition(lambda self: bool(self.orders))
    @rule(data=st.data())
    def pay(self, data: st.DataObject) -> None:
        order_id = data.draw(st.sampled_from(sorted(self.orders)))
        order = self.orders[order_id]
        principal, now = self.buyers[order["buyer"]], self.clock.now()
        ok = self.run(self._attempt(lambda s: service.pay_with_provider(s, principal, order_id, SandboxProvider("secret"), now=now)))
        expected = order["status"] == "paid" or (order["status"] == "pending_payment" and now < order["expires_at"])
        assert (ok is not None) is expected
        if expected:
            order["status"] = "paid"

    @precondition(lambda self: bool(self.orders))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        order_id = data.draw(st.sampled_from(sorted(self.orders)))
        order = self.orders[order_id]
        principal, now = self.buyers[order["buyer"]], self.clock.now()
        ok = self.run(self._attempt(lambda s: service.cancel_order(s, principal, order_id, now=now)))
        assert (ok is not None) is (order["status"] in ("pending_payment", "cancelled"))
        if order["status"] == "pending_payment":
            order["status"] = "cancelled"
            self._release(order)

    @precondition(lambda self: bool(self.orders))
    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        order_id = data.draw(st.sampled_from(sorted(self.orders)))
        order = self.orders[order_id]
        ok = self.run(self._attempt(lambda s: service.refund_order(s, self.admin, order_id, now=self.clock.now())))
        assert (ok is not None) is (order["status"] == "paid")
        if ok is not None:
            order["status"] = "refunded"
            self.free += order["qty"]

    @precondition(lambda self: bool(self.deals))
    @rule(data=st.data())
    def end_by_hand(self, data: st.DataObject) -> None:
        deal_id = data.draw(st.sampled_from(sorted(self.deals)))
        ended = self.run(self._attempt(lambda s: deals.end_deal(s, self.admin, deal_id, now=self.clock.now())))
        assert ended is not None
        if not self.deals[deal_id]["closed"]:
            self._close(self.deals[deal_id])

    @rule(seconds=st.integers(1, 150))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(timedelta(seconds=seconds))

    @rule()
    def scheduler_tick(self) -> None:
        async def work() -> None:
            async with self.db.transaction() as session:
                await deals.advance_deals(session, now=self.clock.now())
                await service.expire_due_orders(session, now=self.clock.now())

        self.run(work())
        now = self.clock.now()
        for deal in self.deals.values():
            if not deal["closed"] and now >= deal["ends_at"]:
                self._close(deal)
        for order in self.orders.values():
            if order["status"] == "pending_payment" and now >= order["expires_at"]:
                order["status"] = "expired"
                self._release(order)

    # --- what must always hold ---------------------------------------------------------------

    @invariant()
    def database_agrees_with_the_model(self) -> None:
        if hasattr(self, "product_id"):
            self.run(self._check())

    async def _check(self) -> None:
        async with self.db.sessionmaker() as session:
            product = await session.get(Product, self.product_id, populate_existing=True)
            assert product is not None
            rows = (await session.scalars(select(FlashDeal).where(col(FlashDeal.product_id) == self.product_id))).all()
            stored = {d.id: d for d in rows}
        assert min(product.stock, product.reserved, product.sold) >= 0
        waiting = sum(d.remaining for d in stored.values() if d.ended_at is None)
        assert product.stock + product.reserved + product.sold + waiting == STOCK
        reserved = sum(o["qty"] for o in self.orders.values() if o["status"] == "pending_payment")
        sold = sum(o["qty"] for o in self.orders.values() if o["status"] == "paid")
        assert (product.stock, product.reserved, product.sold) == (self.free, reserved, sold)
        assert set(stored) == set(self.deals)
        for deal_id, deal in self.deals.items():
            row = stored[deal_id]
            assert row.remaining == deal["remaining"] and (row.ended_at is not None) is deal["closed"]
            assert row.returned == deal["returned"]
            for buyer in range(BUYERS):
                assert self._held(buyer, deal_id) <= deal["limit"]


@pytest.fixture
def machine_db(fresh_database: str) -> Iterator[tuple[asyncio.AbstractEventLoop, Database]]:
    loop = asyncio.new_event_loop()
    db = Database(create_nullpool_engine(fresh_database))
    wire_database(db)
    try:
        yield loop, db
    finally:
        loop.run_until_complete(db.dispose())
        loop.close()


@pytest.mark.slow
class TestFlashDealProperties:
    def test_random_interleavings_never_oversell_and_return_unsold_units_once(
        self, machine_db: tuple[asyncio.AbstractEventLoop, Database], fresh_database: str
    ) -> None:
        DealMachine.loop, DealMachine.db = machine_db
        DealMachine.config = Settings(database_url=fresh_database, reservation_ttl_seconds=TTL, max_quantity_per_buyer=CAP)
        run_state_machine_as_test(
            DealMachine,
            settings=settings(max_examples=40, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]),
        )
