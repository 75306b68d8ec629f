"""Ledger, report and statistics routes (some live under /api/streams, /api/counties, /api/households)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from livecommerce.catalog import service as catalog_service
from livecommerce.kit.auth import CadreOrStaff, StaffUser
from livecommerce.kit.deps import ClockDep, SessionDep
from livecommerce.kit.pagination import Page, PageDep
from livecommerce.kit.query import QueryInt, number
from livecommerce.kit.spreadsheets import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE
from livecommerce.kit.types import Instant
from livecommerce.ledger import books, ranking, reports, sheets
from livecommerce.ledger.access import PARTY, parties_in_counties, require_party_visible, require_report_reader
from livecommerce.ledger.schemas import (
    AccountBalance,
    CountyStatement,
    EntryPublic,
    HouseholdStatement,
    LedgerCheck,
    StationRanking,
    StreamReport,
)
from livecommerce.ledger.service import REPORTING_ZONE

router = APIRouter(prefix="/api")

PartyPath = Annotated[str, Path(max_length=64, description='"household:<id>", "station:<id>", "county:<id>", "platform" or "clearing".')]
AsOf = Annotated[Instant | None, Query(description="Balance at this moment (ISO 8601 with offset; without one: 422); default now.")]
From = Annotated[date | None, Query(alias="from", description="First day (Asia/Shanghai), default 29 days before `to`.")]
To = Annotated[date | None, Query(alias="to", description="Last day, inclusive (Asia/Shanghai), default today.")]


@router.get("/ledger/check", response_model=LedgerCheck, tags=["ledger"], summary="Prove the books balance (admin, organizers)")
async def check(session: SessionDep, _staff: StaffUser, as_of: AsOf = None) -> LedgerCheck:
    return await books.check_books(session, as_of=as_of)


@router.get(
    "/ledger/accounts",
    response_model=Page[AccountBalance],
    tags=["ledger"],
    summary="Every account you may see, with its balance now or at `as_of`",
)
async def list_accounts(session: SessionDep, principal: StaffUser, page: PageDep, as_of: AsOf = None) -> Page[AccountBalance]:
    parties = None if principal.is_admin else await parties_in_counties(session, principal.county_ids)
    items, cursor = await books.list_balances(session, page, as_of=as_of, county_parties=parties)
    return Page(items=items, next_cursor=cursor)


@router.get(
    "/ledger/accounts/{party}",
    response_model=AccountBalance,
    tags=["ledger"],
    summary="A party's balance (admins: all; organizers: parties in their counties)",
)
async def get_account(session: SessionDep, principal: StaffUser, party: PartyPath, as_of: AsOf = None) -> AccountBalance:
    await require_party_visible(session, principal, party)
    return await books.account_balance(session, party, as_of=as_of)


@router.get(
    "/ledger/accounts/{party}/entries", response_model=Page[EntryPublic], tags=["ledger"], summary="A party's entries, oldest first"
)
async def account_entries(
    session: SessionDep,
    principal: StaffUser,
    party: PartyPath,
    page: PageDep,
    since: Annotated[Instant | None, Query(description="Only entries at or after this moment (ISO 8601 with offset).")] = None,
    until: Annotated[Instant | None, Query(description="Only entries before this moment (ISO 8601 with offset).")] = None,
) -> Page[EntryPublic]:
    await require_party_visible(session, principal, party)
    items, cursor = await books.account_entries(session, party, page, since=since, until=until)
    return Page(items=items, next_cursor=cursor)


@router.get(
    "/streams/{stream_id}/report", response_model=StreamReport, tags=["reports"], summary="A stream's sales report (staff, host cadres)"
)
async def stream_report(session: SessionDep, principal: CadreOrStaff, stream_id: int) -> StreamReport:
    await require_report_reader(session, principal, stream_id)
    return await reports.stream_report(session, principal, stream_id)


@router.get(
    "/streams/{stream_id}/report.csv",
    tags=["reports"],
    summary="A stream's sales report as CSV: one table, `section` telling stream/product/county/household/party rows apart",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def stream_report_csv(session: SessionDep, principal: CadreOrStaff, stream_id: int) -> Response:
    await require_report_reader(session, principal, stream_id)
    report = await reports.stream_report(session, principal, stream_id)
    return Response(
        sheets.stream_report_csv(report),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="stream-{stream_id}-report.csv"'},
    )


@router.get(
    "/streams/{stream_id}/report.xlsx",
    tags=["reports"],
    summary="A stream's sales report as a workbook: the totals, then a sheet per breakdown (yuan beside fen)",
    response_class=Response,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "The report workbook"}},
)
async def stream_report_xlsx(session: SessionDep, principal: CadreOrStaff, stream_id: int) -> Response:
    await require_report_reader(session, principal, stream_id)
    report = await reports.stream_report(session, principal, stream_id)
    return Response(
        sheets.stream_report_workbook(report),
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="stream-{stream_id}-report.xlsx"'},
    )


@router.get(
    "/ledger/accounts/{party}/statement.xlsx",
    tags=["reports"],
    summary="An account's statement over a period as a workbook (a county's or household's: as their JSON statements)",
    response_class=Response,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "The statement workbook"}},
)
async def account_statement_xlsx(
    session: SessionDep, principal: StaffUser, clock: ClockDep, party: PartyPath, start: From = None, end: To = None
) -> Response:
    """A county's statement for `county:<id>`, a household's for `household:<id>`, the account's movement for the others."""
    await require_party_visible(session, principal, party)
    first, last = reports.period(start, end, clock.now().astimezone(REPORTING_ZONE).date())
    match = PARTY.match(party)
    kind, party_id = (match.group(1), int(match.group(2))) if match and match.group(1) else (party, 0)
    if kind == "county":
        content = sheets.county_statement_workbook(await reports.county_statement(session, party_id, first, last))
    elif kind == "household":
        household = await catalog_service.get_household(session, party_id)
        content = sheets.household_statement_workbook(await reports.household_statement(session, household, first, last))
    else:
        movement = await reports.account_movement(session, party, first, last)
        content = sheets.account_statement_workbook(movement, (first.isoformat(), last.isoformat()), str(REPORTING_ZONE))
    filename = f"statement-{party.replace(':', '-')}-{first.isoformat()}-{last.isoformat()}.xlsx"
    return Response(content, media_type=XLSX_MEDIA_TYPE, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get(
    "/counties/{county_id}/statement",
    response_model=CountyStatement,
    tags=["reports"],
    summary="A county's sales and account movements over a period (its staff)",
)
async def county_statement(
    session: SessionDep, principal: StaffUser, clock: ClockDep, county_id: int, start: From = None, end: To = None
) -> CountyStatement:
    principal.require_county(county_id)
    first, last = reports.period(start, end, clock.now().astimezone(REPORTING_ZONE).date())
    return await reports.county_statement(session, county_id, first, last)


@router.get(
    "/households/{household_id}/statement",
    response_model=HouseholdStatement,
    tags=["reports"],
    summary="A household's account over a period (staff of its county)",
)
async def household_statement(
    session: SessionDep, principal: StaffUser, clock: ClockDep, household_id: int, start: From = None, end: To = None
) -> HouseholdStatement:
    household = await catalog_service.get_household(session, household_id)
    principal.require_county(household.county_id)
    first, last = reports.period(start, end, clock.now().astimezone(REPORTING_ZONE).date())
    return await reports.household_statement(session, household, first, last)


CountyFilter = Annotated[QueryInt | None, Query(gt=0, le=2**31 - 1, description=number("Only this county's stations (one you act for)."))]
RANKING_RESPONSES: dict[int | str, dict[str, object]] = {
    403: {"description": "A county you do not act for"},
    422: {"description": "A bad period"},
}


async def _ranking(
    session: SessionDep, staff: StaffUser, clock: ClockDep, start: date | None, end: date | None, county_id: int | None
) -> StationRanking:
    first, last = reports.period(start, end, clock.now().astimezone(REPORTING_ZONE).date())
    if county_id is not None:
        staff.require_county(county_id)
        scope: frozenset[int] | None = frozenset({county_id})
    else:
        scope = None if staff.is_admin else staff.county_ids
    return await ranking.station_ranking(session, first, last, scope)


@router.get(
    "/stats/stations",
    response_model=StationRanking,
    tags=["reports"],
    summary="Village service stations ranked by sales credited in a period (staff: organizers their counties')",
    responses=RANKING_RESPONSES,
)
async def station_ranking(
    session: SessionDep, staff: StaffUser, clock: ClockDep, start: From = None, end: To = None, county_id: CountyFilter = None
) -> StationRanking:
    """Most net credit (credited by sales paid in the period less refunds in it) first; equal credit, equal rank."""
    return await _ranking(session, staff, clock, start, end, county_id)


@router.get(
    "/stats/stations.xlsx",
    tags=["reports"],
    summary="The station ranking as a workbook (staff)",
    response_class=Response,
    responses={200: {"content": {ranking.XLSX_MEDIA_TYPE: {}}, "description": "The ranking, fen and yuan"}, **RANKING_RESPONSES},
)
async def station_ranking_xlsx(
    session: SessionDep, staff: StaffUser, clock: ClockDep, start: From = None, end: To = None, county_id: CountyFilter = None
) -> Response:
    """The same ranking as .xlsx."""
    table = await _ranking(session, staff, clock, start, end, county_id)
    name = f"station-ranking-{table.period_from.isoformat()}-{table.period_to.isoformat()}.xlsx"
    return Response(
        ranking.ranking_workbook(table),
        media_type=ranking.XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
