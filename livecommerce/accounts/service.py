"""Sign-in, registration and user administration."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.accounts.models import Role, User, UserCounty
from livecommerce.accounts.schemas import UserCreate, UserPublic
from livecommerce.accounts.security import hash_password, verify_password
from livecommerce.catalog.models import Anchor, County
from livecommerce.errors import Conflict, InvalidInput, Unauthorized


async def authenticate(session: AsyncSession, username: str, password: str) -> User:
    """The user whose credentials these are; Unauthorized otherwise (same answer either way)."""
    user = await session.scalar(select(User).where(col(User.username) == username))
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        raise Unauthorized("Wrong username or password.")
    return user


async def _insert_user(session: AsyncSession, user: User) -> User:
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"The username {user.username!r} is taken.") from exc
    return user


async def register_viewer(session: AsyncSession, username: str, password: str, display_name: str) -> User:
    """Create a viewer account."""
    user = User(username=username, password_hash=hash_password(password), role=Role.viewer, display_name=display_name)
    return await _insert_user(session, user)


async def create_user(session: AsyncSession, data: UserCreate) -> User:
    """Create a user of any role, with the counties they act for."""
    county_ids = sorted(set(data.county_ids))
    if county_ids:
        found = set((await session.scalars(select(col(County.id)).where(col(County.id).in_(county_ids)))).all())  # type: ignore[union-attr]
        missing = [c for c in county_ids if c not in found]
        if missing:
            raise InvalidInput(f"Unknown county ids: {missing}.", extra={"errors": [{"field": "county_ids", "message": "unknown county"}]})
    if data.anchor_id is not None and await session.get(Anchor, data.anchor_id) is None:
        raise InvalidInput("Unknown anchor id.", extra={"errors": [{"field": "anchor_id", "message": "unknown anchor"}]})
    user = User(
        username=data.username,
        password_hash=hash_password(data.password),
        role=data.role,
        display_name=data.display_name,
        anchor_id=data.anchor_id,
    )
    await _insert_user(session, user)
    assert user.id is not None
    for county_id in county_ids:
        session.add(UserCounty(user_id=user.id, county_id=county_id))
    await session.flush()
    return user


async def user_public(session: AsyncSession, user: User) -> UserPublic:
    """The API view of a user."""
    stmt = select(col(UserCounty.county_id)).where(col(UserCounty.user_id) == user.id).order_by(col(UserCounty.county_id))
    county_ids = list((await session.scalars(stmt)).all())
    assert user.id is not None
    return UserPublic(
        id=user.id,
        username=user.username,
        role=Role(user.role),
        display_name=user.display_name,
        county_ids=county_ids,
        anchor_id=user.anchor_id,
        created_at=user.created_at,
    )


async def ensure_admin(session: AsyncSession, password: str, now: datetime) -> bool:
    """Create user `admin` with this password if it does not exist; True if created."""
    if await session.scalar(select(col(User.id)).where(col(User.username) == "admin")) is not None:
        return False
    session.add(
        User(username="admin", password_hash=hash_password(password), role=Role.admin, display_name="Administrator", created_at=now)
    )
    await session.flush()
    return True
