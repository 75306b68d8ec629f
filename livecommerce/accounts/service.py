"""Sign-in, tokens and their revocation, registration and user administration."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.accounts.models import RefreshTokenUse, Role, User, UserCounty
from livecommerce.accounts.principals import load_principal, note_changed
from livecommerce.accounts.schemas import PasswordChange, Token, UserCreate, UserPublic, UserUpdate
from livecommerce.accounts.security import create_access_token, decode_token, hash_password_async, verify_password_async
from livecommerce.audit import service as audit
from livecommerce.catalog.models import Anchor, County
from livecommerce.kit.errors import Conflict, Forbidden, InvalidInput, InvalidState, NotFound, Unauthorized
from livecommerce.kit.i18n import _l
from livecommerce.kit.masking import mask_display_name
from livecommerce.kit.pagination import PageParams, paginate
from livecommerce.kit.principal import Principal
from livecommerce.kit.settings import Settings


async def authenticate(session: AsyncSession, username: str, password: str) -> User:
    """The user whose credentials these are; Unauthorized otherwise (same answer either way)."""
    user = await session.scalar(select(User).where(col(User.username) == username))
    ok = await verify_password_async(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        raise Unauthorized(_l("Wrong username or password."))
    return user


def issue_tokens(user_id: int, token_version: int, settings: Settings, now: datetime) -> Token:
    """A fresh access token and a single-use refresh token, both bound to the credential version."""
    common: dict[str, Any] = {"user_id": user_id, "token_version": token_version, "secret": settings.secret_key, "now": now}
    return Token(
        access_token=create_access_token(**common, ttl_seconds=settings.access_token_ttl_seconds),
        expires_in=settings.access_token_ttl_seconds,
        refresh_token=create_access_token(**common, ttl_seconds=settings.refresh_token_ttl_seconds, kind="refresh"),
        refresh_expires_in=settings.refresh_token_ttl_seconds,
    )


async def exchange_refresh_token(session: AsyncSession, refresh_token: str, settings: Settings, now: datetime) -> Token | None:
    """A new token pair for a valid, unused refresh token.

    None when the token was used before: one of its two holders is a thief, so every token of
    the user is revoked (the caller must commit that and answer 401).
    """
    claims = decode_token(refresh_token, secret=settings.secret_key, kind="refresh")
    principal = await load_principal(session, int(claims["sub"]), claims["ver"])
    expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
    await session.execute(
        delete(RefreshTokenUse).where(col(RefreshTokenUse.user_id) == principal.id, col(RefreshTokenUse.expires_at) < now)  # type: ignore[arg-type]
    )
    try:
        async with session.begin_nested():
            session.add(RefreshTokenUse(jti=claims["jti"][:32], user_id=principal.id, used_at=now, expires_at=expires_at))
            await session.flush()
    except IntegrityError:
        await revoke_tokens(session, principal.id)
        await audit.record(session, principal, "user.refresh_token_reused", f"user:{principal.id}", {}, now=now)
        return None
    return issue_tokens(principal.id, claims["ver"], settings, now)


async def revoke_tokens(session: AsyncSession, user_id: int) -> int:
    """Bump the user's credential version, so every token issued before stops working; the new version."""
    await session.execute(update(User).where(col(User.id) == user_id).values(token_version=User.token_version + 1))  # type: ignore[operator]
    version = await session.scalar(select(col(User.token_version)).where(col(User.id) == user_id))
    note_changed(session, user_id)
    return int(version or 0)


async def logout(session: AsyncSession, principal: Principal, now: datetime) -> None:
    """Revoke every token of the caller (sign out everywhere)."""
    await revoke_tokens(session, principal.id)
    await audit.record(session, principal, "user.logout", f"user:{principal.id}", {}, now=now)


async def change_password(session: AsyncSession, principal: Principal, data: PasswordChange, settings: Settings, now: datetime) -> Token:
    """Set a new password after checking the current one; revokes older tokens and returns a fresh pair."""
    user = await session.get(User, principal.id)
    if user is None or not await verify_password_async(user.password_hash, data.current_password):
        raise InvalidInput(
            _l("The current password is wrong."), extra={"errors": [{"field": "current_password", "message": "wrong password"}]}
        )
    user.password_hash = await hash_password_async(data.new_password)
    session.add(user)
    await session.flush()
    version = await revoke_tokens(session, principal.id)
    await audit.record(session, principal, "user.password_changed", f"user:{principal.id}", {}, now=now)
    return issue_tokens(principal.id, version, settings, now)


