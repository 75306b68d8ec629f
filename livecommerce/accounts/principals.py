"""Bearer tokens to principals: the accounts domain's `PrincipalSource`."""

from __future__ import annotations

import time
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from livecommerce.accounts.models import User, UserCounty
from livecommerce.accounts.security import decode_token
from livecommerce.kit.db import Database
from livecommerce.kit.errors import Unauthorized
from livecommerce.kit.group_read import GroupRead
from livecommerce.kit.i18n import _l
from livecommerce.kit.notices import Notices
from livecommerce.kit.principal import Principal, Role


async def load_principal(session: AsyncSession, user_id: int, token_version: int | None) -> Principal:
    """The principal for a user id from a token; Unauthorized if the user is gone or the token revoked."""
    return (await _load(session, user_id, token_version))[0]


async def _load(session: AsyncSession, user_id: int, token_version: int | None) -> tuple[Principal, int]:
    # One round trip: the user joined to its counties (one row per county, or one with NULL).
    rows = (await session.execute(_PRINCIPAL_ROWS, {"user_id": user_id})).all()
    return _principal_of(rows, user_id, token_version)


async def _read_many(db: Database, user_ids: set[int]) -> dict[int, list[Sequence[Any]]]:
    """The principal rows of many users in one read, by user id (a user who is gone has none)."""
    async with db.read_connection() as conn:
        rows = (await conn.execute(_PRINCIPALS_ROWS, {"user_ids": sorted(user_ids)})).all()
    found: dict[int, list[Sequence[Any]]] = defaultdict(list)
    for row in rows:
        found[cast(int, row[0])].append(row)  # users.id, never NULL
    return found


def _principal_of(rows: Sequence[Sequence[Any]], user_id: int, token_version: int | None) -> tuple[Principal, int]:
    if not rows:
        raise Unauthorized(_l("The token is no longer valid; sign in again."))
    _, username, role, display_name, anchor_id, is_active, current_version, _ = rows[0]
    if not is_active or (token_version is not None and token_version != current_version):
        raise Unauthorized(_l("The token is no longer valid; sign in again."))
    principal = Principal(
        id=user_id,
        username=username,
        role=Role(role),
        display_name=display_name,
        anchor_id=anchor_id,
        county_ids=frozenset(row[7] for row in rows if row[7] is not None),
    )
    return principal, int(current_version)


_PRINCIPAL_COLUMNS = select(
    col(User.id),
    col(User.username),
    col(User.role),
    col(User.display_name),
    col(User.anchor_id),
    col(User.is_active),
    col(User.token_version),
    col(UserCounty.county_id),
).outerjoin(UserCounty, col(UserCounty.user_id) == col(User.id))
_PRINCIPAL_ROWS = _PRINCIPAL_COLUMNS.where(col(User.id) == bindparam("user_id"))
_PRINCIPALS_ROWS = _PRINCIPAL_COLUMNS.where(col(User.id).in_(bindparam("user_ids", expanding=True)))


async def principal_from_token(session: AsyncSession, token: str, secret: str) -> Principal:
    """Decode a bearer token and load its principal."""
    claims = decode_token(token, secret=secret)
    return await load_principal(session, int(claims["sub"]), claims.get("ver"))


CHANGED_USERS_KEY = "livecommerce.changed_users"
NOTICE_TOPIC = "principals"


def note_changed(session: AsyncSession, user_id: int) -> None:
    """Say that a user's rights or credentials changed in this transaction (caches drop them once it commits)."""
    session.info.setdefault(CHANGED_USERS_KEY, set()).add(user_id)


@dataclass
class _Cached:
    principal: Principal
    version: int
    until: float


