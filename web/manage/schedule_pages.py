"""Back-office pages of the schedule: studios, slots, and bookings to confirm, cancel or move.

An organizer sees the studios of its counties and the shared ones, with their slots, and changes only its
counties' studios (admins: all, and the shared ones); see `schedulers/studios.py`.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from livecommerce.catalog import repository as catalog_rows
from livecommerce.catalog import service as catalog
from livecommerce.kit.deps import ClockDep, SessionDep, SettingsDep
from livecommerce.kit.errors import Forbidden, LiveCommerceError, NotFound
from livecommerce.kit.pagination import PageParams
from livecommerce.kit.principal import Principal
from schedulers import bookings as booking_service
from schedulers import slots as slot_service
from schedulers import studios as studio_service
from schedulers.schemas import BookingReschedule, SlotCreate, StudioCreate, StudioUpdate
from web.manage.common import (
    FormErrors,
    ListQuery,
    domain_errors,
    done,
    int_or_none,
    page_for,
    refuse,
    refuse_post,
    refused_page,
    render,
    scope_of,
    validation_errors,
)
from web.session import PageUser, safe_next

router = APIRouter(prefix="/manage", include_in_schema=False)

BOOKING_STATUSES = ("requested", "confirmed", "live", "ended", "cancelled", "no_show")
ALL_STUDIOS = PageParams(limit=200, after_id=None)
OPEN_SLOTS = PageParams(limit=100, after_id=None)


async def _studio_names(session: SessionDep, user: Principal) -> dict[int, str]:
    """The studios the user sees (shared ones and its counties'), by id."""
    rows, _ = await studio_service.list_studios(session, ALL_STUDIOS, county_ids=scope_of(user))
    return {s.id: s.name for s in rows if s.id is not None}


# --- studios --------------------------------------------------------------------------------


async def _studio_counties(session: SessionDep, user: Principal) -> list[Any]:
    return await catalog_rows.counties_by_ids(session, scope_of(user))


async def _studios_page(
    request: Request, session: SessionDep, settings: SettingsDep, user: Principal, *, values: Any = None, errors: Any = None
) -> Response:
    query = ListQuery.of(request)
    rows, cursor = await studio_service.list_studios(session, query.page, county_ids=scope_of(user))
    counties = await _studio_counties(session, user)
    return render(
        page_for(request, user, settings),
        "manage/studios.html",
        status_code=422 if errors else 200,
        rows=rows,
        counties=counties,
        county_names=await catalog_rows.county_names(session, {s.county_id for s in rows if s.county_id is not None}),
        editable={s.id for s in rows if studio_service.may_change(user, s)},
        query=query,
        next_url=query.next_url("/manage/studios", cursor),
        values=values or {},
        errors=errors or FormErrors(),
    )


@router.get("/studios")
async def studios(request: Request, session: SessionDep, settings: SettingsDep, user: PageUser) -> Response:
    """The studios the user sees (shared ones and its counties') and the form to add one."""
    if (denied := refuse(request, user)) is not None:
        return denied
    assert user is not None
    return await _studios_page(request, session, settings, user)


@router.post("/studios")
async def create_studio(request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep, user: PageUser) -> Response:
    """Add a studio through the scheduling service, in a county of the user's (or, for admins, shared)."""
    if (denied := refuse_post(request, user)) is not None:
        return denied
    assert user is not None
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in ("name", "platform", "county_id")}
    body: dict[str, Any] = {"name": values["name"], "platform": values["platform"]}
    if values["county_id"] or user.is_admin:  # an admin's empty choice is the shared studio; an organizer's, its county
        body["county_id"] = int_or_none(values["county_id"]) or (0 if values["county_id"] else None)
    try:
        await studio_service.create_studio(session, user, StudioCreate.model_validate(body), now=clock.now())
        return done("/manage/studios", "studio_created")
    except ValidationError as exc:
        errors = validation_errors(exc, page_for(request, user, settings).t)
    except LiveCommerceError as exc:
        await session.rollback()
        errors = domain_errors(exc)
        if isinstance(exc, Forbidden):
            errors = FormErrors(fields={"county_id": exc.detail})
    return await _studios_page(request, session, settings, user, values=values, errors=errors)


