"""Scheduling routes: studios, campaigns, slots, bookings, anchor availability and the iCalendar feed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from starlette.status import HTTP_204_NO_CONTENT

from livecommerce.kit.auth import CadreOrStaff, CurrentUser, OptionalUser, StaffUser
from livecommerce.kit.deps import ClockDep, SessionDep, SettingsDep
from livecommerce.kit.errors import Forbidden, Unauthorized
from livecommerce.kit.i18n import _l
from livecommerce.kit.pagination import Page, PageDep
from livecommerce.kit.query import QueryBool, QueryInt, flag, number
from livecommerce.kit.types import MAX_ID, Instant
from schedulers import anchors, bookings, calendar, campaigns, followers, plans, slots, studios
from schedulers.models import BookingStatus
from schedulers.schemas import (
    AnchorLimits,
    Availability,
    BookingCreate,
    BookingPublic,
    BookingReschedule,
    CampaignCreate,
    CampaignPublic,
    EffectiveLimits,
    FeedLink,
    NotificationPublic,
    PlanCreate,
    PlanPublic,
    SlotCreate,
    SlotPublic,
    StudioCreate,
    StudioPublic,
    StudioUpdate,
    UnreadCount,
)

router = APIRouter(prefix="/api", tags=["scheduling"])

From = Annotated[Instant | None, Query(alias="from", description="Only items ending after this time (ISO 8601 with offset).")]
StudioId = Annotated[int, Path(gt=0, le=MAX_ID)]
To = Annotated[Instant | None, Query(alias="to", description="Only items starting before this time (ISO 8601 with offset).")]
CONFLICT_RESPONSES: dict[int | str, dict[str, object]] = {
    409: {
        "description": 'Clashes with the schedule; `conflicts` lists each one (`kind`: "anchor" | "studio" | ..., '
        'or "uncertified" naming a product a certified-only campaign refuses, or "studio_county" for a studio of '
        "another county)."
    }
}


@router.post(
    "/studios",
    response_model=StudioPublic,
    status_code=201,
    summary="Add a studio (a room or channel) in a county you act for; admins also add shared ones",
)
async def create_studio(session: SessionDep, principal: StaffUser, clock: ClockDep, body: StudioCreate) -> StudioPublic:
    studio = await studios.create_studio(session, principal, body, now=clock.now())
    return StudioPublic.model_validate(studio, from_attributes=True)


@router.get("/studios", response_model=Page[StudioPublic], summary="List the studios you see: shared ones and your counties'")
async def list_studios(session: SessionDep, principal: CurrentUser, page: PageDep) -> Page[StudioPublic]:
    rows, cursor = await studios.list_studios(session, page, county_ids=studios.visible_to(principal))
    return Page(items=[StudioPublic.model_validate(r, from_attributes=True) for r in rows], next_cursor=cursor)


@router.patch(
    "/studios/{studio_id}",
    response_model=StudioPublic,
    summary="Rename a studio or change its platform (an organizer of its county; a shared studio: admins)",
)
async def update_studio(
    session: SessionDep, principal: StaffUser, clock: ClockDep, studio_id: StudioId, body: StudioUpdate
) -> StudioPublic:
    studio = await studios.update_studio(session, principal, studio_id, body, now=clock.now())
    return StudioPublic.model_validate(studio, from_attributes=True)


@router.post("/campaigns", response_model=CampaignPublic, status_code=201, summary="Add a campaign")
async def create_campaign(session: SessionDep, _staff: StaffUser, body: CampaignCreate) -> CampaignPublic:
    return CampaignPublic.model_validate(await campaigns.create_campaign(session, body), from_attributes=True)


@router.get("/campaigns", response_model=Page[CampaignPublic], summary="List campaigns")
async def list_campaigns(session: SessionDep, _user: CurrentUser, page: PageDep) -> Page[CampaignPublic]:
    rows, cursor = await campaigns.list_campaigns(session, page)
    return Page(items=[CampaignPublic.model_validate(r, from_attributes=True) for r in rows], next_cursor=cursor)


@router.post(
    "/campaigns/{campaign_id}/plans",
    response_model=PlanPublic,
    status_code=201,
    summary="Propose bookings for a campaign's open slots (CP-SAT, within the time limit)",
)
async def create_plan(
    session: SessionDep, principal: StaffUser, settings: SettingsDep, clock: ClockDep, campaign_id: int, body: PlanCreate
) -> PlanPublic:
    draft = await plans.build_instance(session, principal, campaign_id, body, settings=settings, now=clock.now())
    # The solve takes seconds: end the read first, so no transaction (on SQLite: the write lock) is held meanwhile.
    await session.rollback()
    return await plans.create_plan(session, principal, campaign_id, draft, body, settings=settings, now=clock.now())


@router.get("/campaigns/{campaign_id}/plans/{plan_id}", response_model=PlanPublic, summary="One plan of a campaign")
async def get_plan(session: SessionDep, _staff: StaffUser, campaign_id: int, plan_id: int) -> PlanPublic:
    return plans.plan_public(await plans.get_plan(session, campaign_id, plan_id))


@router.post(
    "/campaigns/{campaign_id}/plans/{plan_id}/apply",
    response_model=PlanPublic,
    summary="Book every assignment of a plan through the booking rules, all or none",
    responses=CONFLICT_RESPONSES,
)
async def apply_plan(
    session: SessionDep, principal: StaffUser, settings: SettingsDep, clock: ClockDep, campaign_id: int, plan_id: int
) -> PlanPublic:
    plan = await plans.apply_plan(session, principal, campaign_id, plan_id, settings=settings, now=clock.now())
    return plans.plan_public(plan)


@router.post(
    "/slots",
    response_model=SlotPublic,
    status_code=201,
    summary="Add a slot of studio time (a shared studio or one of your counties')",
    responses=CONFLICT_RESPONSES,
)
async def create_slot(session: SessionDep, principal: StaffUser, settings: SettingsDep, body: SlotCreate) -> SlotPublic:
    slot = await slots.create_slot(session, principal, body, settings=settings)
    return SlotPublic(**slot.model_dump())


@router.get("/slots", response_model=Page[SlotPublic], summary="List the slots of the studios you see, optionally only open ones")
async def list_slots(
    session: SessionDep,
    principal: CurrentUser,
    page: PageDep,
    starts_from: From = None,
    starts_to: To = None,
    studio_id: Annotated[QueryInt | None, Query(gt=0, description=number("Only this studio."))] = None,
    open: Annotated[QueryBool, Query(description=flag("Only slots without an active booking."))] = False,
) -> Page[SlotPublic]:
    items, cursor = await slots.list_slots(
        session,
        page,
        starts_from=starts_from,
        starts_to=starts_to,
        studio_id=studio_id,
        open_only=open,
        county_ids=studios.visible_to(principal),
    )
    return Page(items=items, next_cursor=cursor)


@router.post(
    "/bookings",
    response_model=BookingPublic,
    status_code=201,
    summary="Book anchors into a slot (creates its stream)",
    responses=CONFLICT_RESPONSES,
)
async def create_booking(
    session: SessionDep, principal: CadreOrStaff, settings: SettingsDep, clock: ClockDep, body: BookingCreate
) -> BookingPublic:
    booking = await bookings.create_booking(session, principal, body, settings=settings, now=clock.now())
    return await bookings.booking_public(session, booking)


@router.get("/bookings", response_model=Page[BookingPublic], summary="List bookings by anchor, time and status")
async def list_bookings(
    session: SessionDep,
    _user: CadreOrStaff,
    page: PageDep,
    anchor_id: Annotated[QueryInt | None, Query(gt=0, description=number("Only this anchor's bookings."))] = None,
    starts_from: From = None,
    starts_to: To = None,
    status: Annotated[BookingStatus | None, Query(description="Only bookings in this state.")] = None,
) -> Page[BookingPublic]:
    items, cursor = await bookings.list_bookings(
        session, page, anchor_id=anchor_id, starts_from=starts_from, starts_to=starts_to, status=status
    )
    return Page(items=items, next_cursor=cursor)


@router.get("/bookings/{booking_id}", response_model=BookingPublic, summary="One booking")
async def get_booking(session: SessionDep, _user: CadreOrStaff, booking_id: int) -> BookingPublic:
    return await bookings.booking_public(session, await bookings.get_booking(session, booking_id))


@router.post("/bookings/{booking_id}/confirm", response_model=BookingPublic, summary="Confirm a requested booking (organizer)")
async def confirm_booking(session: SessionDep, principal: StaffUser, clock: ClockDep, booking_id: int) -> BookingPublic:
    booking = await bookings.confirm_booking(session, principal, booking_id, now=clock.now())
    return await bookings.booking_public(session, booking)


@router.post(
    "/bookings/{booking_id}/cancel", response_model=BookingPublic, summary="Cancel a booking that has not gone live, and its stream"
)
async def cancel_booking(session: SessionDep, principal: CadreOrStaff, clock: ClockDep, booking_id: int) -> BookingPublic:
    booking = await bookings.cancel_booking(session, principal, booking_id, now=clock.now())
    return await bookings.booking_public(session, booking)


@router.post("/bookings/{booking_id}/accept", response_model=BookingPublic, summary="A co-host's cadre accepts the invitation")
async def accept_booking(session: SessionDep, principal: CadreOrStaff, clock: ClockDep, booking_id: int) -> BookingPublic:
    booking = await bookings.accept_booking(session, principal, booking_id, now=clock.now())
    return await bookings.booking_public(session, booking)


@router.post(
    "/bookings/{booking_id}/reschedule",
    response_model=BookingPublic,
    summary="Move a booking to another slot, through the booking rules (it asks for agreement again)",
    responses=CONFLICT_RESPONSES,
)
async def reschedule_booking(
    session: SessionDep, principal: CadreOrStaff, settings: SettingsDep, clock: ClockDep, booking_id: int, body: BookingReschedule
) -> BookingPublic:
    booking = await bookings.reschedule_booking(session, principal, booking_id, body, settings=settings, now=clock.now())
    return await bookings.booking_public(session, booking)


@router.post("/anchors/{anchor_id}/follow", status_code=HTTP_204_NO_CONTENT, summary="Follow an anchor: hear of its broadcasts")
async def follow_anchor(session: SessionDep, principal: CurrentUser, clock: ClockDep, anchor_id: int) -> Response:
    await followers.follow_anchor(session, principal, anchor_id, now=clock.now())
    return Response(status_code=HTTP_204_NO_CONTENT)


@router.delete("/anchors/{anchor_id}/follow", status_code=HTTP_204_NO_CONTENT, summary="Stop following an anchor")
async def unfollow_anchor(session: SessionDep, principal: CurrentUser, anchor_id: int) -> Response:
    await followers.unfollow_anchor(session, principal, anchor_id)
    return Response(status_code=HTTP_204_NO_CONTENT)


@router.post("/streams/{stream_id}/remind", status_code=HTTP_204_NO_CONTENT, summary="Remind me of this broadcast")
async def remind_me(session: SessionDep, principal: CurrentUser, clock: ClockDep, stream_id: int) -> Response:
    await followers.remind_me(session, principal, stream_id, now=clock.now())
    return Response(status_code=HTTP_204_NO_CONTENT)


@router.get("/me/notifications", response_model=Page[NotificationPublic], summary="My notifications: broadcasts about to start or live")
async def my_notifications(session: SessionDep, principal: CurrentUser, page: PageDep) -> Page[NotificationPublic]:
    items, cursor = await followers.my_notifications(session, principal, page)
    return Page(items=items, next_cursor=cursor)


@router.get("/me/notifications/unread", response_model=UnreadCount, summary="How many of my notifications are unread (the pages' badge)")
async def unread_notifications(session: SessionDep, principal: CurrentUser) -> UnreadCount:
    return UnreadCount(unread=await followers.unread_count(session, principal))


@router.post("/me/notifications/read", status_code=HTTP_204_NO_CONTENT, summary="Mark all my notifications read")
async def read_notifications(session: SessionDep, principal: CurrentUser, clock: ClockDep) -> Response:
    await followers.mark_all_read(session, principal, now=clock.now())
    return Response(status_code=HTTP_204_NO_CONTENT)


@router.get("/me/reminders-feed", response_model=FeedLink, summary="The subscription link of my reminded broadcasts' calendar")
async def reminders_feed(request: Request, principal: CurrentUser, settings: SettingsDep) -> FeedLink:
    token = calendar.reminders_feed_token(settings, principal.id)
    url = str(request.url_for("reminders_ics", user_id=principal.id).include_query_params(token=token))
    return FeedLink(url=url, token=token)


@router.get(
    "/users/{user_id}/reminders.ics",
    name="reminders_ics",
    summary="A user's reminded broadcasts as an iCalendar feed (bearer token of that user, or ?token= from reminders-feed)",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}, "description": "An iCalendar document."}},
)
async def reminders_ics(
    session: SessionDep,
    principal: OptionalUser,
    settings: SettingsDep,
    clock: ClockDep,
    user_id: int,
    token: Annotated[str | None, Query(max_length=64, description="The feed token, for calendar apps.")] = None,
) -> Response:
    if not (token is not None and calendar.reminders_feed_token_valid(settings, user_id, token)):
        if principal is None:
            raise Unauthorized(_l("Sign in, or use the feed link with its token."))
        if principal.id != user_id:
            raise Forbidden(_l("This is someone else's calendar."))
    body = await calendar.reminders_calendar(session, user_id, settings=settings, now=clock.now())
    return Response(body, media_type="text/calendar; charset=utf-8", headers={"Cache-Control": "private, max-age=300"})


@router.get("/anchors/{anchor_id}/availability", response_model=Availability, summary="An anchor's weekly availability windows")
async def get_availability(session: SessionDep, _user: CadreOrStaff, anchor_id: int) -> Availability:
    return await anchors.get_availability(session, anchor_id)


@router.put("/anchors/{anchor_id}/availability", response_model=Availability, summary="Replace an anchor's weekly availability windows")
async def set_availability(session: SessionDep, principal: CadreOrStaff, anchor_id: int, body: Availability) -> Availability:
    return await anchors.set_availability(session, principal, anchor_id, body)


@router.get("/anchors/{anchor_id}/limits", response_model=EffectiveLimits, summary="An anchor's booking limits")
async def get_limits(session: SessionDep, _user: CadreOrStaff, settings: SettingsDep, anchor_id: int) -> EffectiveLimits:
    return await anchors.get_limits(session, anchor_id, settings=settings)


@router.put("/anchors/{anchor_id}/limits", response_model=EffectiveLimits, summary="Set an anchor's booking limits (organizer)")
async def set_limits(
    session: SessionDep, principal: StaffUser, settings: SettingsDep, anchor_id: int, body: AnchorLimits
) -> EffectiveLimits:
    return await anchors.set_limits(session, principal, anchor_id, body, settings=settings)


@router.get("/anchors/{anchor_id}/schedule-feed", response_model=FeedLink, summary="The subscription link of an anchor's calendar feed")
async def schedule_feed(request: Request, session: SessionDep, principal: CadreOrStaff, settings: SettingsDep, anchor_id: int) -> FeedLink:
    await anchors.require_schedule_reader(session, principal, anchor_id)
    token = calendar.feed_token(settings, anchor_id)
    url = str(request.url_for("anchor_schedule_ics", anchor_id=anchor_id).include_query_params(token=token))
    return FeedLink(url=url, token=token)


@router.get(
    "/anchors/{anchor_id}/schedule.ics",
    name="anchor_schedule_ics",
    summary="An anchor's bookings as an iCalendar feed (bearer token, or ?token= from schedule-feed)",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}, "description": "An iCalendar document."}},
)
async def schedule_ics(
    session: SessionDep,
    principal: OptionalUser,
    settings: SettingsDep,
    clock: ClockDep,
    anchor_id: int,
    token: Annotated[str | None, Query(max_length=64, description="The feed token, for calendar apps.")] = None,
) -> Response:
    if token is not None and calendar.feed_token_valid(settings, anchor_id, token):
        anchor = await anchors.get_anchor(session, anchor_id)
    elif principal is None:
        raise Unauthorized(_l("Sign in, or use the feed link with its token."))
    elif principal.role == "viewer":
        raise Forbidden(_l("Only the anchor and its organizers can read this schedule."))
    else:
        anchor = await anchors.require_schedule_reader(session, principal, anchor_id)
    body = await calendar.anchor_calendar(session, anchor, settings=settings, now=clock.now())
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="anchor-{anchor_id}.ics"', "Cache-Control": "private, max-age=300"},
    )
