"""Review routes: a stream's (its hosts, its counties' organizers) and a campaign's (organizers, admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from livecommerce.kit.auth import CurrentUser, StaffUser
from livecommerce.kit.deps import ClockDep, SessionDep, SettingsDep
from livecommerce.kit.types import MAX_ID
from livecommerce.review import service
from livecommerce.review.schemas import CampaignReview, StreamReview
from livecommerce.review.xlsx import XLSX_MEDIA_TYPE, review_workbook

router = APIRouter(prefix="/api", tags=["review"])

StreamId = Annotated[int, Path(gt=0, le=MAX_ID)]
CampaignId = Annotated[int, Path(gt=0, le=MAX_ID)]


@router.get("/streams/{stream_id}/review", response_model=StreamReview, summary="A stream's post-stream review (its hosts, organizers)")
async def stream_review(session: SessionDep, principal: CurrentUser, clock: ClockDep, stream_id: StreamId) -> StreamReview:
    return await service.stream_review(session, principal, stream_id, now=clock.now())


@router.get(
    "/streams/{stream_id}/review.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}},
    summary="The post-stream review as a workbook",
)
async def stream_review_xlsx(
    session: SessionDep, principal: CurrentUser, clock: ClockDep, settings: SettingsDep, stream_id: StreamId
) -> Response:
    review = await service.stream_review(session, principal, stream_id, now=clock.now())
    headers = {"Content-Disposition": f'attachment; filename="stream-{stream_id}-review.xlsx"'}
    return Response(review_workbook(review, settings.tz), media_type=XLSX_MEDIA_TYPE, headers=headers)


@router.get(
    "/campaigns/{campaign_id}/review",
    response_model=CampaignReview,
    summary="A campaign's streams summed and ranked, with county and anchor totals (organizers: their counties' streams)",
)
async def campaign_review(session: SessionDep, principal: StaffUser, campaign_id: CampaignId) -> CampaignReview:
    return await service.campaign_review(session, principal, campaign_id)
