"""Village service stations ranked by the sales credited to them in a period, as the award ceremony needs, and as XLSX."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.catalog import repository as catalog
from livecommerce.kit.spreadsheets import XLSX_MEDIA_TYPE, Sheet, workbook_bytes
from livecommerce.ledger.reports import day_bounds, movements
from livecommerce.ledger.schemas import StationRank, StationRanking
from livecommerce.ledger.service import REPORTING_ZONE

__all__ = ["XLSX_MEDIA_TYPE", "ranking_workbook", "station_ranking"]


async def station_ranking(session: AsyncSession, start: date, end: date, county_ids: frozenset[int] | None) -> StationRanking:
    """Every station of the counties (all when None), most net credit first; equal net credit, equal rank."""
    stations = await catalog.stations_in(session, county_ids)
    moved = await movements(session, [f"station:{s.id}" for s in stations], *day_bounds(start, end))
    counties = await catalog.county_names(session, {s.county_id for s in stations})
    rows = []
    for s in stations:
        assert s.id is not None
        entry = moved.get(f"station:{s.id}")
        credited, debited = (entry.credited, entry.debited) if entry is not None else (0, 0)
        rows.append((credited - debited, credited, debited, s))
    rows.sort(key=lambda r: (-r[0], r[3].id))
    items: list[StationRank] = []
    for position, (net, credited, debited, s) in enumerate(rows, start=1):
        rank = items[-1].rank if items and items[-1].net_fen == net else position
        assert s.id is not None
        items.append(
            StationRank(
                rank=rank,
                station_id=s.id,
                name=s.name,
                village=s.village,
                county_id=s.county_id,
                county_name=counties.get(s.county_id),
                credited_fen=credited,
                reversed_fen=debited,
                net_fen=net,
            )
        )
    return StationRanking(period_from=start, period_to=end, timezone=str(REPORTING_ZONE), items=items)


def ranking_workbook(ranking: StationRanking, *, title: str = "Stations") -> bytes:
    """The ranking as .xlsx bytes, through the kit's writer: yuan beside each amount, names never run as formulas."""
    period = f"{ranking.period_from.isoformat()} – {ranking.period_to.isoformat()} ({ranking.timezone})"
    headers = ["rank", "station_id", "station", "village", "county", "credited_fen", "reversed_fen", "net_fen"]
    rows = [
        [r.rank, r.station_id, r.name, r.village, r.county_name or "", r.credited_fen, r.reversed_fen, r.net_fen] for r in ranking.items
    ]
    return workbook_bytes([Sheet(title, headers, rows), Sheet("Period", ["period"], [[period]])])
