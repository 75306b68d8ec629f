"""Reports built from the running aggregates (streams, statistics) and from account entries (statements)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.broadcasts import repository as broadcasts
from livecommerce.catalog import repository as catalog
from livecommerce.catalog import service as catalog_service
from livecommerce.kit.buckets import as_utc
from livecommerce.kit.errors import InvalidInput, NotFound
from livecommerce.kit.i18n import _l
from livecommerce.kit.masking import mask_name
from livecommerce.kit.principal import Principal
from livecommerce.ledger.access import may_see_household
from livecommerce.ledger.books import bucket_amount, signed_amount
from livecommerce.ledger.schemas import (
    AccountMovement,
    ChannelSales,
    ConsumptionGroup,
    ConsumptionStats,
    CountySales,
    CountyStatement,
    HouseholdCredit,
    HouseholdStatement,
    PartyCredit,
    ProductCredit,
    ProductSales,
    SalesFigures,
    StreamReport,
)
from livecommerce.ledger.service import ACCOUNTS, AGGREGATES, DAILY, ENTRIES, REPORTING_ZONE, TRANSACTIONS, account_kind
from livecommerce.ledger.settlement import PENDING, SETTLED

if TYPE_CHECKING:
    from livecommerce.catalog.models import Household

CHANNELS = ("live", "unit_subscription", "physical")
MAX_PERIOD_DAYS = 3660
_FIGURES = ("orders", "units", "gross_fen", "refunded_orders", "refunded_units", "refunded_fen", "household_fen", "refunded_household_fen")


async def stream_report(session: AsyncSession, principal: Principal | None, stream_id: int) -> StreamReport:
    """A stream's sales from its aggregate rows: a handful of rows, however many orders."""
    if not await broadcasts.stream_exists(session, stream_id):
        raise NotFound(_l("Stream {stream_id} does not exist.", stream_id=stream_id))
    rows = (await session.execute(select(AGGREGATES).where(AGGREGATES.c.stream_id == stream_id))).mappings().all()
    whole = next((r for r in rows if r["product_id"] == 0), None)
    lines = [r for r in rows if r["product_id"] != 0 and r["party"] == ""]
    shares = [r for r in rows if r["product_id"] != 0 and r["party"] != ""]
    product_names = await catalog.product_names(session, (r["product_id"] for r in lines))
    county_names = await catalog.county_names(session, (r["county_id"] for r in lines))

    by_product = [
        ProductSales(
            product_id=r["product_id"],
            name=product_names.get(r["product_id"], ""),
            county_id=r["county_id"],
            orders=r["orders"],
            units=r["units"],
            gross_fen=r["gross_fen"],
            refunded_units=r["refunded_units"],
            refunded_fen=r["refunded_fen"],
            net_units=r["units"] - r["refunded_units"],
            net_fen=r["gross_fen"] - r["refunded_fen"],
        )
        for r in sorted(lines, key=lambda r: r["product_id"])
    ]
    counties: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in lines:
        figures = counties[r["county_id"]]
        figures[0] += r["units"]
        figures[1] += r["gross_fen"]
        figures[2] += r["refunded_fen"]
    by_county = [
        CountySales(county_id=cid, name=county_names.get(cid, ""), units=u, gross_fen=g, refunded_fen=rf, net_fen=g - rf)
        for cid, (u, g, rf) in sorted(counties.items())
    ]
    parties: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in shares:
        parties[r["party"]][0] += r["gross_fen"]
        parties[r["party"]][1] += r["refunded_fen"]
    by_party = [PartyCredit(party=p, credited_fen=c, reversed_fen=rv, net_fen=c - rv) for p, (c, rv) in sorted(parties.items())]
    by_household = await _household_credits(session, principal, by_party)
    totals = {k: (whole[k] if whole else 0) for k in ("orders", "units", "gross_fen", "refunded_orders", "refunded_units", "refunded_fen")}
    return StreamReport(
        stream_id=stream_id,
        gmv_fen=totals["gross_fen"],
        paid_orders=totals["orders"],
        refunded_fen=totals["refunded_fen"],
        refunded_orders=totals["refunded_orders"],
        net_fen=totals["gross_fen"] - totals["refunded_fen"],
        units=totals["units"],
        refunded_units=totals["refunded_units"],
        net_units=totals["units"] - totals["refunded_units"],
        by_product=by_product,
        by_county=by_county,
        by_household=by_household,
        by_party=by_party,
    )


