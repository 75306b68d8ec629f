"""What every back-office page shares: who may enter, the page frame, flash messages, form errors, money input.

CSRF follows the site's other forms: the sign-in cookie is SameSite=Lax, so a cross-site POST
arrives without it, and every form POST here also checks the Origin header (`same_origin`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.responses import Response

from livecommerce.kit.errors import LiveCommerceError, NotFound
from livecommerce.kit.pagination import PageParams
from livecommerce.kit.principal import Principal
from livecommerce.kit.settings import Settings
from livecommerce.kit.types import MAX_ID
from web.i18n import LANG_COOKIE, Translator, negotiate
from web.rendering import Page
from web.session import login_redirect, same_origin

FLASH_COOKIE = "lc_flash"
PAGE_SIZE = 25


def page_for(request: Request, principal: Principal | None, settings: Settings) -> Page:
    """The page frame in the visitor's language."""
    lang = negotiate(request.headers.get("accept-language"), request.cookies.get(LANG_COOKIE))
    return Page(request, principal, lang, settings)


def refuse(request: Request, user: Principal | None) -> Response | None:
    """The sign-in page for anyone but admins and organizers (None: come in)."""
    if user is None or not user.is_staff:
        return login_redirect(request, need_role=user is not None)
    return None


def refuse_post(request: Request, user: Principal | None) -> Response | None:
    """As `refuse`, and a form posted from another site is refused outright."""
    if not same_origin(request):
        return Response("Cross-site form refused.", status_code=403, media_type="text/plain")
    return refuse(request, user)


def scope_of(user: Principal) -> frozenset[int] | None:
    """The counties whose records the user sees (None: every county, for admins)."""
    return None if user.is_admin else user.county_ids


def render(page: Page, name: str, status_code: int = 200, **context: Any) -> Response:
    """Render a back-office template with the flash message of the last POST, which is then forgotten."""
    flash = page.request.cookies.get(FLASH_COOKIE)
    message = page.t(f"manage.flash.{flash}") if flash and flash.isidentifier() else None
    response = page.render(name, status_code=status_code, flash=message, **context)
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/manage")
    return response


def refused_page(page: Page, exc: LiveCommerceError) -> Response:
    """The 404 page for an unknown record, the 403 page for another county's."""
    if isinstance(exc, NotFound):
        return page.render("not_found.html", status_code=404)
    return page.render("manage/forbidden.html", status_code=403)


def done(url: str, flash: str) -> Response:
    """Go on to `url` (POST/redirect/GET), showing the flash message `manage.flash.<flash>` there."""
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(FLASH_COOKIE, flash, max_age=60, httponly=True, samesite="lax", path="/manage")
    return response


@dataclass
class FormErrors:
    """Errors of a submitted form: one message per field, and those that belong to no field."""

    fields: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)

    def add(self, name: str, message: str) -> None:
        """Note an error beside `name` (the first one wins)."""
        self.fields.setdefault(name, message)


# The pydantic error types a form meets most, said in the reader's language; others keep pydantic's words.
_KNOWN_TYPES = {
    "missing": "manage.error.missing",
    "string_too_short": "manage.error.missing",
    "string_too_long": "manage.error.too_long",
    "greater_than": "manage.error.too_small",
    "greater_than_equal": "manage.error.too_small",
    "less_than": "manage.error.too_large",
    "less_than_equal": "manage.error.too_large",
    "int_parsing": "manage.error.whole_number",
    "int_type": "manage.error.whole_number",
}


def validation_errors(exc: ValidationError, t: Translator) -> FormErrors:
    """A schema's refusal, each message beside the field it names (a model-wide one above the form)."""
    errors = FormErrors()
    for err in exc.errors():
        loc = [p for p in err.get("loc", ()) if isinstance(p, str)]
        known = _KNOWN_TYPES.get(str(err.get("type")))
        message = (
            t(known, **{k: v for k, v in (err.get("ctx") or {}).items() if k in ("max_length", "gt", "ge", "lt", "le")}) if known else None
        )
        message = message or str(err.get("msg", "")).removeprefix("Value error, ")
        if loc:
            errors.add(loc[0], message)
        else:
            errors.general.append(message)
    return errors


def domain_errors(exc: LiveCommerceError) -> FormErrors:
    """A service's refusal: its `errors` beside their fields, its detail above the form otherwise."""
    errors = FormErrors()
    for item in exc.extra.get("errors", []):
        if isinstance(item, dict) and item.get("field"):
            errors.add(str(item["field"]).split(".")[-1], exc.detail)
    if not errors.fields:
        errors.general.append(exc.detail)
    return errors


def fen_of(text: str) -> int | None:
    """An amount typed in yuan ("29.9", "29.90") as fen; None if it is not one (at most two decimals)."""
    try:
        amount = Decimal(text.strip().replace(",", "").replace("¥", ""))
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")) or amount > 10**8:
        return None
    return int(amount * 100)


def bp_of(text: str) -> int | None:
    """A share typed in percent ("70", "33.33") as basis points; None if it is not one."""
    try:
        percent = Decimal(text.strip().removesuffix("%"))
    except InvalidOperation:
        return None
    if not percent.is_finite() or percent != percent.quantize(Decimal("0.01")) or abs(percent) > 10**6:
        return None
    return int(percent * 100)


def percent(bp: int) -> str:
    """Basis points as a percent for a form: 7000 → "70", 3333 → "33.33"."""
    whole, rest = divmod(bp, 100)
    return f"{whole}" if rest == 0 else f"{whole}.{rest:02d}"


def int_or_none(text: str | None) -> int | None:
    """A positive id from a form or query field, or None."""
    if text is None or not text.strip().isdigit():
        return None
    value = int(text.strip())
    return value if 0 < value <= MAX_ID else None


@dataclass(frozen=True)
class ListQuery:
    """A list page's filters and page, as the query string carries them."""

    county_id: int | None
    q: str | None
    status: str | None
    cursor: str | None

    @classmethod
    def of(cls, request: Request, statuses: tuple[str, ...] = ()) -> ListQuery:
        """Read the filters leniently: an unknown value is simply no filter."""
        params = request.query_params
        text = (params.get("q") or "").strip()[:64] or None
        status = params.get("status")
        cursor = params.get("cursor")
        return cls(
            county_id=int_or_none(params.get("county_id")),
            q=text,
            status=status if status in statuses else None,
            cursor=cursor if cursor and cursor.isdigit() and int(cursor) <= MAX_ID else None,
        )

    @property
    def page(self) -> PageParams:
        """The page asked for."""
        return PageParams(limit=PAGE_SIZE, after_id=int(self.cursor) if self.cursor else None)

    def next_url(self, path: str, next_cursor: str | None) -> str | None:
        """The link to the next page, keeping the filters."""
        if next_cursor is None:
            return None
        return f"{path}?{urlencode({**self.filters, 'cursor': next_cursor})}"

    @property
    def filters(self) -> dict[str, str]:
        """The filters in force, for links."""
        found = {"county_id": str(self.county_id) if self.county_id else "", "q": self.q or "", "status": self.status or ""}
        return {k: v for k, v in found.items() if v}
