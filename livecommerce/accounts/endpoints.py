"""Sign-in, token refresh and revocation, registration and user administration routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request, Response

from livecommerce.accounts import service
from livecommerce.accounts.models import User
from livecommerce.accounts.schemas import PasswordChange, RefreshRequest, RegisterRequest, Token, UserCreate, UserPublic, UserUpdate
from livecommerce.kit.auth import AdminUser, CurrentUser
from livecommerce.kit.deps import ClockDep, RateLimiterDep, SessionDep, SettingsDep
from livecommerce.kit.errors import NotFound, problem, problem_response
from livecommerce.kit.i18n import _l
from livecommerce.kit.ratelimit_deps import check_sign_in, registration_limit
from livecommerce.kit.types import MAX_ID

router = APIRouter(prefix="/api", tags=["accounts"])
UserId = Annotated[int, Path(gt=0, le=MAX_ID, description="The user.")]
_LIMITED: dict[int | str, dict[str, Any]] = {429: {"description": "Too many attempts; `Retry-After` says when to try again"}}


@router.post("/auth/token", response_model=Token, summary="Sign in (OAuth2 password flow)", responses=_LIMITED)
async def sign_in(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    limiter: RateLimiterDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=128)],
) -> Token:
    """Exchange a username and password for an access token and a refresh token."""
    await check_sign_in(limiter, request, username)
    user = await service.authenticate(session, username, password)
    assert user.id is not None
    return service.issue_tokens(user.id, user.token_version, settings, clock.now())


@router.post(
    "/auth/refresh",
    response_model=Token,
    summary="Exchange a refresh token for a new pair (each refresh token works once)",
    responses={401: {"description": "Expired, revoked or already used (a reuse revokes every token of the user)"}},
)
async def refresh(session: SessionDep, settings: SettingsDep, clock: ClockDep, body: RefreshRequest) -> Token | Response:
    """Rotate tokens: the refresh token is spent and a new access and refresh token come back."""
    token = await service.exchange_refresh_token(session, body.refresh_token, settings, clock.now())
    if token is None:
        # Answered rather than raised so that the revocation is committed with this request.
        detail = "This refresh token was used already; every session of this user was signed out."
        return problem_response(401, problem(401, "Not signed in", detail, "unauthorized"), {"WWW-Authenticate": "Bearer"})
    return token


@router.post("/auth/logout", status_code=204, summary="Sign out everywhere: every token of the caller stops working")
async def logout(session: SessionDep, clock: ClockDep, principal: CurrentUser) -> Response:
    """Revoke every access and refresh token of the caller."""
    await service.logout(session, principal, clock.now())
    return Response(status_code=204)


@router.post(
    "/auth/password",
    response_model=Token,
    summary="Change your password (signs out every other session; returns a fresh pair)",
    responses={422: {"description": "The current password is wrong or the new one too short"}, **_LIMITED},
)
async def change_password(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    limiter: RateLimiterDep,
    principal: CurrentUser,
    body: PasswordChange,
) -> Token:
    """Check the current password, set the new one and revoke older tokens."""
    await check_sign_in(limiter, request, principal.username)
    return await service.change_password(session, principal, body, settings, clock.now())


@router.post(
    "/auth/register",
    response_model=UserPublic,
    status_code=201,
    summary="Register as a viewer",
    responses=_LIMITED,
    dependencies=[Depends(registration_limit)],
)
async def register(session: SessionDep, body: RegisterRequest) -> UserPublic:
    """Create a viewer account."""
    user = await service.register_viewer(session, body.username, body.password, body.display_name)
    return await service.user_public(session, user)


@router.get("/me", response_model=UserPublic, summary="The signed-in user")
async def me(session: SessionDep, principal: CurrentUser) -> UserPublic:
    """Who the token belongs to."""
    user = await session.get(User, principal.id)
    if user is None:
        raise NotFound(_l("No such user."))
    return await service.user_public(session, user)


@router.post("/users", response_model=UserPublic, status_code=201, summary="Create a user (admin)")
async def create_user(session: SessionDep, clock: ClockDep, admin: AdminUser, body: UserCreate) -> UserPublic:
    """Create a user of any role."""
    user = await service.create_user(session, body, actor=admin, now=clock.now())
    return await service.user_public(session, user)


@router.patch(
    "/users/{user_id}",
    response_model=UserPublic,
    summary="Change a user's role, counties, anchor, name or active flag (admin; revokes their tokens)",
    responses={409: {"description": "Admins cannot demote or deactivate themselves"}},
)
async def update_user(session: SessionDep, clock: ClockDep, admin: AdminUser, user_id: UserId, body: UserUpdate) -> UserPublic:
    """Change a user; a change of rights signs them out everywhere."""
    user = await service.update_user(session, admin, user_id, body, clock.now())
    return await service.user_public(session, user)