async def _insert_user(session: AsyncSession, user: User) -> User:
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(_l("The username “{username}” is taken.", username=user.username)) from exc
    return user


async def register_viewer(session: AsyncSession, username: str, password: str, display_name: str) -> User:
    """Create a viewer account."""
    user = User(username=username, password_hash=await hash_password_async(password), role=Role.viewer, display_name=display_name)
    return await _insert_user(session, user)


async def _check_counties(session: AsyncSession, county_ids: list[int]) -> None:
    if not county_ids:
        return
    found = set((await session.scalars(select(col(County.id)).where(col(County.id).in_(county_ids)))).all())
    missing = [c for c in county_ids if c not in found]
    if missing:
        raise InvalidInput(
            _l("Unknown county ids: {missing}.", missing=missing), extra={"errors": [{"field": "county_ids", "message": "unknown county"}]}
        )


async def _check_anchor(session: AsyncSession, anchor_id: int | None) -> None:
    if anchor_id is not None and await session.get(Anchor, anchor_id) is None:
        raise InvalidInput(_l("Unknown anchor id."), extra={"errors": [{"field": "anchor_id", "message": "unknown anchor"}]})


async def create_user(session: AsyncSession, data: UserCreate, *, actor: Principal | None = None, now: datetime | None = None) -> User:
    """Create a user of any role, with the counties they act for (audited; no actor means the operator's CLI)."""
    county_ids = sorted(set(data.county_ids))
    await _check_counties(session, county_ids)
    await _check_anchor(session, data.anchor_id)
    user = User(
        username=data.username,
        password_hash=await hash_password_async(data.password),
        role=data.role,
        display_name=data.display_name,
        anchor_id=data.anchor_id,
    )
    await _insert_user(session, user)
    assert user.id is not None
    for county_id in county_ids:
        session.add(UserCounty(user_id=user.id, county_id=county_id))
    await session.flush()
    details = {"username": user.username, "role": str(data.role), "county_ids": county_ids, "anchor_id": data.anchor_id}
    await audit.record(session, actor, "user.created", f"user:{user.id}", details, now=now or user.created_at)
    return user


async def _county_ids(session: AsyncSession, user_id: int) -> list[int]:
    stmt = select(col(UserCounty.county_id)).where(col(UserCounty.user_id) == user_id).order_by(col(UserCounty.county_id))
    return list((await session.scalars(stmt)).all())


async def update_user(session: AsyncSession, actor: Principal, user_id: int, data: UserUpdate, now: datetime) -> User:
    """Change a user's role, counties, anchor, name or active flag; any change of rights revokes their tokens."""
    user = await session.scalar(select(User).where(col(User.id) == user_id).with_for_update())
    if user is None:
        raise NotFound(_l("User {user_id} does not exist.", user_id=user_id))
    if user_id == actor.id and (
        (data.role is not None and data.role is not Role.admin) or ("is_active" in data.model_fields_set and data.is_active is False)
    ):
        raise InvalidState(_l("You cannot demote or deactivate yourself; ask another admin."))
    changes: dict[str, dict[str, Any]] = {}
    fields = data.model_dump(exclude_unset=True, exclude={"county_ids"})
    if "anchor_id" in fields:
        await _check_anchor(session, fields["anchor_id"])
    for key, value in fields.items():
        before = getattr(user, key)
        value = str(value) if isinstance(value, Role) else value
        if before != value:
            changes[key] = {"from": before, "to": value}
            setattr(user, key, value)
    session.add(user)
    if data.county_ids is not None:
        wanted = sorted(set(data.county_ids))
        await _check_counties(session, wanted)
        current = await _county_ids(session, user_id)
        if wanted != current:
            await session.execute(delete(UserCounty).where(col(UserCounty.user_id) == user_id))  # type: ignore[arg-type]
            session.add_all(UserCounty(user_id=user_id, county_id=c) for c in wanted)
            changes["county_ids"] = {"from": current, "to": wanted}
    await session.flush()
    if set(changes) - {"display_name"}:
        await revoke_tokens(session, user_id)
        await session.refresh(user)
    if changes:
        note_changed(session, user_id)  # a new display name too: cached principals carry it
        await audit.record(session, actor, "user.updated", f"user:{user_id}", changes, now=now)
    return user


