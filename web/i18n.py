"""Page languages (zh-CN and English): negotiation from Accept-Language or the `lc_lang` cookie, and translation.

The texts are in the gettext catalogs (livecommerce/locale/<lang>/LC_MESSAGES/messages.po), keyed
by message ids such as `nav.live`; templates write `_('nav.live')` (or `{% trans %}`), scripts
`t("nav.live")`. See README, "Translations".
"""

from __future__ import annotations

import re
from typing import Any

from livecommerce.kit.i18n import LANG_COOKIE, LANGUAGES, gettext, translations
from livecommerce.kit.i18n import negotiate as negotiate_language

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "LANG_COOKIE", "Translator", "negotiate"]

DEFAULT_LANGUAGE = "zh-CN"
_PAGE_KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")


def N_(key: str) -> str:  # noqa: N802  # gettext's name for "mark for extraction, translate later"
    """Mark a message id that is only ever used computed (`'status.' ~ status`), so extraction keeps it."""
    return key


# Message ids the templates and scripts build at run time; listed so pybabel extract keeps them.
COMPUTED_KEYS = ()


def negotiate(accept_language: str | None, cookie: str | None) -> str:
    """The page language: the `lc_lang` cookie if valid, else the best match of Accept-Language."""
    if cookie in LANGUAGES:
        return str(cookie)
    return negotiate_language(accept_language, None, default=DEFAULT_LANGUAGE)


class Translator:
    """Looks up a message in one language's catalog, falling back to English, then to the id itself."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def gettext(self, key: str) -> str:
        """The text of a message id (or of an English source text) in this language."""
        text = gettext(self.lang, key)
        if text == key and self.lang != "en":
            text = gettext("en", key)
        return text

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The singular or plural text (Chinese has one form; English two)."""
        return translations(self.lang).ngettext(singular, plural, n)

    def __call__(self, key: str, **values: Any) -> str:
        text = self.gettext(key)
        return text.format(**values) if values else text

    def client_messages(self) -> dict[str, str]:
        """Every page message id with its text, for the pages' scripts."""
        keys = [key for key in _catalog("en") if isinstance(key, str) and _PAGE_KEY.match(key)]
        return {key: self.gettext(key) for key in keys}


def _catalog(lang: str) -> dict[Any, str]:
    # GNUTranslations keeps its messages in `_catalog`; the standard library offers no public view of them.
    catalog: dict[Any, str] = getattr(translations(lang), "_catalog", {})
    return catalog
