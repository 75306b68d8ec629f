"""Property test: random sequences of place/pay/cancel/expire/refund keep stock and orders consistent.

A model predicts each operation's outcome (accepted or refused) and, after every step, the
database must agree with it: per product `stock + reserved + sold` equals the initial stock,
no bucket is negative, `reserved` is exactly what unpaid orders hold, `sold` what paid
orders hold, and every order's status is what the model says. The ledger must have
credited exactly the paid orders' totals.
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
from livecommerce.catalog.models import Product
from livecommerce.catalog.schemas import AnchorCreate, CountyCreate, HouseholdCreate, ProductCreate, Split
from livecommerce.kit.clock import FrozenClock, utcnow
from livecommerce.kit.db import Database, create_nullpool_engine
from livecommerce.kit.errors import LiveCommerceError
from livecommerce.kit.principal import Principal, Role
from livecommerce.kit.settings import Settings
from livecommerce.ledger.models import LedgerAccount
from livecommerce.main.app import wire_database
from livecommerce.orders import service
from livecommerce.orders.models import Channel, Order, OrderStatus
from livecommerce.orders.placement import Ask, Item, LiveRules, Scope, place_batch
from livecommerce.payments.sandbox import SandboxProvider

T = TypeVar("T")
ROOT = Principal(id=0, username="root", role=Role.admin, display_name="root")
STOCK = {0: 7, 1: 4}
PRICES = {0: 1990, 1: 333}
TTL = 300
CAP = 5
BUYERS = 3


class OrderMachine(RuleBasedStateMachine):
    loop: ClassVar[asyncio.AbstractEventLoop]
    db: ClassVar[Database]
    config: ClassVar[Settings]

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    @initialize()
    def set_up(self) -> None:
        self.clock = FrozenClock(utcnow())
        self.run(self._create_world())
        self.free = dict(STOCK)
        self.orders: dict[int, dict[str, Any]] = {}

    async def _create_world(self) -> None:
        tag = uuid.uuid4().hex[:10]
        async with self.db.transaction() as session:
            county = await catalog.create_county(
                session, CountyCreate(name="Yingde", code=f"P{tag}", city="Qingyuan", province="Guangdong")
            )
            assert county.id is not None
            household = await catalog.create_household(
                session, ROOT, HouseholdCreate(county_id=county.id, name="陈家", village="Shiling", registration_no=f"R{tag}")
            )
            splits = [
                Split(party=f"household:{household.id}", bp=7000),
                Split(party=f"county:{county.id}", bp=2000),
                Split(party="platform", bp=1000),
            ]
            self.products = {}
            for index, stock in STOCK.items():
                data = ProductCreate(name=f"p{index}", county_id=county.id, unit="box", price_fen=PRICES[index], stock=stock, splits=splits)
                product = await catalog.create_product(session, ROOT, data, self.clock.now())
                assert product.id is not None
                self.products[index] = product.id
            anchor = await catalog.create_anchor(session, ROOT, AnchorCreate(name="Host", title="County head", county_id=county.id))
            assert anchor.id is not None
            stream = await streams_service.create_stream(
                session,
                title="property",
                scheduled_start=self.clock.now(),
                scheduled_end=self.clock.now() + timedelta(hours=1),
                anchor_ids=[anchor.id],
                product_ids=list(self.products.values()),
            )
            assert stream.id is not None
            self.stream_id = stream.id
            await streams_service.start_stream(session, stream.id, now=self.clock.now())
            users = [User(username=f"pb{tag}{i}", password_hash="!", role=Role.viewer, display_name=f"买家{i}") for i in range(BUYERS)]
            session.add_all(users)
            await session.flush()
            self.buyers = [Principal(id=u.id or 0, username=u.username, role=Role.viewer, display_name=u.display_name) for u in users]
            self.parties = [f"household:{household.id}", f"county:{county.id}"]
            self.platform_start = await _balance(session, "platform")

    async def _attempt(self, work: Any) -> bool:
        try:
            async with self.db.transaction() as session:
                await work(session)
        except LiveCommerceError:
            return False
        return True

    def _held(self, buyer: int, product: int) -> int:
        return sum(
            o["items"].get(product, 0)
            for o in self.orders.values()
            if o["buyer"] == buyer and o["status"] in (OrderStatus.pending_payment, OrderStatus.paid)
        )

    def _due(self, order: dict[str, Any]) -> bool:
        return bool(self.clock.now() >= order["expires_at"])

    @rule(buyer=st.integers(0, BUYERS - 1), q0=st.integers(0, 4), q1=st.integers(0, 3))
    def place(self, buyer: int, q0: int, q1: int) -> None:
        items = {index: q for index, q in ((0, q0), (1, q1)) if q > 0}
        if not items:
            return
        principal = self.buyers[buyer]
        key = uuid.uuid4().hex
        placed: list[int] = []

        async def work(session: Any) -> None:
            ask = Ask(
                buyer=principal,
                scope=Scope(Channel.live, stream_id=self.stream_id),
                items=tuple(Item(self.products[i], q) for i, q in items.items()),
                key=key,
                now=self.clock.now(),
            )
            await place_batch(session, [ask], LiveRules(self.config), self.config)
            if ask.error is not None:
                raise ask.error
            assert ask.result is not None and ask.result.created
            placed.append(ask.result.id)

        expected = all(self.free[i] >= q and self._held(buyer, i) + q <= CAP for i, q in items.items())
        assert self.run(self._attempt(work)) is expected
        if expected:
            for i, q in items.items():
                self.free[i] -= q
            self.orders[placed[0]] = {
                "buyer": buyer,
                "items": items,
                "status": OrderStatus.pending_payment,
                "expires_at": self.clock.now() + timedelta(seconds=TTL),
                "total": sum(PRICES[i] * q for i, q in items.items()),
            }

    @precondition(lambda self: bool(self.orders))
    @rule(data=st.data())
    def pay(self, data: st.DataObject) -> None:
        order_id = data.draw(st.sampled_from(sorted(self.orders)))
        order = self.orders[order_id]
        principal = self.buyers[order["buyer"]]
        provider = SandboxProvider("secret")
        ok = self.run(self._attempt(lambda s: service.pay_with_provider(s, principal, order_id, provider, now=self.clock.now())))
        was_paid = order["status"] == OrderStatus.paid
        expected = was_paid or (order["status"] == OrderStatus.pending_payment and not self._due(order))
        assert ok is expected
        order["status"] = OrderStatus.paid if expected else order["status"]

    @precondition(lambda self: bool(self.orders))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        order_id = data.draw(st.sampled_from(sorted(self.orders)))
        order = self.orders[order_id]
        principal = self.buyers[order["buyer"]]
        ok = self.run(self._attempt(lambda s: service.cancel_order(s, principal, order_id, now=self.clock.now())))
        assert ok is (order["status"] in (OrderStatus.pending_payment, OrderStatus.cancelled))
        if order["status"] == OrderStatus.pending_payment:
            order["status"] = OrderStatus.cancelled
            self._free(order)

    @precondition(lambda self: bool(self.orders))
    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        order_id = data.draw(st.sampled_from(sorted(self.orders)))
        order = self.orders[order_id]
        ok = self.run(self._attempt(lambda s: service.refund_order(s, ROOT, order_id, now=self.clock.now())))
        assert ok is (order["status"] == OrderStatus.paid)
        if ok:
            order["status"] = OrderStatus.refunded
            self._free(order)

    @rule(seconds=st.integers(1, 2 * TTL))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(timedelta(seconds=seconds))

    @rule()
    def sweep(self) -> None:
        async def work() -> int:
            async with self.db.transaction() as session:
                return await service.expire_due_orders(session, now=self.clock.now())

        due = [o for o in self.orders.values() if o["status"] == OrderStatus.pending_payment and self._due(o)]
        assert self.run(work()) == len(due)
        for order in due:
            order["status"] = OrderStatus.expired
            self._free(order)

    def _free(self, order: dict[str, Any]) -> None:
        for i, q in order["items"].items():
            self.free[i] += q

    @invariant()
    def database_agrees_with_the_model(self) -> None:
        if not hasattr(self, "products"):
            return
        self.run(self._check())

    async def _check(self) -> None:
        async with self.db.sessionmaker() as session:
            for index, product_id in self.products.items():
                product = await session.get(Product, product_id)
                assert product is not None
                assert min(product.stock, product.reserved, product.sold) >= 0
                assert product.stock + product.reserved + product.sold == STOCK[index]
                holding = {OrderStatus.pending_payment: 0, OrderStatus.paid: 0}
                for o in self.orders.values():
                    if o["status"] in holding:
                        holding[o["status"]] += o["items"].get(index, 0)
                assert (product.stock, product.reserved, product.sold) == (
                    self.free[index],
                    holding[OrderStatus.pending_payment],
                    holding[OrderStatus.paid],
                )
            ids = sorted(self.orders)
            if ids:
                rows = dict((await session.execute(select(col(Order.id), col(Order.status)).where(col(Order.id).in_(ids)))).all())
                assert rows == {oid: o["status"].value for oid, o in self.orders.items()}
            paid_total = sum(o["total"] for o in self.orders.values() if o["status"] == OrderStatus.paid)
            credited = sum([await _balance(session, p) for p in self.parties]) + await _balance(session, "platform") - self.platform_start
            assert credited == paid_total

    def teardown(self) -> None:
        # The sweep is global: leave no unpaid order behind for the next example's sweeps to find.
        async def clear() -> None:
            async with self.db.transaction() as session:
                await service.expire_due_orders(session, now=utcnow() + timedelta(days=30), limit=10_000)

        self.run(clear())


async def _balance(session: Any, party: str) -> int:
    account = await session.scalar(select(LedgerAccount).where(col(LedgerAccount.party) == party))
    return 0 if account is None else int(account.balance_fen)


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
class TestOrderLifecycleProperties:
    def test_random_operation_sequences_keep_stock_orders_and_ledger_consistent(
        self, machine_db: tuple[asyncio.AbstractEventLoop, Database], fresh_database: str
    ) -> None:
        OrderMachine.loop, OrderMachine.db = machine_db
        OrderMachine.config = Settings(database_url=fresh_database, reservation_ttl_seconds=TTL, max_quantity_per_buyer=CAP)
        run_state_machine_as_test(
            OrderMachine,
            settings=settings(max_examples=20, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]),
        )
