"""The enabled providers, built once from the settings (`LIVECOMMERCE_PAYMENT_PROVIDERS`)."""

from __future__ import annotations

from livecommerce.kit.errors import Forbidden, NotFound
from livecommerce.kit.i18n import _l
from livecommerce.kit.settings import Settings
from livecommerce.payments.alipay import AlipayConfig, AlipayProvider
from livecommerce.payments.base import PaymentProvider
from livecommerce.payments.sandbox import SandboxProvider
from livecommerce.payments.wechatpay import WeChatPayConfig, WeChatPayProvider

KNOWN_PROVIDERS = ("sandbox", "wechatpay", "alipay")
# Money that moved at a real provider goes back only through that provider.
REAL_PROVIDERS = frozenset({"wechatpay", "alipay"})


class ProviderNotConfigured(ValueError):
    """A provider is enabled but a setting it needs is missing (named, never shown)."""


class PaymentProviders:
    """The providers this deployment accepts, by name."""

    def __init__(self, providers: dict[str, PaymentProvider]) -> None:
        self._providers = providers

    @property
    def names(self) -> list[str]:
        """The enabled providers' names."""
        return list(self._providers)

    def get(self, name: str) -> PaymentProvider:
        """The provider called `name`; 404 for an unknown one, 403 for a known one that is turned off."""
        provider = self._providers.get(name)
        if provider is not None:
            return provider
        if name in KNOWN_PROVIDERS:
            raise Forbidden(_l("Payments through {name} are turned off on this server.", name=name))
        raise NotFound(_l("There is no payment provider called “{name}”.", name=name[:32]))

    def find(self, name: str) -> PaymentProvider | None:
        """The provider called `name`, if it is enabled."""
        return self._providers.get(name)


def _required(settings: Settings, *names: str) -> list[str]:
    missing = [f"LIVECOMMERCE_{n.upper()}" for n in names if not getattr(settings, n)]
    if missing:
        raise ProviderNotConfigured("payment provider settings missing: " + ", ".join(missing))
    return [str(getattr(settings, n)) for n in names]


def wechatpay_from(settings: Settings) -> WeChatPayProvider:
    """The WeChat Pay provider the settings describe."""
    mchid, appid, serial, key_file, notify_url = _required(
        settings, "wechatpay_mchid", "wechatpay_appid", "wechatpay_merchant_serial_no", "wechatpay_private_key_file", "wechatpay_notify_url"
    )
    if settings.wechatpay_apiv3_key is None:
        raise ProviderNotConfigured("payment provider settings missing: LIVECOMMERCE_WECHATPAY_APIV3_KEY")
    config = WeChatPayConfig(
        mchid=mchid,
        appid=appid,
        merchant_serial_no=serial,
        private_key_file=key_file,
        apiv3_key=settings.wechatpay_apiv3_key.get_secret_value(),
        notify_url=notify_url,
        platform_cert_files=tuple(settings.wechatpay_platform_cert_files),
        api_base=settings.wechatpay_api_base,
        notify_max_age_seconds=settings.payment_notify_max_age_seconds,
        timeout_seconds=settings.payment_http_timeout_seconds,
        trade_prefix=settings.payment_trade_prefix,
    )
    return WeChatPayProvider(config)


def alipay_from(settings: Settings) -> AlipayProvider:
    """The Alipay provider the settings describe."""
    app_id, key_file, public_key_file, notify_url = _required(
        settings, "alipay_app_id", "alipay_app_private_key_file", "alipay_public_key_file", "alipay_notify_url"
    )
    config = AlipayConfig(
        app_id=app_id,
        app_private_key_file=key_file,
        alipay_public_key_file=public_key_file,
        notify_url=notify_url,
        return_url=settings.alipay_return_url,
        seller_id=settings.alipay_seller_id,
        gateway=settings.alipay_gateway,
        timeout_seconds=settings.payment_http_timeout_seconds,
        trade_prefix=settings.payment_trade_prefix,
    )
    return AlipayProvider(config)


def providers_from(settings: Settings) -> PaymentProviders:
    """Every provider the settings enable; ProviderNotConfigured when one lacks a setting it needs."""
    providers: dict[str, PaymentProvider] = {}
    for name in settings.payment_providers:
        if name == "sandbox":
            if settings.sandbox_payments_enabled:
                providers[name] = SandboxProvider(settings.payment_webhook_secret)
        elif name == "wechatpay":
            providers[name] = wechatpay_from(settings)
        elif name == "alipay":
            providers[name] = alipay_from(settings)
    return PaymentProviders(providers)
