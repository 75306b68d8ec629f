"""Page languages (zh-CN and English): negotiation from Accept-Language or the `lc_lang` cookie, and translation.

The texts are in the gettext catalogs (livecommerce/locale/<lang>/LC_MESSAGES/messages.po), keyed
by message ids such as `nav.live`; templates write `_('nav.live')` (or `{% trans %}`), scripts
`t("nav.live")`. See README, "Translations".
"""

from __future__ import annotations

import re
from typing import Any

from livecommerce.kit.i18n import LANG_COOKIE, LANGUAGES, translations
from livecommerce.kit.i18n import gettext as translate
from livecommerce.kit.i18n import negotiate as negotiate_language

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "LANG_COOKIE", "Translator", "negotiate"]

DEFAULT_LANGUAGE = "zh-CN"
_PAGE_KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")


def N_(key: str) -> str:  # gettext's name for "mark for extraction, translate later"
    """Mark a message id that is only ever used computed (`'status.' ~ status`), so extraction keeps it."""
    return key


# Message ids the templates and scripts build at run time; listed so pybabel extract keeps them.
COMPUTED_KEYS = (
    N_("buy.failed"),
    N_("channel.live"),
    N_("channel.physical"),
    N_("channel.unit_subscription"),
    N_("chat.hidden"),
    N_("chat.refused.anonymous"),
    N_("chat.refused.blocked_word"),
    N_("chat.refused.invalid"),
    N_("chat.refused.muted"),
    N_("chat.refused.not_live"),
    N_("chat.refused.too_fast"),
    N_("common.yuan"),
    N_("conflict.availability"),
    N_("conflict.buffer"),
    N_("conflict.daily_limit"),
    N_("conflict.weekly_limit"),
    N_("dashboard.day"),
    N_("dashboard.refunded"),
    N_("payments.alipay"),
    N_("payments.entry.payment"),
    N_("payments.entry.refund"),
    N_("payments.kind.amount_mismatch"),
    N_("payments.kind.here_not_there"),
    N_("payments.kind.paid_there_not_here"),
    N_("payments.wechatpay"),
    N_("plan.reason.anchor"),
    N_("plan.reason.availability"),
    N_("plan.reason.capacity"),
    N_("plan.reason.daily_limit"),
    N_("plan.reason.infeasible"),
    N_("plan.reason.no_anchor"),
    N_("plan.reason.notice"),
    N_("plan.reason.time_limit"),
    N_("plan.reason.weekly_limit"),
    N_("plan.status.feasible"),
    N_("plan.status.infeasible"),
    N_("plan.status.optimal"),
    N_("reports.loading"),
    N_("reports.net"),
    N_("reports.statement"),
    N_("review.moment.flash.announced"),
    N_("review.moment.flash.ended"),
    N_("review.moment.flash.started"),
    N_("review.moment.product.pinned"),
    N_("review.ordering_buyers"),
    N_("role.admin"),
    N_("role.cadre"),
    N_("role.organizer"),
    N_("role.viewer"),
    N_("schedule.invited"),
    N_("schedule.pick_slot"),
    N_("schedule.studio"),
    N_("status.cancelled"),
    N_("status.ended"),
    N_("status.live"),
    N_("status.scheduled"),
    N_("stream.hosts"),
    N_("stream.not_live"),
    N_("time.just_now"),
)


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
        text = translate(self.lang, key)
        if text == key and self.lang != "en":
            text = translate("en", key)
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
