"""Who may see which ledger account.

Admins see every account. Organizers see the accounts of parties within their counties
(the county itself, its stations, its households); the platform's and the clearing
account are for admins only. Everyone else sees none.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.broadcasts import service as broadcasts
from livecommerce.catalog import repository as catalog
from livecommerce.kit.errors import Forbidden, NotFound
from livecommerce.kit.i18n import _l
from livecommerce.kit.principal import Principal, Role
from livecommerce.ledger.service import CLEARING, PLATFORM

PARTY = re.compile(r"^(household|station|county):([1-9][0-9]{0,17})$|^platform$|^clearing$")


async def county_of_party(session: AsyncSession, party: str) -> int | None:
    """The county a party belongs to (None for the platform and clearing); NotFound for unknown parties."""
    match = PARTY.match(party)
    if match is None:
        raise NotFound(_l("No such account: “{party}”.", party=party))
    if party in (PLATFORM, CLEARING):
        return None
    county_id = await catalog.county_of(session, match.group(1), int(match.group(2)))
    if county_id is None:
        raise NotFound(_l("No such account: “{party}”.", party=party))
    return county_id


async def require_party_visible(session: AsyncSession, principal: Principal, party: str) -> None:
    """Raise unless the principal may see this party's account."""
    county_id = await county_of_party(session, party)
    if principal.is_admin:
        return
    if not principal.is_staff:
        raise Forbidden(_l("Only admins and organizers see ledger accounts."))
    if county_id is None:
        raise Forbidden(_l("Only admins see the platform's and the clearing account."))
    principal.require_county(county_id)


def may_see_household(principal: Principal | None, county_id: int) -> bool:
    """Household names are shown unmasked only to staff of the household's county."""
    return principal is not None and principal.is_staff and principal.covers_county(county_id)


async def parties_in_counties(session: AsyncSession, county_ids: Iterable[int]) -> list[str]:
    """Every party of these counties: the counties, their stations and their households."""
    ids = sorted(county_ids)
    if not ids:
        return []
    stations = [i for i, _ in await catalog.stations_of_counties(session, ids)]
    households = [i for i, _ in await catalog.households_of_counties(session, ids)]
    return [f"county:{i}" for i in ids] + [f"station:{i}" for i in stations] + [f"household:{i}" for i in households]


async def require_report_reader(session: AsyncSession, principal: Principal, stream_id: int) -> None:
    """Staff read every stream's report (households masked outside their counties); a cadre only the streams it hosts."""
    if principal.role != Role.cadre:
        return
    await broadcasts.get_stream(session, stream_id)
    if principal.anchor_id is None or principal.anchor_id not in await broadcasts.host_anchor_ids(session, stream_id):
        raise Forbidden(_l("Cadres read the reports of the streams they host."))
