"""Bearer tokens to principals: the accounts domain's `PrincipalSource`."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from livecommerce.accounts.models import User, UserCounty
from livecommerce.accounts.security import decode_token
from livecommerce.kit.errors import Unauthorized
from livecommerce.kit.principal import Principal, Role


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


class TokenPrincipals:
    """Signed access tokens checked against the user's current token version."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    async def from_token(self, session: AsyncSession, token: str) -> Principal:
        """The principal of `token`."""
        return await principal_from_token(session, token, self._secret)
