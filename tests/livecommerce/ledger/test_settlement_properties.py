"""Property test: random interleavings of pay, ship, receive, auto-receive, refund request and decision, time and settlement.

A model says, after every step, what each order's credits should be: pending while paid and
not settled, settled once the settlement job took it, nothing once refunded. The database
must agree account by account; the books must balance (pending + settled = balance for
every party); settled never exceeds what was credited; and no order has two settlements.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import func, select

from livecommerce.accounts.models import User
from livecommerce.broadcasts import service as streams_service
from livecommerce.catalog import service as catalog
from livecommerce.catalog.schemas import AnchorCreate, CountyCreate, HouseholdCreate, ProductCreate, Split, StationCreate
from livecommerce.kit.clock import FrozenClock, utcnow
from livecommerce.kit.db import Database, create_nullpool_engine
from livecommerce.kit.errors import LiveCommerceError
from livecommerce.kit.principal import Principal, Role
from livecommerce.kit.settings import Settings
from livecommerce.ledger.books import account_balance, check_books
from livecommerce.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from livecommerce.ledger.scheduled import settle_due_orders
from livecommerce.main.app import wire_database
from livecommerce.orders import fulfillment, refund_requests, service
from livecommerce.orders.models import Channel
from livecommerce.orders.placement import Ask, Item, LiveRules, Scope, place_batch
from livecommerce.orders.schemas import ShipmentCreate
from livecommerce.payments.sandbox import SandboxProvider

T = TypeVar("T")
ROOT = Principal(id=0, username="root", role=Role.admin, display_name="root")
PRICE = 1990
BP = {"household": 7000, "station": 1000, "county": 1000, "platform": 1000}
AUTO_DAYS = 3
SETTLE_DAYS = 2
BUYERS = 2


@dataclass
class ModelOrder:
    buyer: int
    quantity: int
    status: str = "paid"  # paid | refunded
    fulfillment: str = "unshipped"
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    settled: bool = False


class SettlementMachine(RuleBasedStateMachine):
    loop: ClassVar[asyncio.AbstractEventLoop]
    db: ClassVar[Database]
    config: ClassVar[Settings]

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    @initialize()
    def set_up(self) -> None:
        self.clock = FrozenClock(utcnow())
        self.orders: dict[int, ModelOrder] = {}
        self.requests: dict[int, tuple[int, str]] = {}  # id -> (order id, status)
        self.run(self._create_world())

    async def _create_world(self) -> None:
        tag = uuid.uuid4().hex[:10]
        now = self.clock.now()
        async with self.db.transaction() as session:
            place = CountyCreate(name="Fogang", code=f"S{tag}", city="Qingyuan", province="Guangdong")
            county = await catalog.create_county(session, place)
            assert county.id is not None
            household = await catalog.create_household(
                session, ROOT, HouseholdCreate(county_id=county.id, name="黄家", village="Shitang", registration_no=f"R{tag}")
            )
            station = await catalog.create_station(session, ROOT, StationCreate(county_id=county.id, name="石塘站", village="Shitang"))
            self.parties = {
                "household": f"household:{household.id}",
                "station": f"station:{station.id}",
                "county": f"county:{county.id}",
                "platform": "platform",
            }
            splits = [Split(party=self.parties[kind], bp=bp) for kind, bp in BP.items()]
            data = ProductCreate(name="honey", county_id=county.id, unit="jar", price_fen=PRICE, stock=100_000, splits=splits)
            product = await catalog.create_product(session, ROOT, data, now)
            assert product.id is not None
            self.product_id = product.id
            anchor = await catalog.create_anchor(session, ROOT, AnchorCreate(name="Host", title="County head", county_id=county.id))
            assert anchor.id is not None
            stream = await streams_service.create_stream(
                session,
                title="settlement property",
                scheduled_start=now,
                scheduled_end=now + timedelta(hours=1),
                anchor_ids=[anchor.id],
                product_ids=[product.id],
            )
            assert stream.id is not None
            self.stream_id = stream.id
            await streams_service.start_stream(session, stream.id, now=now)
            users = [User(username=f"sb{tag}{i}", password_hash="!", role=Role.viewer, display_name=f"买家{i}") for i in range(BUYERS)]
            admin = User(username=f"sa{tag}", password_hash="!", role=Role.admin, display_name="管理员")
            session.add_all([*users, admin])
            await session.flush()
            self.staff = Principal(id=admin.id or 0, username=admin.username, role=Role.admin, display_name=admin.display_name)
            self.buyers = [Principal(id=u.id or 0, username=u.username, role=Role.viewer, display_name=u.display_name) for u in users]
            # The platform and clearing accounts are shared with earlier examples.
            self.start = {p: await account_balance(session, p) for p in ("platform", "clearing")}

    async def _attempt(self, work: Any) -> bool:
        try:
            async with self.db.transaction() as session:
                await work(session)
        except LiveCommerceError:
            return False
        return True

    def _pick(self, data: st.DataObject) -> int:
        return data.draw(st.sampled_from(sorted(self.orders)))

    # --- the operations ------------------------------------------------------------------------

    @rule(buyer=st.integers(0, BUYERS - 1), quantity=st.integers(1, 3), then=st.sampled_from(["", "ship", "deliver"]))
    def pay(self, buyer: int, quantity: int, then: str) -> None:
        """A buyer orders and pays; sometimes the order is shipped, or shipped and received, at once."""
        principal, placed = self.buyers[buyer], []

        async def work(session: Any) -> None:
            ask = Ask(
                buyer=principal,
                scope=Scope(Channel.live, stream_id=self.stream_id),
                items=(Item(self.product_id, quantity),),
                key=uuid.uuid4().hex,
                now=self.clock.now(),
            )
            await place_batch(session, [ask], LiveRules(self.config), self.config)
            assert ask.error is None and ask.result is not None
            await service.pay_with_provider(session, principal, ask.result.id, SandboxProvider("secret"), now=self.clock.now())
            placed.append(ask.result.id)

        assert self.run(self._attempt(work))
        self.orders[placed[0]] = ModelOrder(buyer=buyer, quantity=quantity)
        if then:
            self._ship(placed[0], and_receive=then == "deliver")

    @precondition(lambda self: bool(self.orders))
    @rule(data=st.data(), and_receive=st.booleans())
    def ship(self, data: st.DataObject, and_receive: bool) -> None:
        """Record a parcel; sometimes the buyer confirms it at once (so sequences reach settlement often)."""
        self._ship(self._pick(data), and_receive=and_receive)

    def _ship(self, order_id: int, *, and_receive: bool) -> None:
        order = self.orders[order_id]
        parcel = ShipmentCreate(carrier="SF", tracking_no=f"SF{uuid.uuid4().int % 10**12:012d}")
        ok = self.run(
            self._attempt(
                lambda s: fulfillment.record_shipment(s, self.staff, order_id, parcel, carriers=self.config.carriers, now=self.clock.now())
            )
        )
        assert ok is (order.status == "paid" and order.fulfillment != "delivered")
        if ok and order.fulfillment == "unshipped":
            order.fulfillment, order.shipped_at = "shipped", self.clock.now()
        if and_receive:
            self._receive(order_id)

    @precondition(lambda self: bool(self.orders))
    @rule(data=st.data())
    def receive(self, data: st.DataObject) -> None:
        self._receive(self._pick(data))

    def _receive(self, order_id: int) -> None:
        order = self.orders[order_id]
        buyer = self.buyers[order.buyer]
        ok = self.run(self._attempt(lambda s: fulfillment.confirm_receipt(s, buyer, order_id, now=self.clock.now())))
        assert ok is (order.fulfillment == "delivered" or (order.status == "paid" and order.fulfillment == "shipped"))
        if ok and order.fulfillment == "shipped":
            order.fulfillment, order.delivered_at = "delivered", self.clock.now()

    @rule()
    def auto_receive(self) -> None:
        async def work() -> int:
            async with self.db.transaction() as session:
                return await fulfillment.auto_receive_due(session, now=self.clock.now(), days=AUTO_DAYS)

        cutoff = self.clock.now() - timedelta(days=AUTO_DAYS)
        due = [
            o
            for o in self.orders.values()
            if o.status == "paid" and o.fulfillment == "shipped" and o.shipped_at is not None and o.shipped_at <= cutoff
        ]
        assert self.run(work()) == len(due)
        for order in due:
            order.fulfillment, order.delivered_at = "delivered", self.clock.now()

    @precondition(lambda self: bool(self.orders))
    @rule(data=st.data(), and_approve=st.booleans())
    def ask_refund(self, data: st.DataObject, and_approve: bool) -> None:
        """The buyer asks for a refund; sometimes an organizer approves it at once."""
        order_id = self._pick(data)
        order = self.orders[order_id]
        buyer, made = self.buyers[order.buyer], []

        async def work(session: Any) -> None:
            request = await refund_requests.ask_refund(session, buyer, order_id, "不想要了", now=self.clock.now())
            made.append(request.id)

        is_open = any(o == order_id and s == "requested" for o, s in self.requests.values())
        assert self.run(self._attempt(work)) is (order.status == "paid" and not is_open)
        if made:
            self.requests[made[0]] = (order_id, "requested")
            if and_approve:
                self._decide(made[0], approve=True)

    @precondition(lambda self: bool(self.requests))
    @rule(data=st.data(), approve=st.booleans())
    def decide(self, data: st.DataObject, approve: bool) -> None:
        self._decide(data.draw(st.sampled_from(sorted(self.requests))), approve=approve)

    def _decide(self, request_id: int, *, approve: bool) -> None:
        order_id, status = self.requests[request_id]
        now = self.clock.now()
        if approve:
            ok = self.run(self._attempt(lambda s: refund_requests.approve(s, self.staff, request_id, now=now)))
            assert ok is (status in ("requested", "approved"))
            if ok and status == "requested":
                self.requests[request_id] = (order_id, "approved")
                self.orders[order_id].status = "refunded"
        else:
            ok = self.run(self._attempt(lambda s: refund_requests.reject(s, self.staff, request_id, "照片不清楚", now=now)))
            assert ok is (status in ("requested", "rejected"))
            if ok:
                self.requests[request_id] = (order_id, "rejected")

    @rule(hours=st.sampled_from([6, 24, 48, 72]), jobs_run=st.booleans())
    def time_passes(self, hours: int, jobs_run: bool) -> None:
        """Time moves on; sometimes the scheduler's jobs run then, as they would."""
        self.clock.advance(timedelta(hours=hours))
        if jobs_run:
            self.auto_receive()
            self.settle()

    @rule()
    def settle(self) -> None:
        cutoff = self.clock.now() - timedelta(days=SETTLE_DAYS)
        due = [
            o
            for o in self.orders.values()
            if o.status == "paid" and not o.settled and o.delivered_at is not None and o.delivered_at <= cutoff
        ]
        assert self.run(settle_due_orders(self.db, now=self.clock.now(), days=SETTLE_DAYS)) == len(due)
        for order in due:
            order.settled = True

    # --- what must always hold -----------------------------------------------------------------

    @invariant()
    def ledger_agrees_with_the_model(self) -> None:
        if hasattr(self, "parties"):
            self.run(self._check())

    async def _check(self) -> None:
        async with self.db.sessionmaker() as session:
            checked = await check_books(session)
            assert checked.balanced, checked
            live = [o for o in self.orders.values() if o.status == "paid"]
            for kind, party in self.parties.items():
                balance = await account_balance(session, party)
                base = self.start.get(party)
                pending = sum(PRICE * o.quantity * BP[kind] // 10000 for o in live if not o.settled)
                settled = sum(PRICE * o.quantity * BP[kind] // 10000 for o in live if o.settled)
                assert balance.pending_fen - (base.pending_fen if base else 0) == pending, (party, balance)
                assert balance.settled_fen - (base.settled_fen if base else 0) == settled, (party, balance)
                assert balance.settled_fen <= await _credited(session, party)
            clearing = await account_balance(session, "clearing")
            assert clearing.pending_fen - self.start["clearing"].pending_fen == sum(PRICE * o.quantity for o in live if not o.settled)
            if self.orders:
                transfers = dict(
                    (
                        await session.execute(
                            select(LedgerTransaction.order_id, func.count())
                            .where(LedgerTransaction.kind == "settlement", LedgerTransaction.order_id.in_(list(self.orders)))  # type: ignore[attr-defined]
                            .group_by(LedgerTransaction.order_id)
                        )
                    ).all()
                )
                for order_id, order in self.orders.items():
                    assert transfers.get(order_id, 0) == (1 if order.settled else 0), order_id

    def teardown(self) -> None:
        # Settlement and auto-receive are global: leave nothing due for a later example's runs to find.
        async def flush() -> None:
            later = utcnow() + timedelta(days=400)
            async with self.db.transaction() as session:
                await fulfillment.auto_receive_due(session, now=later, days=AUTO_DAYS, limit=100_000)
            await settle_due_orders(self.db, now=later + timedelta(days=SETTLE_DAYS), days=SETTLE_DAYS, limit=100_000)

        self.run(flush())


async def _credited(session: Any, party: str) -> int:
    """Everything ever credited to the party by sales."""
    stmt = (
        select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0))
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)  # type: ignore[arg-type]
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)  # type: ignore[arg-type]
        .where(LedgerAccount.party == party, LedgerTransaction.kind == "sale", LedgerEntry.direction == "credit")
    )
    return int(await session.scalar(stmt) or 0)


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
class TestSettlementProperties:
    def test_random_interleavings_keep_the_books_and_settle_each_order_at_most_once(
        self, machine_db: tuple[asyncio.AbstractEventLoop, Database], fresh_database: str
    ) -> None:
        SettlementMachine.loop, SettlementMachine.db = machine_db
        SettlementMachine.config = Settings(database_url=fresh_database, max_quantity_per_buyer=10_000)
        run_state_machine_as_test(
            SettlementMachine,
            settings=settings(max_examples=15, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]),
        )
