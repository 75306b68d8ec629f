"""Languages: the gettext catalogs (livecommerce/locale), negotiation, and messages translated when rendered.

Source strings are English; the catalogs give their Chinese (zh_CN) and, for the pages' keyed
messages (`nav.live`), their English too (en). Extract, update and compile them with pybabel
(see README, "Translations"); a test checks that the catalogs are complete and compiled.
"""

from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"
LANGUAGES = ("zh-CN", "en")
LANG_COOKIE = "lc_lang"
# The gettext locale folder of each language tag.
CATALOG_LOCALES = {"zh-CN": "zh_CN", "en": "en"}


@functools.cache
def translations(lang: str) -> NullTranslations:
    """The compiled catalog of a language (English when there is none)."""
    locale = CATALOG_LOCALES.get(lang, "en")
    return Translations.load(str(LOCALE_DIR), [locale], DOMAIN)


def gettext(lang: str, message: str) -> str:
    """`message` in `lang`; the message itself when the catalog has no translation."""
    return translations(lang).gettext(message)


class LazyMessage:
    """A message template with named parameters, translated only when rendered for a reader.

    `str()` gives the English. Parameters that are themselves lazy messages (a status word) are
    rendered in the same language.
    """

    __slots__ = ("params", "template")

    def __init__(self, template: str, /, **params: Any) -> None:
        self.template = template
        self.params = params

    def render(self, lang: str) -> str:
        """The message in `lang`, its parameters filled in."""
        text = gettext(lang, self.template)
        if not self.params:
            return text
        values = {name: value.render(lang) if isinstance(value, LazyMessage) else value for name, value in self.params.items()}
        try:
            return text.format(**values)
        except (KeyError, IndexError, ValueError):
            # A translation that names a parameter the code does not give: the English still is right.
            return self.template.format(**values)

    def __str__(self) -> str:
        return self.render("en")

    def __repr__(self) -> str:
        return f"LazyMessage({self.template!r}, **{self.params!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyMessage):
            return (self.template, self.params) == (other.template, other.params)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.template)


def _l(template: str, /, **params: Any) -> LazyMessage:
    """Mark an English message template for extraction; it is translated when rendered (`{name}` parameters)."""
    return LazyMessage(template, **params)


# Status words that details quote ("Order 4 is paid ..."), translated with the detail.
_STATES: dict[str, LazyMessage] = {
    "scheduled": _l("scheduled"),
    "live": _l("live"),
    "ended": _l("ended"),
    "cancelled": _l("cancelled"),
    "pending": _l("pending"),
    "paid": _l("paid"),
    "refunded": _l("refunded"),
    "expired": _l("expired"),
    "shipped": _l("shipped"),
    "delivered": _l("delivered"),
    "requested": _l("requested"),
    "confirmed": _l("confirmed"),
    "completed": _l("completed"),
    "open": _l("open"),
    "approved": _l("approved"),
    "rejected": _l("rejected"),
    "draft": _l("draft"),
    "active": _l("active"),
}


def status_word(value: object) -> LazyMessage | str:
    """A status value as a word of the reader's language (a status with no translation stays as it is)."""
    text = str(getattr(value, "value", value))
    return _STATES.get(text, text)


def negotiate(accept_language: str | None, cookie: str | None = None, *, default: str = "en") -> str:
    """The language to answer in: the best match of Accept-Language, else the `lc_lang` cookie, else `default`."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, index, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    if cookie in LANGUAGES:
        return str(cookie)
    return default


# Details name a slot or booking by its time, as the platform's readers (Guangdong counties) know it.
DETAIL_ZONE = ZoneInfo("Asia/Shanghai")


def at_time(moment: datetime) -> str:
    """A moment as a detail names it: local date and time (Asia/Shanghai), "2026-05-03 19:00"."""
    return moment.astimezone(DETAIL_ZONE).strftime("%Y-%m-%d %H:%M")
