"""Templates, static asset URLs and the security headers of every page."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import Response

from livecommerce.kit.principal import Principal
from livecommerce.kit.settings import Settings
from web import format as fmt
from web.i18n import Translator

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"
TEMPLATES_DIR = WEB_DIR / "templates"

# Every asset is served by the app itself (internal networks have no CDN); the policy makes
# the browser refuse anything else, so a stray external reference fails loudly in tests.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@cache
def static_url(path: str) -> str:
    """The URL of a static file, with a content hash so browsers refetch it when it changes."""
    digest = hashlib.blake2s((STATIC_DIR / path).read_bytes(), digest_size=4).hexdigest()
    return f"/static/{path}?v={digest}"


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    # `{% trans %}` and `_()` take `gettext`/`_` from each page's context (its own language).
    env.add_extension("jinja2.ext.i18n")
    env.filters["yuan"] = fmt.yuan
    env.globals["static_url"] = static_url
    env.globals["product_colors"] = fmt.product_colors
    return env


templates = Jinja2Templates(env=_environment())


class Page:
    """The per-request frame of a page: language, user, zone, and the rendering call."""

    def __init__(self, request: Request, principal: Principal | None, lang: str, settings: Settings) -> None:
        self.request = request
        self.principal = principal
        self.lang = lang
        self.t = Translator(lang)
        self.tz = settings.tz
        self.timezone = settings.timezone

    def render(self, name: str, status_code: int = 200, **context: Any) -> Response:
        """Render a template with the common context and the security headers."""
        boot: dict[str, Any] = {
            "lang": self.lang,
            "tz": self.timezone,
            "messages": self.t.client_messages(),
            "user": None
            if self.principal is None
            else {"id": self.principal.id, "role": self.principal.role.value, "name": self.principal.display_name},
            **context.pop("boot", {}),
        }
        base: dict[str, Any] = {
            "page": self,
            "_": self.t,
            "t": self.t,
            "gettext": self.t.gettext,
            "ngettext": self.t.ngettext,
            "lang": self.lang,
            "user": self.principal,
            "unread_notifications": getattr(self.request.state, "unread_notifications", 0),
            "when": lambda dt: fmt.when(dt, self.tz, self.lang),
            "clock": lambda dt: fmt.clock_time(dt, self.tz),
            "day": lambda dt: fmt.day_label(dt, self.tz, self.lang),
            "boot": boot,
        }
        response = templates.TemplateResponse(self.request, name, {**base, **context}, status_code=status_code, headers=SECURITY_HEADERS)
        if getattr(self.request.state, "stale_token", False):
            response.delete_cookie("lc_token", path="/")
        return response
