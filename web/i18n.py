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
    N_("linkage.dividend"),
    N_("linkage.employment"),
    N_("linkage.not_recorded"),
    N_("linkage.other"),
    N_("linkage.production"),
    N_("reports.linkage"),
    N_("reports.mechanism"),
    N_("reports.monitoring.false"),
    N_("reports.monitoring.true"),
    N_("manage.import.households.checked"),
    N_("manage.import.households.done"),
    N_("manage.import.households.help"),
    N_("manage.import.households.note"),
    N_("manage.import.households.title"),
    N_("manage.import.products.checked"),
    N_("manage.import.products.done"),
    N_("manage.import.products.help"),
    N_("manage.import.products.note"),
    N_("manage.import.products.title"),
    N_("notifications.kind.stream.live"),
    N_("notifications.kind.stream.reminder"),
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
    N_("plan.reason.studio_county"),
    N_("plan.reason.time_limit"),
    N_("plan.reason.uncertified"),
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
    N_("manage.about.anchors"),
    N_("manage.about.audit"),
    N_("manage.about.bookings"),
    N_("manage.about.fulfillment"),
    N_("manage.about.households"),
    N_("manage.about.orders"),
    N_("manage.about.products"),
    N_("manage.about.refund-requests"),
    N_("manage.about.slots"),
    N_("manage.about.station-sales"),
    N_("manage.about.stations"),
    N_("manage.about.studios"),
    N_("manage.about.subscriptions"),
    N_("manage.about.units"),
    N_("manage.about.users"),
    N_("manage.area.audit"),
    N_("manage.area.fulfillment"),
    N_("manage.area.orders"),
    N_("manage.area.refund-requests"),
    N_("manage.area.station-sales"),
    N_("manage.area.subscriptions"),
    N_("manage.area.units"),
    N_("manage.area.users"),
    N_("manage.booking.status.cancelled"),
    N_("manage.booking.status.confirmed"),
    N_("manage.booking.status.ended"),
    N_("manage.booking.status.live"),
    N_("manage.booking.status.no_show"),
    N_("manage.booking.status.requested"),
    N_("manage.error.missing"),
    N_("manage.error.too_large"),
    N_("manage.error.too_long"),
    N_("manage.error.too_small"),
    N_("manage.flash.anchor_created"),
    N_("manage.flash.availability_saved"),
    N_("manage.flash.booking_approved"),
    N_("manage.flash.booking_cancelled"),
    N_("manage.flash.booking_confirmed"),
    N_("manage.flash.booking_rescheduled"),
    N_("manage.flash.household_created"),
    N_("manage.flash.household_saved"),
    N_("manage.flash.limits_saved"),
    N_("manage.flash.product_created"),
    N_("manage.flash.product_saved"),
    N_("manage.flash.slot_created"),
    N_("manage.flash.station_created"),
    N_("manage.flash.station_saved"),
    N_("manage.flash.studio_created"),
    N_("manage.flash.studio_saved"),
    N_("manage.household.status.monitored"),
    N_("manage.household.status.unmonitored"),
    N_("manage.import.checked"),
    N_("manage.import.done"),
    N_("manage.import.no_file"),
    N_("manage.product.status.in_stock"),
    N_("manage.product.status.inactive"),
    N_("manage.product.status.sold_out"),
    N_("manage.weekday.0"),
    N_("manage.weekday.1"),
    N_("manage.weekday.2"),
    N_("manage.weekday.3"),
    N_("manage.weekday.4"),
    N_("manage.weekday.5"),
    N_("manage.weekday.6"),
    N_("sales.addr.city"),
    N_("sales.addr.detail"),
    N_("sales.addr.district"),
    N_("sales.addr.phone"),
    N_("sales.addr.province"),
    N_("sales.addr.recipient"),
    N_("sales.carrier.China Post"),
    N_("sales.carrier.EMS"),
    N_("sales.carrier.JD"),
    N_("sales.carrier.SF"),
    N_("sales.carrier.STO"),
    N_("sales.carrier.YTO"),
    N_("sales.carrier.Yunda"),
    N_("sales.carrier.ZTO"),
    N_("sales.done.address_added"),
    N_("sales.done.approved"),
    N_("sales.done.received"),
    N_("sales.done.refund_asked"),
    N_("sales.done.refunded"),
    N_("sales.done.rejected"),
    N_("sales.done.role_changed"),
    N_("sales.done.shipped"),
    N_("sales.done.sold"),
    N_("sales.done.subscribed"),
    N_("sales.done.unit_created"),
    N_("sales.done.user_created"),
    N_("sales.err.number"),
    N_("sales.err.pattern"),
    N_("sales.err.range"),
    N_("sales.err.required"),
    N_("sales.err.too_long"),
    N_("sales.fulfillment.delivered"),
    N_("sales.fulfillment.shipped"),
    N_("sales.fulfillment.unshipped"),
    N_("sales.nav.orders"),
    N_("sales.nav.refund_requests"),
    N_("sales.nav.station_sales"),
    N_("sales.nav.subscriptions"),
    N_("sales.nav.units"),
    N_("sales.request.approved"),
    N_("sales.request.rejected"),
    N_("sales.request.requested"),
    N_("sales.status.cancelled"),
    N_("sales.status.expired"),
    N_("sales.status.paid"),
    N_("sales.status.pending_payment"),
    N_("sales.step.cancelled"),
    N_("sales.step.delivered"),
    N_("sales.step.expired"),
    N_("sales.step.paid"),
    N_("sales.step.placed"),
    N_("sales.step.refund_approved"),
    N_("sales.step.refund_rejected"),
    N_("sales.step.refunded"),
    N_("sales.step.shipped"),
    N_("sales.unit_type.enterprise"),
    N_("sales.unit_type.government"),
    N_("sales.unit_type.party"),
    N_("sales.unit_type.school"),
    N_("sales.unit_type.union"),
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
        # The server-rendered sales back office's texts (`sales.`) are not needed by scripts.
        keys = [k for k in _catalog("en") if isinstance(k, str) and _PAGE_KEY.match(k) and not k.startswith("sales.")]
        return {key: self.gettext(key) for key in keys}


def _catalog(lang: str) -> dict[Any, str]:
    # GNUTranslations keeps its messages in `_catalog`; the standard library offers no public view of them.
    catalog: dict[Any, str] = getattr(translations(lang), "_catalog", {})
    return catalog
