"""Campaigns: named drives, such as a Consumer Poverty Alleviation Month, that group slots."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.kit.errors import NotFound
from livecommerce.kit.i18n import _l
from livecommerce.kit.pagination import PageParams, paginate
from schedulers.models import Booking, Campaign, Slot
from schedulers.schemas import CampaignCreate


async def create_campaign(session: AsyncSession, data: CampaignCreate) -> Campaign:
    """Add a campaign."""
    campaign = Campaign(**data.model_dump())
    session.add(campaign)
    await session.flush()
    return campaign


async def list_campaigns(session: AsyncSession, page: PageParams) -> tuple[list[Campaign], str | None]:
    """A page of campaigns."""
    return await paginate(session, select(Campaign), Campaign.id, page)  # type: ignore[arg-type]


async def get_campaign(session: AsyncSession, campaign_id: int) -> Campaign:
    """The campaign, or NotFound."""
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(_l("Campaign {campaign_id} does not exist.", campaign_id=campaign_id))
    return campaign


# --- campaign membership (read by the post-stream review) --------------------------------------


async def campaign_of_stream(session: AsyncSession, stream_id: int) -> int | None:
    """The campaign whose slot a stream was booked into, if any."""
    stmt = (
        select(col(Slot.campaign_id))
        .join(Booking, col(Booking.slot_id) == col(Slot.id))
        .where(col(Booking.stream_id) == stream_id)
        .order_by(col(Booking.id).desc())
        .limit(1)
    )
    return (await session.scalars(stmt)).first()


async def streams_of_campaign(session: AsyncSession, campaign_id: int) -> list[int]:
    """The streams booked into the campaign's slots, by id."""
    stmt = (
        select(col(Booking.stream_id))
        .join(Slot, col(Slot.id) == col(Booking.slot_id))
        .where(col(Slot.campaign_id) == campaign_id, col(Booking.stream_id).is_not(None))
        .distinct()
    )
    return sorted(int(s) for s in (await session.scalars(stmt)).all() if s is not None)
