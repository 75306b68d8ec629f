"""Consumption statistics by every dimension the offices ask for.

By county or channel with no filter, the daily aggregates answer (`livecommerce.ledger.reports`).
Grouping by purchasing-unit type or by the households' benefit linkage, keeping certified products
only, or keeping what reached households under monitoring (or not under it) needs what those rows
do not hold, so the period's ledger legs are read and combined with the units, the certificates
and the households here: every figure is still the ledger's, sales on the day paid and refunds on
the day refunded.

By linkage, a household's credit falls to its own linkage type (`not_recorded` when none is
recorded), and a product line's figures (orders, units, gross) to each type among the households
it credited: a line crediting households of two types counts in both groups, and a line crediting
no household only in the total. Household credits add up across the groups to the total exactly.
By mechanism, every leg of a line falls to the mechanism recorded on its product, so the groups
add up to the total in every figure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.assistance import repository
from livecommerce.assistance.models import UnitType
from livecommerce.catalog import certification
from livecommerce.catalog import repository as catalog
from livecommerce.catalog.schemas import LINKAGE_TYPES
from livecommerce.ledger import reports
from livecommerce.ledger.reports import CHANNELS, PostedLeg
from livecommerce.ledger.schemas import ConsumptionGroup, ConsumptionStats, SalesFigures
from livecommerce.ledger.service import CLEARING, REPORTING_ZONE, account_kind
from livecommerce.orders import repository as orders

NO_UNIT = "none"  # orders that name no purchasing unit (a viewer in a live stream, a physical channel)
UNIT_TYPES = (*(t.value for t in UnitType), NO_UNIT)
NOT_RECORDED = "not_recorded"  # households whose linkage type is not recorded
LINKAGE_GROUPS = (*LINKAGE_TYPES, NOT_RECORDED)
GROUPINGS = ("county", "channel", "unit_type", "linkage", "mechanism")

# A product line of one sale or refund: the clearing leg and the household legs it shares.
_Line = tuple[int, bool, int]


def _line(leg: PostedLeg) -> _Line:
    return (leg.order_id, leg.refund, leg.product_id)


@dataclass
class _Figures:
    """Running figures of one group."""

    orders: set[int] = field(default_factory=set)
    refunded_orders: set[int] = field(default_factory=set)
    units: int = 0
    gross_fen: int = 0
    refunded_units: int = 0
    refunded_fen: int = 0
    household_fen: int = 0
    refunded_household_fen: int = 0

    def add(self, leg: PostedLeg) -> None:
        if leg.party == CLEARING:
            (self.refunded_orders if leg.refund else self.orders).add(leg.order_id)
            if leg.refund:
                self.refunded_units += leg.quantity
                self.refunded_fen += leg.amount_fen
            else:
                self.units += leg.quantity
                self.gross_fen += leg.amount_fen
        elif account_kind(leg.party) == "household":
            if leg.refund:
                self.refunded_household_fen += leg.amount_fen
            else:
                self.household_fen += leg.amount_fen

    def values(self) -> dict[str, int]:
        return {
            "orders": len(self.orders),
            "units": self.units,
            "gross_fen": self.gross_fen,
            "refunded_orders": len(self.refunded_orders),
            "refunded_units": self.refunded_units,
            "refunded_fen": self.refunded_fen,
            "net_fen": self.gross_fen - self.refunded_fen,
            "household_fen": self.household_fen,
            "refunded_household_fen": self.refunded_household_fen,
            "net_household_fen": self.household_fen - self.refunded_household_fen,
        }


def _household_id(party: str) -> int | None:
    return int(party.split(":", 1)[1]) if account_kind(party) == "household" else None


async def _certified_legs(session: AsyncSession, legs: list[PostedLeg]) -> list[PostedLeg]:
    """The legs of products certified when the sale was paid (a refund follows its sale)."""
    history = await certification.validities(session, {leg.product_id for leg in legs})
    return [leg for leg in legs if certification.certified_at(history.get(leg.product_id, []), leg.sold_at)]


async def _monitoring_legs(session: AsyncSession, legs: list[PostedLeg], monitored: bool) -> list[PostedLeg]:
    """What reached households under monitoring (or, `monitored` false, not under it): their credits, and the lines that credited them."""
    households = await catalog.households_by_ids(session, {h for leg in legs if (h := _household_id(leg.party)) is not None})
    chosen = {hid for hid, h in households.items() if h.monitored is monitored}
    reached = {_line(leg) for leg in legs if (hid := _household_id(leg.party)) is not None and hid in chosen}
    kept = []
    for leg in legs:
        hid = _household_id(leg.party)
        if hid is not None:
            if hid in chosen:
                kept.append(leg)
        elif leg.party == CLEARING and _line(leg) in reached:
            kept.append(leg)
    return kept


async def _linkage_keys(session: AsyncSession, legs: list[PostedLeg]) -> dict[int, set[str]]:
    """The linkage groups each leg falls to, by the leg's index: a household's own type, a line's every credited household's."""
    households = await catalog.households_by_ids(session, {h for leg in legs if (h := _household_id(leg.party)) is not None})
    of_household = {hid: h.linkage_type if h.linkage_type in LINKAGE_TYPES else NOT_RECORDED for hid, h in households.items()}
    of_line: dict[_Line, set[str]] = defaultdict(set)
    for leg in legs:
        if (hid := _household_id(leg.party)) is not None:
            of_line[_line(leg)].add(of_household.get(hid, NOT_RECORDED))
    keys: dict[int, set[str]] = {}
    for index, leg in enumerate(legs):
        if (hid := _household_id(leg.party)) is not None:
            keys[index] = {of_household.get(hid, NOT_RECORDED)}
        elif leg.party == CLEARING:
            keys[index] = of_line.get(_line(leg), set())
    return keys


async def _mechanisms(session: AsyncSession, product_ids: Iterable[int]) -> dict[int, str]:
    """The linkage mechanism recorded on each product (`not_recorded` when none is)."""
    return {
        p.id: p.linkage_mechanism if p.linkage_mechanism in LINKAGE_TYPES else NOT_RECORDED
        for p in await catalog.products_by_ids(session, product_ids)
        if p.id is not None
    }


async def _unit_types(session: AsyncSession, order_ids: Iterable[int]) -> dict[int, str]:
    """The type of each order's purchasing unit, for the orders that name one."""
    unit_of = await orders.unit_ids_of_orders(session, order_ids)
    types = {u.id: u.unit_type for u in await repository.units_by_ids(session, set(unit_of.values()))}
    return {order_id: types.get(u, NO_UNIT) for order_id, u in unit_of.items()}


