"""Who is looking at a page: the `lc_token` cookie, set by the sign-in form, read leniently.

CSRF: the cookie is HttpOnly and SameSite=Lax, and the API refuses cookie-authenticated
state changes that lack an `X-Requested-With` header (see `optional_principal`): a custom
header cannot be sent cross-origin without a CORS preflight, which this app never grants.
The page forms that change state here (sign in, sign out) check the Origin header instead.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from livecommerce.accounts.principals import principal_from_token
from livecommerce.kit.deps import SessionDep, SettingsDep
from livecommerce.kit.errors import Unauthorized
from livecommerce.kit.principal import Principal, Role
from livecommerce.kit.settings import Settings
from schedulers import followers

TOKEN_COOKIE = "lc_token"


async def page_principal(request: Request, session: SessionDep, settings: SettingsDep) -> Principal | None:
    """The signed-in user, or None (an expired or revoked cookie simply means signed out)."""
    token = request.cookies.get(TOKEN_COOKIE)
    if not token:
        return None
    try:
        principal = await principal_from_token(session, token, settings.secret_key)
    except Unauthorized:
        request.state.stale_token = True  # the page drops it, so page scripts and the websocket go anonymous
        return None
    # The badge in the site header: one count, only for a signed-in reader.
    request.state.unread_notifications = await followers.unread_count(session, principal)
    return principal


PageUser = Annotated[Principal | None, Depends(page_principal)]


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go to after sign-in; anything that could leave the site becomes `default`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def login_redirect(request: Request, *, need_role: bool = False) -> RedirectResponse:
    """Send the visitor to the sign-in page, coming back here afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = f"/login?next={quote(here, safe='')}"
    if need_role:
        url += "&need=role"
    return RedirectResponse(url, status_code=303)


def home_for(principal: Principal) -> str:
    """Where each role lands after signing in."""
    if principal.is_staff:
        return "/dashboard"
    if principal.role is Role.cadre:
        return "/schedule"
    return "/"


def same_origin(request: Request) -> bool:
    """False when a browser says the form was posted from another site."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", request.url.netloc)


def set_token_cookie(response: Response, request: Request, token: str, settings: Settings) -> None:
    """Store the bearer token where only the browser (not page scripts) can read it."""
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        max_age=settings.access_token_ttl_seconds,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
