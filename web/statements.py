"""Printable statements: a county's and a household's account over a period, for staff of that county, with the XLSX beside.

The page's own words live here, beside it, in both languages, until the catalogs move to gettext.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from livecommerce.catalog import service as catalog
from livecommerce.kit.deps import ClockDep, SessionDep, SettingsDep
from livecommerce.kit.errors import InvalidInput, NotFound
from livecommerce.kit.principal import Principal
from livecommerce.ledger import reports
from livecommerce.ledger.service import REPORTING_ZONE
from web.i18n import LANG_COOKIE, negotiate
from web.rendering import Page
from web.session import PageUser, login_redirect

router = APIRouter(include_in_schema=False)

From = Annotated[date | None, Query(alias="from")]
To = Annotated[date | None, Query(alias="to")]

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "county_title": "County statement",
        "household_title": "Household statement",
        "period": "Period",
        "timezone": "Days in",
        "print": "Print",
        "xlsx": "Download Excel",
        "apply": "Show",
        "from": "From",
        "to": "To",
        "sales": "Sales",
        "orders": "Paid orders",
        "units": "Units",
        "gross": "Gross",
        "refunded": "Refunded",
        "net": "Net",
        "household_share": "To households (net)",
        "by_channel": "Sales by channel",
        "channel": "Channel",
        "channel.live": "Live broadcasts",
        "channel.unit_subscription": "Unit purchases",
        "channel.physical": "Stations and stores",
        "accounts": "Accounts",
        "account": "Account",
        "name": "Name",
        "opening": "Opening balance",
        "credited": "Credited",
        "debited": "Debited",
        "closing": "Closing balance",
        "by_product": "By product",
        "product": "Product",
        "reversed": "Reversed",
        "village": "Village",
        "none": "Nothing in this period.",
        "yuan": "Amounts in yuan.",
        "bad_period": "The period is not valid: {detail}",
    },
    "zh-CN": {
        "county_title": "县级结算单",
        "household_title": "农户结算单",
        "period": "期间",
        "timezone": "日期按",
        "print": "打印",
        "xlsx": "下载 Excel",
        "apply": "查看",
        "from": "起",
        "to": "止",
        "sales": "销售",
        "orders": "已付订单",
        "units": "件数",
        "gross": "销售额",
        "refunded": "退款",
        "net": "净额",
        "household_share": "农户所得（净）",
        "by_channel": "按渠道",
        "channel": "渠道",
        "channel.live": "直播",
        "channel.unit_subscription": "单位采购",
        "channel.physical": "服务站与门店",
        "accounts": "账户",
        "account": "账户",
        "name": "名称",
        "opening": "期初余额",
        "credited": "入账",
        "debited": "出账",
        "closing": "期末余额",
        "by_product": "按产品",
        "product": "产品",
        "reversed": "冲回",
        "village": "村",
        "none": "本期无记录。",
        "yuan": "金额单位：元。",
        "bad_period": "期间无效：{detail}",
    },
}


def _page(request: Request, principal: Principal | None, settings: Any) -> tuple[Page, Any]:
    lang = negotiate(request.headers.get("accept-language"), request.cookies.get(LANG_COOKIE))
    words = WORDS.get(lang, WORDS["en"])

    def say(key: str, **values: Any) -> str:
        text = words.get(key) or WORDS["en"].get(key) or key
        return text.format(**values) if values else text

    return Page(request, principal, lang, settings), say


def _period(start: date | None, end: date | None, today: date) -> tuple[date, date] | str:
    try:
        return reports.period(start, end, today)
    except InvalidInput as exc:
        return exc.detail


@router.get("/statements/county/{county_id}")
async def county_statement_page(
    request: Request,
    county_id: int,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: PageUser,
    start: From = None,
    end: To = None,
) -> Response:
    """A county's statement for a period, printable (staff of the county)."""
    if user is None or not user.is_staff:
        return login_redirect(request, need_role=user is not None)
    page, say = _page(request, user, settings)
    try:
        county = await catalog.get_county(session, county_id)
    except NotFound:
        return page.render("not_found.html", status_code=404)
    if not user.covers_county(county_id):
        return login_redirect(request, need_role=True)
    period = _period(start, end, clock.now().astimezone(REPORTING_ZONE).date())
    if isinstance(period, str):
        return page.render(
            "statement.html", say=say, kind="county", subject=county.name, error=say("bad_period", detail=period), status_code=422
        )
    statement = await reports.county_statement(session, county_id, *period)
    xlsx = f"/api/ledger/accounts/county:{county_id}/statement.xlsx?from={period[0].isoformat()}&to={period[1].isoformat()}"
    return page.render("statement.html", say=say, kind="county", subject=county.name, statement=statement, period=period, xlsx=xlsx)


@router.get("/statements/household/{household_id}")
async def household_statement_page(
    request: Request,
    household_id: int,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: PageUser,
    start: From = None,
    end: To = None,
) -> Response:
    """A household's statement for a period, printable (staff of the household's county)."""
    if user is None or not user.is_staff:
        return login_redirect(request, need_role=user is not None)
    page, say = _page(request, user, settings)
    try:
        household = await catalog.get_household(session, household_id)
    except NotFound:
        return page.render("not_found.html", status_code=404)
    if not user.covers_county(household.county_id):
        return login_redirect(request, need_role=True)
    period = _period(start, end, clock.now().astimezone(REPORTING_ZONE).date())
    if isinstance(period, str):
        error = say("bad_period", detail=period)
        return page.render("statement.html", say=say, kind="household", subject=household.name, error=error, status_code=422)
    statement = await reports.household_statement(session, household, *period)
    xlsx = f"/api/ledger/accounts/household:{household_id}/statement.xlsx?from={period[0].isoformat()}&to={period[1].isoformat()}"
    return page.render("statement.html", say=say, kind="household", subject=household.name, statement=statement, period=period, xlsx=xlsx)
