"""Page routes: server-rendered pages on the same API, with the static assets they use."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from livecommerce.accounts import service as accounts
from livecommerce.accounts.security import create_access_token
from livecommerce.assistance import stats as assistance_stats
from livecommerce.broadcasts import service as streams_service
from livecommerce.kit.deps import ClockDep, SessionDep, SettingsDep, get_rate_limiter
from livecommerce.kit.errors import LiveCommerceError, NotFound, Unauthorized
from livecommerce.kit.principal import Principal, Role
from livecommerce.kit.ratelimit_deps import check_sign_in
from livecommerce.ledger import ranking
from livecommerce.ledger import reports as ledger_reports
from livecommerce.orders import reconciliation
from livecommerce.payments.registry import REAL_PROVIDERS, ProviderNotConfigured, providers_from
from schedulers import followers, plans
from schedulers.calendar import feed_token
from streams.relay.views import public_envelope
from web import queries
from web.i18n import LANG_COOKIE, LANGUAGES, negotiate
from web.rendering import STATIC_DIR, Page
from web.session import TOKEN_COOKIE, PageUser, home_for, login_redirect, safe_next, same_origin, set_token_cookie

router = APIRouter(include_in_schema=False)
router.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def _page(request: Request, principal: Principal | None, settings: Any) -> Page:
    lang = negotiate(request.headers.get("accept-language"), request.cookies.get(LANG_COOKIE))
    return Page(request, principal, lang, settings)


def _product_json(p: Any) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "unit": p.unit, "price_fen": p.price_fen, "stock": p.stock, "reserved": p.reserved, "sold": p.sold}


async def _may_control(session: SessionDep, principal: Principal | None, stream_id: int) -> bool:
    if principal is None or principal.role is Role.viewer:
        return False
    try:
        await streams_service.require_controller(session, principal, stream_id)
    except Exception:  # Forbidden: simply no controls on the page
        return False
    return True


@router.get("/")
async def home(request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep, user: PageUser) -> Response:
    """Live and upcoming broadcasts."""
    live, upcoming = await queries.home_streams(session, clock.now())
    return _page(request, user, settings).render("home.html", live=live, upcoming=upcoming)


@router.get("/streams/{stream_id}")
async def stream_page(request: Request, stream_id: int, session: SessionDep, settings: SettingsDep, user: PageUser) -> Response:
    """A viewer's stream page: hosts, pinned product, buy flow, live orders."""
    page = _page(request, user, settings)
    try:
        view = await queries.stream_page(session, stream_id)
    except NotFound:
        return page.render("not_found.html", status_code=404)
    controls = await _may_control(session, user, stream_id)
    # The page's first ticker follows the websocket's rule: buyers named in full for staff, masked for everyone else.
    ticker = view.live.ticker if user is not None and user.is_staff else [public_envelope(e) for e in view.live.ticker]
    boot = {
        "stream": {
            "id": stream_id,
            "status": view.stream.status,
            "title": view.stream.title,
            "pinned_product_id": view.stream.pinned_product_id,
        },
        "products": [_product_json(p) for p in view.products],
        "live": {"last_seq": view.live.last_seq, "sales": view.live.sales, "viewers": view.live.viewers, "ticker": ticker},
        "controls": controls,
    }
    return page.render("stream.html", view=view, controls=controls, boot=boot)


@router.get("/dashboard")
async def dashboard(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: PageUser,
    day: Annotated[date | None, Query()] = None,
) -> Response:
    """An organizer's day: every broadcast of the day in their counties at a glance."""
    if user is None or not user.is_staff:
        return login_redirect(request, need_role=user is not None)
    today = day or clock.now().astimezone(settings.tz).date()
    start = datetime.combine(today, time.min, tzinfo=settings.tz)
    cards = await queries.day_streams(session, user, start, start + timedelta(days=1))
    page = _page(request, user, settings)
    return page.render(
        "dashboard.html", cards=cards, day_start=start, prev_day=today - timedelta(days=1), next_day=today + timedelta(days=1)
    )


