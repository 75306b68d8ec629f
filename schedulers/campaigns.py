"""Campaigns: named drives, such as a Consumer Poverty Alleviation Month, that group slots."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from livecommerce.kit.errors import NotFound
from livecommerce.kit.pagination import PageParams, paginate
from schedulers.models import Campaign
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
        raise NotFound(f"Campaign {campaign_id} does not exist.")
    return campaign
