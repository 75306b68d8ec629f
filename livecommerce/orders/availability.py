"""This instance's view of what is left of hot products and flash deals, to say "sold out" without the database.

The database stays the truth: an order is only ever accepted by the placement path, under
row locks. What this view may do is refuse, and only from knowledge that is fresh: learned
within `ttl` seconds from the rows a batch of ours locked, or from a `stock.changed` /
`flash.*` event every instance receives through the bus. When the bus may have lost messages
(it says RESYNC) the view forgets everything; when an entry that would refuse has gone
stale it is read again from the database, once however many callers are waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from livecommerce.catalog.stock import DealState, ProductState
from livecommerce.kit.errors import LiveCommerceError, OutOfStock
from livecommerce.kit.i18n import LazyMessage, _l
from livecommerce.orders.placement import Item, Outcome, deal_refusal


@dataclass
class _Known:
    value: int
    learned: float


@dataclass
class _DealWindow:
    deal: DealState
    learned: float


Reread = Callable[[Sequence[int], Sequence[int]], Awaitable[tuple[dict[int, ProductState], dict[int, DealState]]]]


class Availability:
    """Free units per product and flash deals as this instance last learned them."""

    def __init__(self, ttl_seconds: float = 1.0, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl_seconds
        self._now = monotonic
        self._free: dict[int, _Known] = {}
        self._names: dict[int, str] = {}  # products' names, as last read, so a refusal names the product
        self._deals: dict[int, _DealWindow] = {}
        self._rereads: dict[tuple[tuple[int, ...], tuple[int, ...]], asyncio.Future[None]] = {}
        self.refused_from_memory = 0

    # --- learning ---------------------------------------------------------------------------

    def learn_outcome(self, outcome: Outcome) -> None:
        """What a committed batch saw under its locks (free units after its own orders)."""
        now = self._now()
        for key, left in outcome.free.items():
            if key > 0:
                self._free[key] = _Known(left, now)
        self._names |= outcome.names
        for deal_id, deal in outcome.deals.items():
            left = outcome.free.get(-deal_id, deal.remaining)
            self._deals[deal_id] = _DealWindow(replace(deal, remaining=left), now)

    def learn(self, products: dict[int, ProductState], deals: dict[int, DealState]) -> None:
        """Rows read from the database."""
        now = self._now()
        for pid, state in products.items():
            self._free[pid] = _Known(state.level.stock if state.active else 0, now)
            self._names[pid] = state.name
        for deal_id, deal in deals.items():
            self._deals[deal_id] = _DealWindow(deal, now)

    def observe(self, envelope: dict[str, Any]) -> None:
        """An event from the bus: `stock.changed` and the flash deal events carry what is left."""
        kind, data = envelope.get("type"), envelope.get("data") or {}
        now = self._now()
        if kind == "stock.changed" and isinstance(data.get("product_id"), int) and isinstance(data.get("stock"), int):
            self._free[data["product_id"]] = _Known(data["stock"], now)
            deal_id, left = data.get("deal_id"), data.get("remaining")
            if isinstance(deal_id, int) and isinstance(left, int) and deal_id in self._deals:
                self._deals[deal_id] = _DealWindow(replace(self._deals[deal_id].deal, remaining=left), now)
        elif kind == "flash.ended" and isinstance(data.get("deal_id"), int):
            known = self._deals.get(data["deal_id"])
            if known is not None:
                self._deals[data["deal_id"]] = _DealWindow(replace(known.deal, remaining=0, ended_at=known.deal.ends_at), now)

    def forget(self) -> None:
        """Messages may have been lost: trust nothing learned so far."""
        self._free.clear()
        self._deals.clear()

    # --- deciding ---------------------------------------------------------------------------

    def refusal(self, items: Iterable[Item], now: datetime) -> LiveCommerceError | _Stale | None:
        """A refusal this instance is sure of; STALE when it would refuse from knowledge too old; None to go ahead."""
        fresh_after = self._now() - self.ttl
        stale: list[Item] = []
        for item in items:
            error, learned = self._judge(item, now)
            if error is None:
                continue
            if learned >= fresh_after:
                return error
            stale.append(item)
        return _Stale(stale) if stale else None

    def _judge(self, item: Item, now: datetime) -> tuple[LiveCommerceError | None, float]:
        if item.flash_deal_id is not None:
            known_deal = self._deals.get(item.flash_deal_id)
            if known_deal is None or known_deal.deal.product_id != item.product_id:
                return None, 0.0
            error = deal_refusal(known_deal.deal, item.quantity, now)
            # A deal's window is fixed when it is announced: "not open yet" needs no fresh knowledge.
            certain = known_deal.deal.status(now) == "countdown"
            return error, float("inf") if certain else known_deal.learned
        known = self._free.get(item.product_id)
        if known is None or known.value >= item.quantity:
            return None, 0.0
        return (
            OutOfStock(
                _sold_out(self._names.get(item.product_id), known.value, item.quantity),
                extra={"product_id": item.product_id, "available": known.value},
            ),
            known.learned,
        )

    async def refresh(self, stale: _Stale, reread: Reread) -> None:
        """Read the stale entries again, one read for every caller waiting on the same ones."""
        products = tuple(sorted({i.product_id for i in stale.items if i.flash_deal_id is None}))
        deals = tuple(sorted({i.flash_deal_id for i in stale.items if i.flash_deal_id is not None}))
        key = (products, deals)
        pending = self._rereads.get(key)
        if pending is not None:
            await asyncio.shield(pending)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._rereads[key] = future
        try:
            found_products, found_deals = await reread(products, deals)
            self.learn(found_products, found_deals)
            future.set_result(None)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: the waiters see it through shield
            raise
        finally:
            self._rereads.pop(key, None)


@dataclass(frozen=True)
class _Stale:
    """Items this view would refuse on knowledge older than its ttl."""

    items: list[Item]


STALE = _Stale


def _sold_out(name: str | None, left: int, quantity: int) -> LazyMessage:
    if name is None:
        return _l("This product has {left} unit(s) left; {quantity} requested.", left=left, quantity=quantity)
    return _l("{name} has {left} unit(s) left; {quantity} requested.", name=name, left=left, quantity=quantity)