async def consumption_stats(
    session: AsyncSession,
    start: date,
    end: date,
    group_by: str,
    county_ids: frozenset[int] | None = None,
    *,
    certified_only: bool = False,
    monitored: bool | None = None,
) -> ConsumptionStats:
    """Sales credited to poverty alleviation in a period, grouped by county, channel, unit type or linkage, optionally filtered.

    With `county_ids` (an organizer's counties) only those counties' produce is counted; with
    `monitored` true (false) only what reached households under monitoring (not under it).
    """
    if group_by in ("county", "channel") and not certified_only and monitored is None:
        return await reports.consumption_stats(session, start, end, group_by, county_ids)
    legs = await reports.posted_legs_in(session, start, end, county_ids)
    if certified_only:
        legs = await _certified_legs(session, legs)
    if monitored is not None:
        legs = await _monitoring_legs(session, legs, monitored)
    unit_types = await _unit_types(session, {leg.order_id for leg in legs}) if group_by == "unit_type" else {}
    linkages = await _linkage_keys(session, legs) if group_by == "linkage" else {}
    mechanisms = await _mechanisms(session, {leg.product_id for leg in legs}) if group_by == "mechanism" else {}
    groups: dict[str | int, _Figures] = defaultdict(_Figures)
    total = _Figures()
    for index, leg in enumerate(legs):
        keys: Iterable[str | int]
        if group_by == "county":
            keys = {leg.county_id}
        elif group_by == "channel":
            keys = {leg.channel}
        elif group_by == "unit_type":
            keys = {unit_types.get(leg.order_id, NO_UNIT)}
        elif group_by == "mechanism":
            keys = {mechanisms.get(leg.product_id, NOT_RECORDED)}
        else:
            keys = linkages.get(index, set())
        for key in keys:
            groups[key].add(leg)
        total.add(leg)
    return ConsumptionStats(
        period_from=start,
        period_to=end,
        group_by=group_by,
        timezone=str(REPORTING_ZONE),
        items=await _items(session, group_by, groups),
        total=SalesFigures(**total.values()),
        certified_only=certified_only,
        monitored_only=monitored is True,
        monitored=monitored,
    )


async def _items(session: AsyncSession, group_by: str, groups: dict[str | int, _Figures]) -> list[ConsumptionGroup]:
    if group_by == "county":
        ids = sorted(int(k) for k in groups)
        names = await catalog.county_names(session, ids)
        return [
            ConsumptionGroup.model_validate({"key": f"county:{cid}", "county_id": cid, "name": names.get(cid), **groups[cid].values()})
            for cid in ids
        ]
    if group_by == "channel":
        return [ConsumptionGroup.model_validate({"key": c, "channel": c, **groups.get(c, _Figures()).values()}) for c in CHANNELS]
    if group_by == "linkage":
        return [
            ConsumptionGroup.model_validate({"key": k, "linkage_type": k, **groups.get(k, _Figures()).values()}) for k in LINKAGE_GROUPS
        ]
    if group_by == "mechanism":
        return [
            ConsumptionGroup.model_validate({"key": k, "linkage_mechanism": k, **groups.get(k, _Figures()).values()})
            for k in LINKAGE_GROUPS
        ]
    return [ConsumptionGroup.model_validate({"key": t, "unit_type": t, **groups.get(t, _Figures()).values()}) for t in UNIT_TYPES]