@router.get("/dashboard/streams/{stream_id}")
async def dashboard_stream(
    request: Request, stream_id: int, session: SessionDep, settings: SettingsDep, clock: ClockDep, user: PageUser
) -> Response:
    """A stream's live sales: GMV, orders per minute, by product and county, households, stock."""
    if user is None or not user.is_staff:
        return login_redirect(request, need_role=user is not None)
    page = _page(request, user, settings)
    try:
        view = await queries.stream_page(session, stream_id)
    except NotFound:
        return page.render("not_found.html", status_code=404)
    if not user.is_admin and not (user.county_ids & view.county_ids):
        return login_redirect(request, need_role=True)
    now = clock.now()
    boot = {
        "stream": {
            "id": stream_id,
            "status": view.stream.status,
            "title": view.stream.title,
            "pinned_product_id": view.stream.pinned_product_id,
        },
        "products": [_product_json(p) for p in view.products],
        "live": {"last_seq": view.live.last_seq, "sales": view.live.sales, "viewers": view.live.viewers, "ticker": view.live.ticker},
        "per_minute": await queries.paid_per_minute(session, stream_id, now),
        "per_minute_end": now.replace(second=0, microsecond=0).isoformat(),
    }
    return page.render("dashboard_stream.html", view=view, boot=boot)


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


@router.get("/schedule")
async def schedule(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: PageUser,
    week: Annotated[date | None, Query()] = None,
) -> Response:
    """A cadre's week: their broadcasts, the open slots, booking, studio controls, the iCalendar link."""
    if user is None or user.role not in (Role.cadre, Role.organizer, Role.admin):
        return login_redirect(request, need_role=user is not None)
    today = clock.now().astimezone(settings.tz).date()
    monday = _week_start(week or today)
    start = datetime.combine(monday, time.min, tzinfo=settings.tz)
    end = start + timedelta(days=7)
    anchors = await queries.anchors_for(session, user)
    own_anchor = user.anchor_id if user.role is Role.cadre else None
    county_ids = {a.county_id for a in anchors} | set(user.county_ids)
    # Another county's studio airs only that county's broadcasts: its slots are not offered here.
    bookable = None if user.role is Role.admin else frozenset(county_ids)
    slots = await queries.week_slots(session, own_anchor, start, end, county_ids=bookable)
    days = [start + timedelta(days=i) for i in range(7)]
    by_day: list[list[queries.SlotView]] = [[] for _ in days]
    for view in slots:
        index = (view.slot.starts_at.astimezone(settings.tz).date() - monday).days
        if 0 <= index < 7:
            by_day[index].append(view)
    my_streams = await queries.anchor_streams(session, own_anchor, start, end) if own_anchor is not None else []
    products = await queries.bookable_products(session, county_ids)
    ical_url = webcal_url = None
    if own_anchor is not None:
        feed = request.url_for("anchor_schedule_ics", anchor_id=own_anchor).include_query_params(token=feed_token(settings, own_anchor))
        ical_url, webcal_url = str(feed), str(feed.replace(scheme="webcal"))
    page = _page(request, user, settings)
    boot = {
        "anchor_id": own_anchor,
        "buffer_minutes": settings.booking_buffer_minutes,
        "anchors": {a.id: a.name for a in anchors},
        "studios": {v.studio.id: v.studio.name for v in slots},
    }
    return page.render(
        "schedule.html",
        days=days,
        by_day=by_day,
        today=today,
        monday=monday,
        prev_week=monday - timedelta(days=7),
        next_week=monday + timedelta(days=7),
        anchors=anchors,
        own_anchor=own_anchor,
        my_streams=my_streams,
        products=products,
        ical_url=ical_url,
        webcal_url=webcal_url,
        boot=boot,
    )


@router.get("/manage/plans/{plan_id}")
async def plan_page(request: Request, session: SessionDep, settings: SettingsDep, user: PageUser, plan_id: int) -> Response:
    """A campaign plan on a calendar beside the current bookings, with the button that applies it."""
    if user is None or not user.is_staff:
        return login_redirect(request, need_role=user is not None)
    page = _page(request, user, settings)
    try:
        view = await plans.plan_calendar(session, plan_id)
    except NotFound:
        return page.render("not_found.html", status_code=404)
    boot = {"plan": {"id": view.plan.id, "campaign_id": view.plan.campaign_id, "applied": view.plan.applied_at is not None}}
    return page.render("plan.html", view=view, boot=boot)


