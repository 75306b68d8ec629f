"""Post-stream and campaign reviews, composed from the owners of each figure.

Money comes from the ledger (the stream report's totals and the postings' times), the
audience from the stream's event log (`viewers.updated`) and its viewer records, buyers
from the orders, moments from the event log, campaign membership from the schedule.
Nothing here queries another module's tables; it only adds figures up.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.broadcasts import audience
from livecommerce.broadcasts import service as broadcasts
from livecommerce.broadcasts.models import StreamStatus
from livecommerce.catalog import service as catalog
from livecommerce.kit.errors import Forbidden, NotFound
from livecommerce.kit.i18n import _l
from livecommerce.kit.principal import Principal
from livecommerce.ledger import reports
from livecommerce.ledger.review import MinuteSales, county_totals_of_streams, sales_by_minute, totals_of_streams
from livecommerce.ledger.service import StreamTotals
from livecommerce.orders import repository as orders
from livecommerce.review.schemas import (
    AnchorTotal,
    CampaignReview,
    Comparison,
    CountyTotal,
    Funnel,
    Moment,
    RankedStream,
    StreamReview,
    TimelineMinute,
    TopProduct,
)
from schedulers import campaigns as scheduling

TOP_PRODUCTS = 10
MINUTE = timedelta(minutes=1)
REVIEWED_STATUSES = (StreamStatus.live.value, StreamStatus.ended.value)


def conversion_bp(buyers: int, viewers: int) -> int:
    """Buyers per viewer in basis points, rounded down (0 when nobody signed in watched)."""
    return buyers * 10000 // viewers if viewers else 0


def median_fen(values: Sequence[int]) -> int | None:
    """The median of amounts in fen, the lower fen when it falls between two (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) // 2