async def user_public(session: AsyncSession, user: User) -> UserPublic:
    """The API view of a user."""
    assert user.id is not None
    return UserPublic(
        id=user.id,
        username=user.username,
        role=Role(user.role),
        display_name=user.display_name,
        county_ids=await _county_ids(session, user.id),
        anchor_id=user.anchor_id,
        is_active=user.is_active,
        created_at=user.created_at,
    )


async def list_users(
    session: AsyncSession, actor: Principal, page: PageParams, *, role: Role | None = None, query: str | None = None
) -> tuple[list[UserPublic], str | None]:
    """One page of users by id (admins only), optionally of one role or matching a username or name."""
    if not actor.is_admin:
        raise Forbidden(_l("Only admins manage users."))
    stmt = select(User)
    if role is not None:
        stmt = stmt.where(col(User.role) == role)
    if query:
        pattern = f"%{query.replace('%', '').replace('_', '')}%"
        stmt = stmt.where(col(User.username).ilike(pattern) | col(User.display_name).ilike(pattern))
    rows, cursor = await paginate(session, stmt, User.id, page)  # type: ignore[arg-type]  # SQLModel types `Model.id` as int | None
    return [await user_public(session, user) for user in rows], cursor


async def ensure_admin(session: AsyncSession, password: str, now: datetime) -> bool:
    """Create user `admin` with this password if it does not exist; True if created."""
    if await session.scalar(select(col(User.id)).where(col(User.username) == "admin")) is not None:
        return False
    admin = User(
        username="admin", password_hash=await hash_password_async(password), role=Role.admin, display_name="Administrator", created_at=now
    )
    session.add(admin)
    await session.flush()
    await audit.record(
        session, None, "user.created", f"user:{admin.id}", {"username": "admin", "role": "admin", "bootstrap": True}, now=now
    )
    return True


async def display_names(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, str]:
    """Users' display names in full (for events: staff see them so, the relay masks them for everyone else)."""
    ids = sorted(set(user_ids))
    rows = await session.execute(select(col(User.id), col(User.display_name)).where(col(User.id).in_(ids)))
    names = {uid: name for uid, name in rows.all() if uid is not None}
    return {uid: names.get(uid, "*") for uid in ids}


async def masked_names(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, str]:
    """Users as other viewers may see them: masked display names, never usernames or ids."""
    ids = sorted(set(user_ids))
    rows = await session.execute(select(col(User.id), col(User.display_name)).where(col(User.id).in_(ids)))
    names = {uid: mask_display_name(name) for uid, name in rows.all() if uid is not None}
    return {uid: names.get(uid, "*") for uid in ids}


async def active_cadres_of_anchors(session: AsyncSession, anchor_ids: Iterable[int]) -> list[User]:
    """The active users who host as any of the anchors, in id order."""
    stmt = select(User).where(col(User.anchor_id).in_(list(anchor_ids)), col(User.is_active).is_(True)).order_by(col(User.id))
    return list((await session.scalars(stmt)).all())


async def active_organizers_of(session: AsyncSession, county_ids: Iterable[int]) -> list[User]:
    """The active organizers acting for any of the counties, in id order."""
    counties = select(col(UserCounty.user_id)).where(col(UserCounty.county_id).in_(list(county_ids)))
    stmt = (
        select(User)
        .where(col(User.role) == Role.organizer, col(User.is_active).is_(True), col(User.id).in_(counties))
        .order_by(col(User.id))
    )
    return list((await session.scalars(stmt)).all())


async def counties_with_organizers(session: AsyncSession) -> list[int]:
    """The counties that have at least one active organizer, in id order."""
    stmt = (
        select(col(UserCounty.county_id))
        .join(User, col(User.id) == col(UserCounty.user_id))
        .where(col(User.role) == Role.organizer, col(User.is_active).is_(True))
        .distinct()
        .order_by(col(UserCounty.county_id))
    )
    return list((await session.scalars(stmt)).all())