async def _household_credits(session: AsyncSession, principal: Principal | None, credits: Sequence[PartyCredit]) -> list[HouseholdCredit]:
    ids = [int(c.party.split(":")[1]) for c in credits if account_kind(c.party) == "household"]
    households = await catalog.households_by_ids(session, ids)
    result = []
    for credit in credits:
        if account_kind(credit.party) != "household":
            continue
        household = households.get(int(credit.party.split(":")[1]))
        if household is None:
            continue
        visible = may_see_household(principal, household.county_id)
        result.append(
            HouseholdCredit(
                **credit.model_dump(),
                household_id=int(credit.party.split(":")[1]),
                county_id=household.county_id,
                name=household.name if visible else mask_name(household.name),
                masked=not visible,
            )
        )
    return result


def period(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    """A closed range of days, by default the last 30 ending today; 422 when it runs backwards or is too long."""
    end = end or today
    start = start or end - timedelta(days=29)
    if start > end:
        raise InvalidInput(_l("`from` is after `to`."), extra={"errors": [{"field": "from", "message": "must not be after `to`"}]})
    if (end - start).days > MAX_PERIOD_DAYS:
        raise InvalidInput(
            _l("A period may span at most {MAX_PERIOD_DAYS} days.", MAX_PERIOD_DAYS=MAX_PERIOD_DAYS),
            extra={"errors": [{"field": "from", "message": "period too long"}]},
        )
    return start, end


def day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The UTC instants where the first day begins and the day after the last begins (in the reporting zone)."""
    begin = datetime.combine(start, time.min, REPORTING_ZONE).astimezone(UTC)
    finish = datetime.combine(end + timedelta(days=1), time.min, REPORTING_ZONE).astimezone(UTC)
    return begin, finish


def _figures(values: dict[str, int]) -> dict[str, int]:
    f = {k: int(values.get(k) or 0) for k in _FIGURES}
    f["net_fen"] = f["gross_fen"] - f["refunded_fen"]
    f["net_household_fen"] = f["household_fen"] - f["refunded_household_fen"]
    return f


async def _daily(session: AsyncSession, start: date, end: date, group: Any, *where: Any) -> dict[Any, dict[str, int]]:
    stmt = (
        select(group.label("grp"), *(func.sum(DAILY.c[k]).label(k) for k in _FIGURES))
        .where(DAILY.c.day >= start, DAILY.c.day <= end, *where)
        .group_by(group)
    )
    return {r["grp"]: _figures(dict(r)) for r in (await session.execute(stmt)).mappings().all()}


@dataclass(frozen=True)
class Moved:
    """One account over a period, as sums of its entries."""

    opening: int = 0
    opening_pending: int = 0
    credited: int = 0  # sales in the period
    debited: int = 0  # refunds in the period
    settled: int = 0  # moved from pending to settled in the period
    pending_change: int = 0


async def movements(session: AsyncSession, parties: Sequence[str], begin: datetime, finish: datetime) -> dict[str, Moved]:
    """Per party: balance (and its pending part) before `begin`, and what raised, lowered and settled it in [begin, finish).

    Settlement transfers leave the balance as it was, so they count only as settled, never as
    credited or debited.
    """
    if not parties:
        return {}
    effect, pending = signed_amount(), bucket_amount(PENDING)
    before, during = ENTRIES.c.created_at < begin, ENTRIES.c.created_at >= begin
    is_transfer = TRANSACTIONS.c.kind == "settlement"
    rows = await session.execute(
        select(
            ACCOUNTS.c.party,
            func.sum(effect).filter(before),
            func.sum(pending).filter(before),
            func.sum(effect).filter(during, effect > 0, ~is_transfer),
            func.sum(-effect).filter(during, effect < 0, ~is_transfer),
            func.sum(effect).filter(during, is_transfer, ENTRIES.c.bucket == SETTLED),
            func.sum(pending).filter(during),
        )
        .select_from(
            ENTRIES.join(ACCOUNTS, ACCOUNTS.c.id == ENTRIES.c.account_id).join(TRANSACTIONS, TRANSACTIONS.c.id == ENTRIES.c.transaction_id)
        )
        .where(ACCOUNTS.c.party.in_(list(parties)), ENTRIES.c.created_at < finish)
        .group_by(ACCOUNTS.c.party)
    )
    return {party: Moved(*(int(v or 0) for v in sums)) for party, *sums in rows.all()}


def _movement(party: str, name: str | None, moved: Moved | None) -> AccountMovement:
    m = moved or Moved()
    closing = m.opening + m.credited - m.debited
    closing_pending = m.opening_pending + m.pending_change
    return AccountMovement(
        party=party,
        name=name,
        opening_balance_fen=m.opening,
        credited_fen=m.credited,
        debited_fen=m.debited,
        closing_balance_fen=closing,
        opening_pending_fen=m.opening_pending,
        opening_settled_fen=m.opening - m.opening_pending,
        settled_in_period_fen=m.settled,
        closing_pending_fen=closing_pending,
        closing_settled_fen=closing - closing_pending,
    )


async def account_movement(session: AsyncSession, party: str, start: date, end: date) -> AccountMovement:
    """One account's opening balance, what raised and lowered it, and its closing balance over a period."""
    moved = await movements(session, [party], *day_bounds(start, end))
    return _movement(party, None, moved.get(party))


async def county_statement(session: AsyncSession, county_id: int, start: date, end: date) -> CountyStatement:
    """A county's sales by channel over a period, and the movements of its, its stations' and its households' accounts."""
    county = await catalog_service.get_county(session, county_id)
    by_channel = await _daily(session, start, end, DAILY.c.channel, DAILY.c.county_id == county_id)
    total = _figures({k: sum(f[k] for f in by_channel.values()) for k in _FIGURES})
    stations = await catalog.stations_of_counties(session, [county_id])
    households = await catalog.households_of_counties(session, [county_id])
    named = [(f"county:{county_id}", county.name)]
    named += [(f"station:{i}", n) for i, n in stations]
    named += [(f"household:{i}", n) for i, n in households]
    moved = await movements(session, [p for p, _ in named], *day_bounds(start, end))
    return CountyStatement(
        county_id=county_id,
        name=county.name,
        period_from=start,
        period_to=end,
        timezone=str(REPORTING_ZONE),
        sales=SalesFigures(**total),
        by_channel=[ChannelSales(channel=c, **by_channel.get(c, _figures({}))) for c in CHANNELS],
        accounts=[_movement(p, n, moved.get(p)) for p, n in named],
    )


async def household_statement(session: AsyncSession, household: Household, start: date, end: date) -> HouseholdStatement:
    """A household's account over a period, with what each product brought it."""
    assert household.id is not None
    party = f"household:{household.id}"
    begin, finish = day_bounds(start, end)
    moved = await movements(session, [party], begin, finish)
    rows = await session.execute(
        select(ENTRIES.c.product_id, ENTRIES.c.direction, func.sum(ENTRIES.c.amount_fen))
        .select_from(
            ENTRIES.join(ACCOUNTS, ACCOUNTS.c.id == ENTRIES.c.account_id).join(TRANSACTIONS, TRANSACTIONS.c.id == ENTRIES.c.transaction_id)
        )
        # Sales and refunds only: a settlement transfer moves money within the account.
        .where(ACCOUNTS.c.party == party, ENTRIES.c.created_at >= begin, ENTRIES.c.created_at < finish, TRANSACTIONS.c.kind != "settlement")
        .group_by(ENTRIES.c.product_id, ENTRIES.c.direction)
    )
    per_product: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for product_id, direction, amount in rows.all():
        per_product[int(product_id or 0)][0 if direction == "credit" else 1] += int(amount)
    names = await catalog.product_names(session, per_product)
    return HouseholdStatement(
        household_id=household.id,
        name=household.name,
        county_id=household.county_id,
        village=household.village,
        period_from=start,
        period_to=end,
        timezone=str(REPORTING_ZONE),
        account=_movement(party, household.name, moved.get(party)),
        by_product=[
            ProductCredit(product_id=pid, name=names.get(pid, ""), credited_fen=c, reversed_fen=r, net_fen=c - r)
            for pid, (c, r) in sorted(per_product.items())
        ],
    )


async def consumption_stats(
    session: AsyncSession, start: date, end: date, group_by: str, county_ids: frozenset[int] | None = None
) -> ConsumptionStats:
    """Sales credited to poverty alleviation in a period, by county or by channel, from the daily aggregates.

    With `county_ids` (an organizer's counties) only those counties' sales are counted.
    """
    column_ = DAILY.c.county_id if group_by == "county" else DAILY.c.channel
    scope = () if county_ids is None else (DAILY.c.county_id.in_(sorted(county_ids)),)
    groups = await _daily(session, start, end, column_, *scope)
    total = _figures({k: sum(f[k] for f in groups.values()) for k in _FIGURES})
    if group_by == "county":
        names = await catalog.county_names(session, groups)
        items = [
            ConsumptionGroup.model_validate({"key": f"county:{cid}", "county_id": cid, "name": names.get(cid), **figures})
            for cid, figures in sorted(groups.items())
        ]
    else:
        items = [ConsumptionGroup.model_validate({"key": c, "channel": c, **groups.get(c, _figures({}))}) for c in CHANNELS]
    return ConsumptionStats(
        period_from=start, period_to=end, group_by=group_by, timezone=str(REPORTING_ZONE), items=items, total=SalesFigures(**total)
    )


@dataclass(frozen=True)
class PostedLeg:
    """One leg of a sale or of its reversal, with the moment the sale was paid (certification is judged then)."""

    order_id: int
    refund: bool
    channel: str
    sold_at: datetime
    party: str
    product_id: int
    county_id: int
    amount_fen: int
    quantity: int


async def posted_legs_in(session: AsyncSession, start: date, end: date, county_ids: frozenset[int] | None = None) -> list[PostedLeg]:
    """Every leg of the sales posted and reversed in a period (days in the reporting zone), for statistics by other dimensions.

    A sale counts on the day it was paid and a refund on the day it was refunded, as in the daily aggregates.
    """
    begin, finish = day_bounds(start, end)
    sale = TRANSACTIONS.alias("sale")
    stmt = (
        select(
            TRANSACTIONS.c.order_id,
            TRANSACTIONS.c.kind,
            TRANSACTIONS.c.channel,
            func.coalesce(sale.c.created_at, TRANSACTIONS.c.created_at),
            ACCOUNTS.c.party,
            ENTRIES.c.product_id,
            ENTRIES.c.county_id,
            ENTRIES.c.amount_fen,
            ENTRIES.c.quantity,
        )
        .select_from(
            ENTRIES.join(TRANSACTIONS, TRANSACTIONS.c.id == ENTRIES.c.transaction_id)
            .join(ACCOUNTS, ACCOUNTS.c.id == ENTRIES.c.account_id)
            .outerjoin(sale, sale.c.id == TRANSACTIONS.c.reverses_id)
        )
        .where(TRANSACTIONS.c.created_at >= begin, TRANSACTIONS.c.created_at < finish)
    )
    if county_ids is not None:
        stmt = stmt.where(ENTRIES.c.county_id.in_(sorted(county_ids)))
    return [
        PostedLeg(
            order_id=int(order_id),
            refund=kind == "reversal",
            channel=channel,
            sold_at=as_utc(sold_at),
            party=party,
            product_id=int(product_id or 0),
            county_id=int(county_id or 0),
            amount_fen=int(amount),
            quantity=int(quantity or 0),
        )
        for order_id, kind, channel, sold_at, party, product_id, county_id, amount, quantity in (await session.execute(stmt)).all()
    ]
