"""Studios: the rooms or channels that broadcast, one broadcast at a time.

A studio belongs to a county, or to none (a shared studio). Who may do what:

- see it and add slots to it: admins; organizers (and others) of its county; everyone for a shared studio;
- add it, change it: admins; organizers of its county. Only admins add or change a shared studio,
  since it serves every county and no single county's organizer speaks for the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, or_, select

from livecommerce.audit import service as audit
from livecommerce.catalog import repository as catalog_rows
from livecommerce.kit.errors import Forbidden, NotFound
from livecommerce.kit.i18n import _l
from livecommerce.kit.pagination import PageParams, paginate
from livecommerce.kit.principal import Principal
from schedulers.models import Studio
from schedulers.problems import bad_field
from schedulers.schemas import StudioCreate, StudioUpdate


def visible_to(principal: Principal) -> frozenset[int] | None:
    """The counties whose studios the caller sees besides the shared ones (None: all, for admins)."""
    return None if principal.is_admin else principal.county_ids


def may_see(principal: Principal, studio: Studio) -> bool:
    """True when the caller sees the studio (and may put slots in it, if staff)."""
    return studio.county_id is None or principal.covers_county(studio.county_id)


def may_change(principal: Principal, studio: Studio) -> bool:
    """True when the caller may change the studio: an admin, or staff of its county."""
    if studio.county_id is None:
        return principal.is_admin
    return principal.is_staff and principal.covers_county(studio.county_id)


def require_change(principal: Principal, studio: Studio) -> None:
    """Forbidden unless the caller may change the studio: an admin, or an organizer of its county."""
    if studio.county_id is None and not principal.is_admin:
        raise Forbidden(_l("Only an admin may change the shared studio “{studio}”.", studio=studio.name))
    if studio.county_id is not None:
        principal.require_county(studio.county_id)


async def _county_of_new_studio(session: AsyncSession, principal: Principal, data: StudioCreate) -> int | None:
    if "county_id" not in data.model_fields_set and not principal.is_admin:
        # Left out by an organizer: its own county when there is exactly one, so that a studio is never shared by accident.
        if len(principal.county_ids) != 1:
            raise bad_field("county_id", "county required", _l("Name the county of the studio (one you act for)."))
        return next(iter(principal.county_ids))
    if data.county_id is None:
        if not principal.is_admin:
            raise Forbidden(_l("Only an admin may add a studio shared by every county."))
        return None
    if not await catalog_rows.counties_by_ids(session, [data.county_id]):
        raise bad_field("county_id", "unknown county", _l("County {county_id} does not exist.", county_id=data.county_id))
    principal.require_county(data.county_id)
    return data.county_id


async def create_studio(session: AsyncSession, principal: Principal, data: StudioCreate, *, now: datetime) -> Studio:
    """Add a studio in a county the caller acts for, or (admins) a shared one; audited."""
    county_id = await _county_of_new_studio(session, principal, data)
    studio = Studio(name=data.name, platform=data.platform, county_id=county_id)
    session.add(studio)
    await session.flush()
    await audit.record(session, principal, "studio.created", f"studio:{studio.id}", {"county_id": county_id}, now=now)
    return studio


async def studio_to_change(session: AsyncSession, principal: Principal, studio_id: int) -> Studio:
    """The studio the caller means to change: NotFound, or Forbidden unless an organizer of its county or an admin."""
    studio = await session.get(Studio, studio_id)
    if studio is None:
        raise NotFound(_l("Studio {studio_id} does not exist.", studio_id=studio_id))
    require_change(principal, studio)
    return studio


async def update_studio(session: AsyncSession, principal: Principal, studio_id: int, data: StudioUpdate, *, now: datetime) -> Studio:
    """Rename a studio or change its platform (an organizer of its county, or an admin); audited with both values."""
    studio = await studio_to_change(session, principal, studio_id)
    changes: dict[str, dict[str, object]] = {}
    for key, value in data.model_dump(exclude_unset=True).items():
        if getattr(studio, key) != value:
            changes[key] = {"from": getattr(studio, key), "to": value}
            setattr(studio, key, value)
    if changes:
        session.add(studio)
        await session.flush()
        await audit.record(session, principal, "studio.updated", f"studio:{studio_id}", changes, now=now)
    return studio


async def list_studios(
    session: AsyncSession, page: PageParams, *, county_ids: frozenset[int] | None = None
) -> tuple[list[Studio], str | None]:
    """A page of studios: the shared ones and those of `county_ids` (None: every studio)."""
    stmt = select(Studio)
    if county_ids is not None:
        stmt = stmt.where(or_(col(Studio.county_id).is_(None), col(Studio.county_id).in_(county_ids)))
    return await paginate(session, stmt, Studio.id, page)  # type: ignore[arg-type]  # SQLModel types `Model.id` as int | None


async def lock_studio(session: AsyncSession, studio_id: int) -> Studio:
    """The studio with its row locked (the lock that serializes bookings and go-lives in one studio)."""
    studio = await session.scalar(select(Studio).where(col(Studio.id) == studio_id).with_for_update())
    if studio is None:
        raise bad_field("studio_id", "unknown studio", _l("Studio {studio_id} does not exist.", studio_id=studio_id))
    return studio


async def studio_counties(session: AsyncSession, studio_ids: Iterable[int]) -> dict[int, int | None]:
    """Each of these studios' county (None for a shared studio)."""
    wanted = sorted(set(studio_ids))
    if not wanted:
        return {}
    rows = (await session.execute(select(col(Studio.id), col(Studio.county_id)).where(col(Studio.id).in_(wanted)))).all()
    return {studio_id: county_id for studio_id, county_id in rows if studio_id is not None}


def serves(studio_county_id: int | None, county_ids: Iterable[int]) -> bool:
    """True when a studio of that county (None: a shared one) may air a broadcast of anchors of these counties.

    A county's studio airs its own county's broadcasts, a joint one with a guest from another
    county included; a shared studio airs anyone's.
    """
    return studio_county_id is None or studio_county_id in set(county_ids)


async def studio_names(session: AsyncSession, studio_ids: Iterable[int]) -> dict[int, str]:
    """The names of these studios (to name the studio of a booking the caller already sees)."""
    wanted = sorted(set(studio_ids))
    if not wanted:
        return {}
    rows = (await session.execute(select(col(Studio.id), col(Studio.name)).where(col(Studio.id).in_(wanted)))).all()
    return {studio_id: name for studio_id, name in rows if studio_id is not None}
