"""Typed request dependencies for who is calling and what role they hold.

The kit does not know how a token becomes a principal: the composition root puts a
`PrincipalSource` (the accounts domain's) on `app.state.principals`, and these dependencies ask it.
"""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.kit.db import Database
from livecommerce.kit.deps import SessionDep
from livecommerce.kit.errors import Forbidden, Unauthorized
from livecommerce.kit.i18n import _l
from livecommerce.kit.principal import Principal, Role

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class PrincipalSource(Protocol):
    """Turns a bearer token into the principal it stands for (Unauthorized when it no longer does)."""

    async def from_token(self, session: AsyncSession, token: str) -> Principal:
        """The principal of `token`."""
        ...

    async def from_token_in(self, db: Database, token: str) -> Principal:
        """The principal of `token`, reading what it must from `db` (in batches with other callers)."""
        ...

    def peek(self, token: str) -> Principal | None:
        """The principal of `token` if it can be told without any I/O (None: ask `from_token`)."""
        ...


def principal_source(request: Request) -> PrincipalSource:
    """The app's principal source."""
    source: PrincipalSource = request.app.state.principals
    return source


async def optional_principal(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal | None:
    """The caller if a token was sent, None for anonymous callers.

    A bad bearer token is an error (401); a stale `lc_token` cookie, which the browser keeps
    sending by itself, only makes the caller anonymous, so public endpoints keep working.
    """
    source = principal_source(request)
    if token is None:
        cookie = request.cookies.get("lc_token")
        if not cookie:
            return None
        # CSRF: browsers attach the cookie to cross-site requests too, but cannot send a custom
        # header cross-origin without a CORS preflight (which this app never grants), so a
        # cookie-authenticated change must carry X-Requested-With (the page scripts send it).
        if request.scope.get("method", "GET") not in _SAFE_METHODS and "x-requested-with" not in request.headers:
            raise Forbidden(_l("Requests authenticated by the sign-in cookie must send the X-Requested-With header."))
        try:
            principal = await source.from_token(session, cookie)
        except Unauthorized:
            return None
    else:
        principal = await source.from_token(session, token)
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
            raise Forbidden(_l("This needs the role {roles}.", roles=" or ".join(r.value for r in roles)))
        return principal

    return Depends(_check)


OptionalUser = Annotated[Principal | None, Depends(optional_principal)]
CurrentUser = Annotated[Principal, Depends(current_principal)]
AdminUser = Annotated[Principal, require_roles(Role.admin)]
StaffUser = Annotated[Principal, require_roles(Role.admin, Role.organizer)]
CadreOrStaff = Annotated[Principal, require_roles(Role.admin, Role.organizer, Role.cadre)]