async def _studio_form(
    request: Request, settings: SettingsDep, user: Principal, studio: Any, *, values: Any = None, errors: Any = None
) -> Response:
    return render(
        page_for(request, user, settings),
        "manage/studio_form.html",
        status_code=422 if errors else 200,
        studio=studio,
        values=values if values is not None else {"name": studio.name, "platform": studio.platform},
        errors=errors or FormErrors(),
    )


@router.get("/studios/{studio_id:int}")
async def edit_studio(request: Request, studio_id: int, session: SessionDep, settings: SettingsDep, user: PageUser) -> Response:
    """A studio's form: name and platform (an organizer of its county; a shared studio: admins)."""
    if (denied := refuse(request, user)) is not None:
        return denied
    assert user is not None
    try:
        studio = await studio_service.studio_to_change(session, user, studio_id)
    except (NotFound, Forbidden) as exc:
        return refused_page(page_for(request, user, settings), exc)
    return await _studio_form(request, settings, user, studio)


@router.post("/studios/{studio_id:int}")
async def update_studio(
    request: Request, studio_id: int, session: SessionDep, settings: SettingsDep, clock: ClockDep, user: PageUser
) -> Response:
    """Rename a studio or change its platform through the scheduling service."""
    if (denied := refuse_post(request, user)) is not None:
        return denied
    assert user is not None
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in ("name", "platform")}
    try:
        studio = await studio_service.studio_to_change(session, user, studio_id)
    except (NotFound, Forbidden) as exc:
        return refused_page(page_for(request, user, settings), exc)
    try:
        await studio_service.update_studio(session, user, studio_id, StudioUpdate.model_validate(values), now=clock.now())
        return done("/manage/studios", "studio_saved")
    except ValidationError as exc:
        errors = validation_errors(exc, page_for(request, user, settings).t)
    except LiveCommerceError as exc:
        await session.rollback()
        errors = domain_errors(exc)
    return await _studio_form(request, settings, user, studio, values=values, errors=errors)


# --- slots ----------------------------------------------------------------------------------


async def _slots_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: Principal,
    *,
    values: Any = None,
    errors: Any = None,
) -> Response:
    query = ListQuery.of(request, ("open",))
    studio_id = int_or_none(request.query_params.get("studio_id"))
    rows, cursor = await slot_service.list_slots(
        session,
        query.page,
        starts_from=clock.now(),
        starts_to=None,
        studio_id=studio_id,
        open_only=query.status == "open",
        county_ids=scope_of(user),
    )
    names = await _studio_names(session, user)
    next_url = query.next_url("/manage/slots", cursor)
    if next_url and studio_id:
        next_url += f"&studio_id={studio_id}"
    return render(
        page_for(request, user, settings),
        "manage/slots.html",
        status_code=422 if errors else 200,
        rows=rows,
        studios=names,
        studio_id=studio_id,
        query=query,
        next_url=next_url,
        values=values or {},
        errors=errors or FormErrors(),
    )


@router.get("/slots")
async def slots(request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep, user: PageUser) -> Response:
    """Upcoming slots of studio time, open or booked, and the form to add one."""
    if (denied := refuse(request, user)) is not None:
        return denied
    assert user is not None
    return await _slots_page(request, session, settings, clock, user)


def _local_time(day: str, hhmm: str, settings: Any) -> datetime | None:
    try:
        return datetime.combine(date.fromisoformat(day), time.fromisoformat(hhmm), tzinfo=settings.tz)
    except ValueError:
        return None