def _floor_minute(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(second=0, microsecond=0)


def _minute_index(origin: datetime, at: datetime) -> int:
    return max(0, int((_floor_minute(at) - origin) // MINUTE))


async def stream_review(session: AsyncSession, principal: Principal, stream_id: int, *, now: datetime) -> StreamReview:
    """The review of one stream, for its hosts and the organizers of its counties."""
    stream = await broadcasts.get_stream(session, stream_id)
    await broadcasts.require_controller(session, principal, stream_id)
    report = await reports.stream_report(session, principal, stream_id)
    per_minute = await sales_by_minute(session, stream_id)
    watching = await audience.viewers_by_minute(session, stream_id)
    moment_events = await audience.events_of_types(session, stream_id, audience.MOMENT_EVENT_TYPES)
    unique = (await audience.unique_viewers(session, [stream_id]))[stream_id]
    placed, buyers = (await orders.buyers_of_streams(session, [stream_id]))[stream_id]

    origin = _floor_minute(stream.started_at) if stream.started_at else None
    timeline: list[TimelineMinute] = []
    if origin is not None:
        last = stream.ended_at or now
        # Orders reserved near the end may be paid a little after it; refunds can come days later and stay in the totals only.
        closing = max([last, *(at for at, sales in per_minute.items() if sales.paid_orders)])
        timeline = _timeline(origin, closing, stream.ended_at, per_minute, watching)
    moments = [
        Moment(
            at=e.ts,
            type=e.type,
            product_id=_int_or_none(e.data.get("product_id")),
            deal_id=_int_or_none(e.data.get("deal_id")),
            minute=_minute_index(origin, e.ts) if origin else 0,
        )
        for e in moment_events
    ]
    top = sorted(report.by_product, key=lambda p: (-p.gross_fen, p.product_id))[:TOP_PRODUCTS]
    return StreamReview(
        stream_id=stream_id,
        title=stream.title,
        status=stream.status,
        started_at=stream.started_at,
        ended_at=stream.ended_at,
        timeline=timeline,
        peak_viewers=max((m.peak for m in watching), default=0),
        unique_viewers=unique,
        buyers=buyers,
        conversion_bp=conversion_bp(buyers, unique),
        funnel=Funnel(unique_viewers=unique, ordering_buyers=placed, buyers=buyers),
        gmv_fen=report.gmv_fen,
        refunded_fen=report.refunded_fen,
        net_fen=report.net_fen,
        paid_orders=report.paid_orders,
        refunded_orders=report.refunded_orders,
        units=report.units,
        top_products=[
            TopProduct(
                product_id=p.product_id, name=p.name, units=p.units, gmv_fen=p.gross_fen, refunded_fen=p.refunded_fen, net_fen=p.net_fen
            )
            for p in top
        ],
        moments=moments,
        compared_to=await _comparison(session, stream_id),
    )


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _timeline(
    origin: datetime,
    closing: datetime,
    ended_at: datetime | None,
    per_minute: dict[datetime, MinuteSales],
    watching: Sequence[audience.MinuteViewers],
) -> list[TimelineMinute]:
    """Every minute from the first to the last, with the sales paid in it and the most viewers watching at once.

    A minute's viewers are the count it began with (the last one reported before it) or
    any higher count reported during it; once the stream has ended nobody is watching.
    """
    by_minute = {m.at: m for m in watching}
    carried = next((m.last for m in reversed(watching) if m.at < origin), 0)
    rows = []
    for index in range(_minute_index(origin, closing) + 1):
        at = origin + index * MINUTE
        seen = by_minute.get(at)
        viewers = 0 if ended_at is not None and at >= ended_at else max(carried, seen.peak if seen else 0)
        if seen is not None:
            carried = seen.last
        sales = per_minute.get(at) or MinuteSales()
        rows.append(
            TimelineMinute(
                minute=index,
                at=at,
                gmv_fen=sales.gmv_fen,
                paid_orders=sales.paid_orders,
                refunded_fen=sales.refunded_fen,
                viewers=viewers,
            )
        )
    return rows


async def _comparison(session: AsyncSession, stream_id: int) -> Comparison:
    """Medians of the gross of the other ended streams serving the same counties, and of the same campaign."""
    counties = await broadcasts.stream_county_ids(session, stream_id)
    county_peers = [s for s in await audience.ended_streams_serving(session, counties) if s != stream_id]
    campaign_id = await scheduling.campaign_of_stream(session, stream_id)
    campaign_peers: list[int] = []
    if campaign_id is not None:
        members = [s for s in await scheduling.streams_of_campaign(session, campaign_id) if s != stream_id]
        found = await audience.streams_by_id(session, members)
        campaign_peers = [s for s in members if s in found and found[s].status == StreamStatus.ended.value]
    totals = await totals_of_streams(session, [*county_peers, *campaign_peers])
    return Comparison(
        county_median_gmv_fen=median_fen([totals[s].gmv_fen for s in county_peers]),
        campaign_median_gmv_fen=median_fen([totals[s].gmv_fen for s in campaign_peers]),
        county_streams=len(county_peers),
        campaign_id=campaign_id,
        campaign_streams=len(campaign_peers),
    )


async def _visible_streams(session: AsyncSession, principal: Principal, stream_ids: Iterable[int]) -> list[int]:
    """The streams whose figures the principal may see: all for admins, those serving its counties for organizers."""
    ids = sorted(set(stream_ids))
    if principal.is_admin:
        return ids
    served = await audience.counties_served(session, ids)
    return [s for s in ids if served[s] & principal.county_ids]


async def campaign_review(session: AsyncSession, principal: Principal, campaign_id: int) -> CampaignReview:
    """A campaign's streams that went live, summed and ranked by gross, with each county's and anchor's totals."""
    if not principal.is_staff:
        raise Forbidden(_l("Only organizers and admins can read a campaign's review."))
    campaign = await scheduling.get_campaign(session, campaign_id)
    found = await audience.streams_by_id(session, await scheduling.streams_of_campaign(session, campaign_id))
    went_live = [s for s, stream in found.items() if stream.status in REVIEWED_STATUSES]
    ids = await _visible_streams(session, principal, went_live)
    totals = await totals_of_streams(session, ids)
    peaks = await audience.peak_viewers(session, ids)
    uniques = await audience.unique_viewers(session, ids)
    buyers = await orders.buyers_of_streams(session, ids)
    hosts = await audience.hosts_of(session, ids)

    ranked = sorted(ids, key=lambda s: (-totals[s].gmv_fen, s))
    streams = [
        RankedStream(
            rank=rank,
            stream_id=s,
            title=found[s].title,
            status=found[s].status,
            started_at=found[s].started_at,
            host_names=[h.name for h in hosts.get(s, [])],
            gmv_fen=totals[s].gmv_fen,
            refunded_fen=totals[s].refunded_fen,
            net_fen=totals[s].net_fen,
            paid_orders=totals[s].paid_orders,
            units=totals[s].units,
            peak_viewers=peaks[s],
            unique_viewers=uniques[s],
            buyers=buyers[s][1],
            conversion_bp=conversion_bp(buyers[s][1], uniques[s]),
        )
        for rank, s in enumerate(ranked, start=1)
    ]
    viewers = await audience.distinct_viewers(session, ids)
    paying = await orders.distinct_paying_buyers(session, ids)
    return CampaignReview(
        campaign_id=campaign_id,
        name=campaign.name,
        streams=streams,
        gmv_fen=sum(t.gmv_fen for t in totals.values()),
        refunded_fen=sum(t.refunded_fen for t in totals.values()),
        net_fen=sum(t.net_fen for t in totals.values()),
        paid_orders=sum(t.paid_orders for t in totals.values()),
        units=sum(t.units for t in totals.values()),
        peak_viewers=max(peaks.values(), default=0),
        unique_viewers=viewers,
        buyers=paying,
        conversion_bp=conversion_bp(paying, viewers),
        by_county=await _county_totals(session, ids),
        by_anchor=_anchor_totals(ids, totals, hosts),
    )


async def _county_totals(session: AsyncSession, stream_ids: Sequence[int]) -> list[CountyTotal]:
    rows = await county_totals_of_streams(session, stream_ids)
    result = []
    for county_id in sorted(rows, key=lambda c: (-rows[c].gmv_fen, c)):
        try:
            name = (await catalog.get_county(session, county_id)).name
        except NotFound:
            name = ""
        figures = rows[county_id]
        result.append(
            CountyTotal(
                county_id=county_id,
                name=name,
                units=figures.units,
                gmv_fen=figures.gmv_fen,
                refunded_fen=figures.refunded_fen,
                net_fen=figures.gmv_fen - figures.refunded_fen,
            )
        )
    return result


def _anchor_totals(
    stream_ids: Sequence[int], totals: dict[int, StreamTotals], hosts: dict[int, list[audience.StreamHostName]]
) -> list[AnchorTotal]:
    sums: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    names: dict[int, str] = {}
    for s in stream_ids:
        for host in hosts.get(s, []):
            names[host.anchor_id] = host.name
            figures = sums[host.anchor_id]
            figures[0] += 1
            figures[1] += totals[s].gmv_fen
            figures[2] += totals[s].refunded_fen
            figures[3] += totals[s].paid_orders
    return [
        AnchorTotal(anchor_id=a, name=names[a], streams=n, gmv_fen=g, refunded_fen=r, net_fen=g - r, paid_orders=o)
        for a, (n, g, r, o) in sorted(sums.items(), key=lambda kv: (-kv[1][1], kv[0]))
    ]