class TokenPrincipals:
    """Signed access tokens checked against the user's current credential version, with a cache per instance.

    A request whose token carries the version this instance last read for the user is
    answered from memory; anything else reads the user again. A change of rights or
    credentials (`note_changed`) is announced after its commit through `notices` to every
    instance, which drops the user at once; while notices cannot be heard the cache is not
    used, and an entry lives at most `ttl` seconds whatever happens.
    """

    def __init__(self, secret: str, notices: Notices, *, ttl: float = 30.0, max_entries: int = 100_000) -> None:
        self._secret = secret
        self._notices = notices
        self._ttl = ttl
        self._max = max_entries
        self._cache: OrderedDict[int, _Cached] = OrderedDict()
        # Tokens whose signature was checked: token -> (user id, credential version, expiry epoch).
        # A token's claims never change, so checking its signature once is enough; whether its
        # version is still current is the principal cache's question, asked every time.
        self._verified: OrderedDict[str, tuple[int, Any, float]] = OrderedDict()
        self.loads = 0
        self._group: tuple[Database, GroupRead[int, Sequence[Sequence[Any]]]] | None = None
        notices.listen(NOTICE_TOPIC, self._on_notice, self._cache.clear)

    async def from_token(self, session: AsyncSession, token: str) -> Principal:
        """The principal of `token`."""
        return await self._principal(token, lambda user_id, version: _load(session, user_id, version))

    async def from_token_in(self, db: Database, token: str) -> Principal:
        """The principal of `token`, as `from_token`; a read it needs is shared with other callers' (`kit.group_read`).

        For the order fast route: when a broadcast starts selling, thousands of viewers this
        instance has not seen yet order at once, and their users are read in batches.
        """

        async def load(user_id: int, version: int | None) -> tuple[Principal, int]:
            return _principal_of(await self._group_in(db).ask(user_id), user_id, version)

        return await self._principal(token, load)

    def _group_in(self, db: Database) -> GroupRead[int, Sequence[Sequence[Any]]]:
        if self._group is None or self._group[0] is not db:
            self._group = (db, GroupRead(lambda ids: _read_many(db, ids), missing=(), name="principal-reads"))
        return self._group[1]

    async def _principal(self, token: str, load: Callable[[int, int | None], Awaitable[tuple[Principal, int]]]) -> Principal:
        user_id, version = self._claims(token)
        remembered = self._remembered(user_id, version)
        if remembered is not None:
            return remembered
        self.loads += 1
        now, caching = time.monotonic(), self._caching()  # before the read: one made while notices were unheard is not kept
        principal, current = await load(user_id, version)
        if caching:
            self._cache[user_id] = _Cached(principal, current, now + self._ttl)
            self._cache.move_to_end(user_id)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return principal

    def peek(self, token: str) -> Principal | None:
        """The principal of `token` when memory alone can answer as `from_token` would; None when it would have to look.

        Only a token whose signature was checked before, of a user cached at that token's
        version, still fresh, while notices are heard: the same conditions `from_token` answers
        from memory under, so the two never disagree.
        """
        verified = self._verified.get(token)
        if verified is None or verified[2] <= time.time():
            return None
        return self._remembered(verified[0], verified[1])

    def _caching(self) -> bool:
        return self._notices.healthy and self._ttl > 0

    def _remembered(self, user_id: int, version: Any) -> Principal | None:
        """The user's principal from memory, when cached at `version`, still fresh, and notices are heard."""
        cached = self._cache.get(user_id) if self._caching() else None
        if cached is None or cached.version != version or cached.until <= time.monotonic():
            return None
        return cached.principal

    def _claims(self, token: str) -> tuple[int, Any]:
        verified = self._verified.get(token)
        if verified is not None and verified[2] > time.time():
            return verified[0], verified[1]
        claims = decode_token(token, secret=self._secret)
        user_id, version = int(claims["sub"]), claims.get("ver")
        self._verified[token] = (user_id, version, float(claims["exp"]))
        while len(self._verified) > self._max:
            self._verified.popitem(last=False)
        return user_id, version

    def after_commit(self, session: AsyncSession) -> None:
        """Announce the users whose rights changed in the committed transaction."""
        changed = session.info.get(CHANGED_USERS_KEY)
        if changed:
            self._notices.publish(NOTICE_TOPIC, {"user_ids": sorted(changed)})

    def _on_notice(self, payload: dict[str, Any]) -> None:
        for user_id in payload.get("user_ids", []):
            self._cache.pop(int(user_id), None)
