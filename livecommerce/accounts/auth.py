"""Who is calling, and typed dependencies for what they may do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from livecommerce.accounts.models import Role, User, UserCounty
from livecommerce.accounts.security import decode_token
from livecommerce.deps import SessionDep, SettingsDep
from livecommerce.errors import Forbidden, Unauthorized

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
            raise Forbidden("You do not act for this county.")


async def load_principal(session: AsyncSession, user_id: int, token_version: int | None) -> Principal:
    """The principal for a user id from a token; Unauthorized if the user is gone or the token revoked."""
    # One round trip: the user joined to its counties (one row per county, or one with NULL).
    rows = (await session.execute(_PRINCIPAL_ROWS, {"user_id": user_id})).all()
    if not rows:
        raise Unauthorized("The token is no longer valid; sign in again.")
    _, username, role, display_name, anchor_id, is_active, current_version, _ = rows[0]
    if not is_active or (token_version is not None and token_version != current_version):
        raise Unauthorized("The token is no longer valid; sign in again.")
    return Principal(
        id=user_id,
        username=username,
        role=Role(role),
        display_name=display_name,
        anchor_id=anchor_id,
        county_ids=frozenset(row[7] for row in rows if row[7] is not None),
    )


_PRINCIPAL_ROWS = (
    select(
        col(User.id),
        col(User.username),
        col(User.role),
        col(User.display_name),
        col(User.anchor_id),
        col(User.is_active),
        col(User.token_version),
        col(UserCounty.county_id),
    )
    .outerjoin(UserCounty, col(UserCounty.user_id) == col(User.id))
    .where(col(User.id) == bindparam("user_id"))
)


async def principal_from_token(session: AsyncSession, token: str, secret: str) -> Principal:
    """Decode a bearer token and load its principal."""
    claims = decode_token(token, secret=secret)
    return await load_principal(session, int(claims["sub"]), claims.get("ver"))


async def optional_principal(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal | None:
    """The caller if a token was sent, None for anonymous callers.

    A bad bearer token is an error (401); a stale `lc_token` cookie, which the browser keeps
    sending by itself, only makes the caller anonymous, so public endpoints keep working.
    """
    if token is None:
        cookie = request.cookies.get("lc_token")
        if not cookie:
            return None
        # CSRF: browsers attach the cookie to cross-site requests too, but cannot send a custom
        # header cross-origin without a CORS preflight (which this app never grants), so a
        # cookie-authenticated change must carry X-Requested-With (the page scripts send it).
        if request.scope.get("method", "GET") not in _SAFE_METHODS and "x-requested-with" not in request.headers:
            raise Forbidden("Requests authenticated by the sign-in cookie must send the X-Requested-With header.")
        try:
            principal = await principal_from_token(session, cookie, settings.secret_key)
        except Unauthorized:
            return None
    else:
        principal = await principal_from_token(session, token, settings.secret_key)
    request.state.principal = principal
    return principal


async def current_principal(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    """The caller; 401 when not signed in."""
    if principal is None:
        raise Unauthorized()
    return principal


def require_roles(*roles: Role) -> object:
    """A dependency that admits only the given roles (403 otherwise)."""

    async def _check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"This needs the role {' or '.join(r.value for r in roles)}.")
        return principal

    return Depends(_check)


OptionalUser = Annotated[Principal | None, Depends(optional_principal)]
CurrentUser = Annotated[Principal, Depends(current_principal)]
AdminUser = Annotated[Principal, require_roles(Role.admin)]
StaffUser = Annotated[Principal, require_roles(Role.admin, Role.organizer)]
CadreOrStaff = Annotated[Principal, require_roles(Role.admin, Role.organizer, Role.cadre)]
