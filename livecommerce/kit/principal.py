"""Who is acting: the roles of the contract and the signed-in principal every domain checks against."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from livecommerce.kit.errors import Forbidden
from livecommerce.kit.i18n import _l


class Role(StrEnum):
    """The four roles of the contract."""

    admin = "admin"
    organizer = "organizer"
    cadre = "cadre"
    viewer = "viewer"


@dataclass(frozen=True)
class Principal:
    """The signed-in user and the scope they act in."""

    id: int
    username: str
    role: Role
    display_name: str
    anchor_id: int | None = None
    county_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        """Admins may do anything."""
        return self.role is Role.admin

    @property
    def is_staff(self) -> bool:
        """Admins and organizers."""
        return self.role in (Role.admin, Role.organizer)

    def covers_county(self, county_id: int) -> bool:
        """True when the user may act for `county_id` (admins for all; others within their counties)."""
        return self.is_admin or county_id in self.county_ids

    def require_county(self, county_id: int) -> None:
        """Raise Forbidden unless the user acts for `county_id`."""
        if not self.covers_county(county_id):
            raise Forbidden(_l("You do not act for this county."))