@router.get("/reports")
async def reports(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: PageUser,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    monitored: Annotated[str, Query(max_length=8)] = "",
) -> Response:
    """Stream reports with CSV export, county statements, consumption statistics as charts, and by benefit linkage (of the
    households credited, and the products' mechanisms)."""
    if user is None or not user.is_staff:
        return login_redirect(request, need_role=user is not None)
    today = clock.now().astimezone(settings.tz).date()
    date_to = date_to or today
    date_from = date_from or (date_to - timedelta(days=29))
    cards = await queries.report_streams(session, user)
    counties = await queries.counties_for(session, user)
    page = _page(request, user, settings)
    monitoring = MONITORING_CHOICES.get(monitored)
    linkage_error: str | None = None
    try:
        first, last = ledger_reports.period(date_from, date_to, today)
        scope = None if user.is_admin else user.county_ids
        linkage = await assistance_stats.consumption_stats(session, first, last, "linkage", scope, monitored=monitoring)
        mechanism = await assistance_stats.consumption_stats(session, first, last, "mechanism", scope, monitored=monitoring)
    except LiveCommerceError as exc:
        linkage, mechanism, linkage_error = None, None, exc.render(page.lang)[1]
    boot = {"from": date_from.isoformat(), "to": date_to.isoformat(), "counties": [{"id": c.id, "name": c.name} for c in counties]}
    return page.render(
        "reports.html",
        cards=cards,
        counties=counties,
        date_from=date_from,
        date_to=date_to,
        boot=boot,
        linkage=linkage,
        mechanism=mechanism,
        linkage_error=linkage_error,
        monitored="" if monitoring is None else monitored,
    )


# The reports page's monitoring filter: everything, what reached monitored households, what reached the others.
MONITORING_CHOICES: dict[str, bool | None] = {"": None, "true": True, "false": False}


@router.get("/reports/stations")
async def station_ranking(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: PageUser,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
) -> Response:
    """Village service stations ranked by sales credited in a period (organizers: their counties'), with the workbook."""
    if user is None or not user.is_staff:
        return login_redirect(request, need_role=user is not None)
    page = _page(request, user, settings)
    today = clock.now().astimezone(settings.tz).date()
    date_to = date_to or today
    date_from = date_from or (date_to - timedelta(days=29))
    try:
        first, last = ledger_reports.period(date_from, date_to, today)
    except LiveCommerceError as exc:
        return page.render(
            "station_ranking.html", status_code=422, table=None, error=exc.render(page.lang)[1], date_from=date_from, date_to=date_to
        )
    table = await ranking.station_ranking(session, first, last, None if user.is_admin else user.county_ids)
    return page.render("station_ranking.html", table=table, error=None, date_from=first, date_to=last)


@router.get("/reports/streams/{stream_id}")
async def stream_report(request: Request, stream_id: int, session: SessionDep, settings: SettingsDep, user: PageUser) -> Response:
    """One stream's post-stream review (its hosts, its counties' organizers), printable, with the report's tables for staff."""
    if user is None or user.role is Role.viewer:
        return login_redirect(request, need_role=user is not None)
    page = _page(request, user, settings)
    try:
        view = await queries.stream_page(session, stream_id)
    except NotFound:
        return page.render("not_found.html", status_code=404)
    if not await _may_control(session, user, stream_id):
        return login_redirect(request, need_role=True)
    boot = {"stream": {"id": stream_id}, "products": {p.id: p.name for p in view.products}}
    return page.render("stream_report.html", view=view, boot=boot)


@router.get("/reports/campaigns/{campaign_id}")
async def campaign_report(request: Request, campaign_id: int, settings: SettingsDep, user: PageUser) -> Response:
    """A campaign's review: its streams ranked, with county and host totals (organizers see their counties' streams)."""
    if user is None or not user.is_staff:
        return login_redirect(request, need_role=user is not None)
    return _page(request, user, settings).render("campaign_review.html", campaign_id=campaign_id, boot={"campaign": {"id": campaign_id}})