@router.post("/slots")
async def create_slot(request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep, user: PageUser) -> Response:
    """Add a slot through the scheduling service (its own overlap rule, with the clash beside the form)."""
    if (denied := refuse_post(request, user)) is not None:
        return denied
    assert user is not None
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in ("studio_id", "day", "starts", "ends")}
    t = page_for(request, user, settings).t
    errors = FormErrors()
    starts_at = _local_time(values["day"], values["starts"], settings)
    ends_at = _local_time(values["day"], values["ends"], settings)
    if starts_at is None:
        errors.add("starts_at", t("manage.error.time"))
    if ends_at is None:
        errors.add("ends_at", t("manage.error.time"))
    if ends_at is not None and starts_at is not None and ends_at <= starts_at:
        ends_at += timedelta(days=1)  # a slot that runs past midnight
    if not errors:
        try:
            data = SlotCreate.model_validate(
                {"studio_id": int_or_none(values["studio_id"]) or 0, "starts_at": starts_at, "ends_at": ends_at}
            )
            await slot_service.create_slot(session, user, data, settings=settings)
            return done("/manage/slots", "slot_created")
        except ValidationError as exc:
            errors = validation_errors(exc, page_for(request, user, settings).t)
        except LiveCommerceError as exc:
            await session.rollback()
            errors = domain_errors(exc)
            if isinstance(exc, Forbidden):  # another county's studio
                errors = FormErrors(fields={"studio_id": exc.detail})
    return await _slots_page(request, session, settings, clock, user, values=values, errors=errors)


# --- bookings -------------------------------------------------------------------------------


async def _anchor_names(session: SessionDep, anchor_ids: set[int]) -> dict[int, str]:
    return {a.id: a.name for a in await catalog.anchors_by_ids(session, anchor_ids) if a.id is not None}


@router.get("/bookings")
async def bookings(request: Request, session: SessionDep, settings: SettingsDep, user: PageUser) -> Response:
    """Bookings of the user's counties (requested first by default), with confirm, move and cancel."""
    if (denied := refuse(request, user)) is not None:
        return denied
    assert user is not None
    query = ListQuery.of(request, BOOKING_STATUSES)
    scope = scope_of(user)
    if query.county_id is not None:
        scope = frozenset({query.county_id}) & scope if scope is not None else frozenset({query.county_id})
    rows, cursor = await booking_service.list_bookings(
        session, query.page, anchor_id=None, starts_from=None, starts_to=None, status=query.status, county_ids=scope
    )
    counties = await catalog_rows.counties_by_ids(session, scope_of(user))
    return render(
        page_for(request, user, settings),
        "manage/bookings.html",
        rows=rows,
        anchors=await _anchor_names(session, {a for b in rows for a in b.anchor_ids}),
        studios=await studio_service.studio_names(session, {b.studio_id for b in rows}),
        counties=counties,
        query=query,
        statuses=BOOKING_STATUSES,
        next_url=query.next_url("/manage/bookings", cursor),
    )


@router.post("/bookings/{booking_id:int}/confirm")
async def confirm_booking(
    request: Request, booking_id: int, session: SessionDep, clock: ClockDep, settings: SettingsDep, user: PageUser
) -> Response:
    """Agree to a requested booking for the user's counties, through the booking service."""
    if (denied := refuse_post(request, user)) is not None:
        return denied
    assert user is not None
    back = safe_next(str((await request.form()).get("back", "")), "/manage/bookings")
    try:
        booking = await booking_service.confirm_booking(session, user, booking_id, now=clock.now())
    except (NotFound, Forbidden) as exc:
        return refused_page(page_for(request, user, settings), exc)
    except LiveCommerceError as exc:
        await session.rollback()
        return await _booking_action(request, session, settings, user, booking_id, "manage/booking.html", error=exc.detail)
    return done(
        back if back.startswith("/manage/") else "/manage/bookings",
        "booking_confirmed" if booking.status == "confirmed" else "booking_approved",
    )


