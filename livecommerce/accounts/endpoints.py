"""Sign-in, registration and user administration routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form

from livecommerce.accounts import service
from livecommerce.accounts.auth import AdminUser, CurrentUser
from livecommerce.accounts.models import User
from livecommerce.accounts.schemas import RegisterRequest, Token, UserCreate, UserPublic
from livecommerce.accounts.security import create_access_token
from livecommerce.deps import ClockDep, SessionDep, SettingsDep
from livecommerce.errors import NotFound

router = APIRouter(prefix="/api", tags=["accounts"])


@router.post("/auth/token", response_model=Token, summary="Sign in (OAuth2 password flow)")
async def sign_in(
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=128)],
) -> Token:
    """Exchange a username and password for a bearer token."""
    user = await service.authenticate(session, username, password)
    assert user.id is not None
    token = create_access_token(
        user_id=user.id,
        token_version=user.token_version,
        secret=settings.secret_key,
        now=clock.now(),
        ttl_seconds=settings.access_token_ttl_seconds,
    )
    return Token(access_token=token, expires_in=settings.access_token_ttl_seconds)


@router.post("/auth/register", response_model=UserPublic, status_code=201, summary="Register as a viewer")
async def register(session: SessionDep, body: RegisterRequest) -> UserPublic:
    """Create a viewer account."""
    user = await service.register_viewer(session, body.username, body.password, body.display_name)
    return await service.user_public(session, user)


@router.get("/me", response_model=UserPublic, summary="The signed-in user")
async def me(session: SessionDep, principal: CurrentUser) -> UserPublic:
    """Who the token belongs to."""
    user = await session.get(User, principal.id)
    if user is None:
        raise NotFound("No such user.")
    return await service.user_public(session, user)


@router.post("/users", response_model=UserPublic, status_code=201, summary="Create a user (admin)")
async def create_user(session: SessionDep, _admin: AdminUser, body: UserCreate) -> UserPublic:
    """Create a user of any role."""
    user = await service.create_user(session, body)
    return await service.user_public(session, user)
