"""Studios: the rooms or channels that broadcast, one broadcast at a time."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.kit.i18n import _l
from livecommerce.kit.pagination import PageParams, paginate
from schedulers.models import Studio
from schedulers.problems import bad_field
from schedulers.schemas import StudioCreate


async def create_studio(session: AsyncSession, data: StudioCreate) -> Studio:
    """Add a studio."""
    studio = Studio(**data.model_dump())
    session.add(studio)
    await session.flush()
    return studio


async def list_studios(session: AsyncSession, page: PageParams) -> tuple[list[Studio], str | None]:
    """A page of studios."""
    return await paginate(session, select(Studio), Studio.id, page)  # type: ignore[arg-type]


async def lock_studio(session: AsyncSession, studio_id: int) -> Studio:
    """The studio with its row locked (the lock that serializes bookings and go-lives in one studio)."""
    studio = await session.scalar(select(Studio).where(col(Studio.id) == studio_id).with_for_update())
    if studio is None:
        raise bad_field("studio_id", "unknown studio", _l("Studio {studio_id} does not exist.", studio_id=studio_id))
    return studio