async def _booking_action(
    request: Request, session: SessionDep, settings: SettingsDep, user: Principal, booking_id: int, template: str, **context: Any
) -> Response:
    page = page_for(request, user, settings)
    try:
        booking = await booking_service.require_organizer(session, user, booking_id)
    except (NotFound, Forbidden) as exc:
        return refused_page(page, exc)
    view = await booking_service.booking_public(session, booking)
    error = context.pop("error", None)
    errors = context.pop("errors", None) or FormErrors(general=[error] if error else [])
    return render(
        page,
        template,
        status_code=422 if errors else 200,
        booking=view,
        anchors=await _anchor_names(session, set(view.anchor_ids)),
        studios=await studio_service.studio_names(session, {view.studio_id} | {s.studio_id for s in context.get("slots", [])}),
        errors=errors,
        **context,
    )


@router.get("/bookings/{booking_id:int}/cancel")
async def cancel_booking_form(request: Request, booking_id: int, session: SessionDep, settings: SettingsDep, user: PageUser) -> Response:
    """The confirm step before cancelling a booking and its stream."""
    if (denied := refuse(request, user)) is not None:
        return denied
    assert user is not None
    return await _booking_action(request, session, settings, user, booking_id, "manage/booking_cancel.html")


@router.post("/bookings/{booking_id:int}/cancel")
async def cancel_booking(
    request: Request, booking_id: int, session: SessionDep, settings: SettingsDep, clock: ClockDep, user: PageUser
) -> Response:
    """Cancel the booking and its stream, through the booking service."""
    if (denied := refuse_post(request, user)) is not None:
        return denied
    assert user is not None
    try:
        await booking_service.cancel_booking(session, user, booking_id, now=clock.now())
    except (NotFound, Forbidden) as exc:
        return refused_page(page_for(request, user, settings), exc)
    except LiveCommerceError as exc:
        await session.rollback()
        return await _booking_action(request, session, settings, user, booking_id, "manage/booking_cancel.html", error=exc.detail)
    return done("/manage/bookings", "booking_cancelled")


async def _reschedule_page(
    request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep, user: Principal, booking_id: int, **context: Any
) -> Response:
    open_slots, _ = await slot_service.list_slots(
        session, OPEN_SLOTS, starts_from=clock.now(), starts_to=None, studio_id=None, open_only=True, county_ids=scope_of(user)
    )
    return await _booking_action(
        request, session, settings, user, booking_id, "manage/booking_reschedule.html", slots=open_slots, **context
    )


@router.get("/bookings/{booking_id:int}/reschedule")
async def reschedule_form(
    request: Request, booking_id: int, session: SessionDep, settings: SettingsDep, clock: ClockDep, user: PageUser
) -> Response:
    """Choose an open slot to move the booking to."""
    if (denied := refuse(request, user)) is not None:
        return denied
    assert user is not None
    return await _reschedule_page(request, session, settings, clock, user, booking_id)


@router.post("/bookings/{booking_id:int}/reschedule")
async def reschedule_booking(
    request: Request, booking_id: int, session: SessionDep, settings: SettingsDep, clock: ClockDep, user: PageUser
) -> Response:
    """Move the booking through the booking rules; a clash is shown beside the slot."""
    if (denied := refuse_post(request, user)) is not None:
        return denied
    assert user is not None
    form = await request.form()
    reason = str(form.get("notice_override_reason", "")).strip() or None
    try:
        data = BookingReschedule.model_validate({"slot_id": int_or_none(str(form.get("slot_id"))) or 0, "notice_override_reason": reason})
        await booking_service.reschedule_booking(session, user, booking_id, data, settings=settings, now=clock.now())
        return done("/manage/bookings", "booking_rescheduled")
    except (NotFound, Forbidden) as exc:
        return refused_page(page_for(request, user, settings), exc)
    except ValidationError as exc:
        errors = validation_errors(exc, page_for(request, user, settings).t)
    except LiveCommerceError as exc:
        await session.rollback()
        errors = domain_errors(exc)
        for clash in exc.extra.get("conflicts", []):
            errors.add("slot_id", str(clash.get("detail") or exc.detail) if isinstance(clash, dict) else exc.detail)
    return await _reschedule_page(request, session, settings, clock, user, booking_id, errors=errors)