@router.get("/reports/payments")
async def payment_reconciliation(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: PageUser,
    provider: Annotated[str | None, Query(max_length=32)] = None,
    day: Annotated[date | None, Query(alias="date")] = None,
) -> Response:
    """An admin's reconciliation of a payment provider's bill of a day (yesterday by default) with the payments here."""
    if user is None or not user.is_admin:
        return login_redirect(request, need_role=user is not None)
    page = _page(request, user, settings)
    day = day or clock.now().astimezone(settings.tz).date() - timedelta(days=1)
    result, error = None, None
    try:
        providers = providers_from(settings)
    except (ProviderNotConfigured, OSError, ValueError):
        providers, error = None, page.t("payments.misconfigured")
    names = [n for n in providers.names if n in REAL_PROVIDERS] if providers is not None else []
    chosen = provider if provider in names else (names[0] if names else None)
    if providers is not None and chosen is not None:
        try:
            result = await reconciliation.reconcile_day(session, providers.get(chosen), day, tz=settings.tz)
        except LiveCommerceError as exc:
            error = exc.render(page.lang)[1]
    return page.render("payment_reconciliation.html", providers=names, provider=chosen, day=day, result=result, error=error)


@router.get("/login")
async def login_form(
    request: Request,
    settings: SettingsDep,
    user: PageUser,
    next: Annotated[str | None, Query(max_length=512)] = None,
    need: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """The sign-in form (and a short registration form for viewers)."""
    page = _page(request, user, settings)
    return page.render("login.html", next=safe_next(next, ""), need_role=need == "role", failed=False)


@router.post("/login")
async def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=128)],
    next: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    """Check the credentials, set the `lc_token` cookie and go on (JSON for page scripts)."""
    wants_json = "x-requested-with" in request.headers
    if not same_origin(request):
        return JSONResponse({"detail": "Cross-site sign-in refused."}, status_code=403)
    # The same limits as the API's sign-in, or this form would be the way around them.
    await check_sign_in(get_rate_limiter(request), request, username)
    try:
        user = await accounts.authenticate(session, username, password)
    except Unauthorized:
        if wants_json:
            return JSONResponse({"detail": "Wrong username or password."}, status_code=401)
        page = _page(request, None, settings)
        return page.render("login.html", status_code=401, next=safe_next(next, ""), need_role=False, failed=True, username=username)
    assert user.id is not None
    token = create_access_token(
        user_id=user.id,
        token_version=user.token_version,
        secret=settings.secret_key,
        now=clock.now(),
        ttl_seconds=settings.access_token_ttl_seconds,
    )
    principal = Principal(id=user.id, username=user.username, role=Role(user.role), display_name=user.display_name)
    response: Response
    if wants_json:
        response = JSONResponse({"id": user.id, "role": user.role, "name": user.display_name})
    else:
        response = RedirectResponse(safe_next(next, home_for(principal)), status_code=303)
    set_token_cookie(response, request, token, settings)
    return response


@router.get("/me/notifications")
async def notifications_page(request: Request, session: SessionDep, settings: SettingsDep, user: PageUser) -> Response:
    """The reader's notifications, newest first, unread ones marked."""
    if user is None:
        return login_redirect(request)
    items = await followers.latest_notifications(session, user)
    return _page(request, user, settings).render("notifications.html", items=items)


@router.post("/me/notifications/read")
async def notifications_read(request: Request, session: SessionDep, clock: ClockDep, user: PageUser) -> Response:
    """Mark every notification read (the page's button), and go back to the list."""
    if not same_origin(request):
        return JSONResponse({"detail": "Cross-site request refused."}, status_code=403)
    if user is None:
        return login_redirect(request)
    await followers.mark_all_read(session, user, now=clock.now())
    return RedirectResponse("/me/notifications", status_code=303)


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Forget the sign-in cookie."""
    if not same_origin(request):
        return JSONResponse({"detail": "Cross-site sign-out refused."}, status_code=403)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(TOKEN_COOKIE, path="/")
    return response


@router.get("/lang/{code}")
async def switch_language(code: str, next: Annotated[str | None, Query(max_length=512)] = None) -> Response:
    """Remember the chosen page language and go back."""
    response = RedirectResponse(safe_next(next), status_code=303)
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="lax", path="/")
    return response
