"""Which providers a deployment enables, read from LIVECOMMERCE_PAYMENT_PROVIDERS and the provider settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from livecommerce.kit.errors import Forbidden, NotFound
from livecommerce.kit.settings import Settings
from livecommerce.payments.registry import ProviderNotConfigured, providers_from


class TestSettings:
    def test_comma_separated_list_is_read(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("LIVECOMMERCE_PAYMENT_PROVIDERS", "sandbox, alipay")
        assert Settings().payment_providers == ["sandbox", "alipay"]

    def test_json_list_is_read(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("LIVECOMMERCE_PAYMENT_PROVIDERS", '["wechatpay"]')
        assert Settings().payment_providers == ["wechatpay"]

    def test_unknown_provider_is_refused_at_start(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("LIVECOMMERCE_PAYMENT_PROVIDERS", "sandbox,paypal")
        with pytest.raises(ValidationError):
            Settings()

    def test_default_is_the_sandbox_only(self) -> None:
        assert Settings().payment_providers == ["sandbox"]


class TestProvidersFrom:
    def test_missing_setting_is_named_without_values(self) -> None:
        settings = Settings(payment_providers=["wechatpay"], wechatpay_mchid="1900000109", wechatpay_apiv3_key="k" * 32)
        with pytest.raises(ProviderNotConfigured) as caught:
            providers_from(settings)
        assert "LIVECOMMERCE_WECHATPAY_PRIVATE_KEY_FILE" in str(caught.value)
        assert "k" * 32 not in str(caught.value)

    def test_turned_off_provider_is_403_and_unknown_is_404(self) -> None:
        providers = providers_from(Settings(payment_providers=["sandbox"]))
        assert providers.names == ["sandbox"]
        with pytest.raises(Forbidden):
            providers.get("alipay")
        with pytest.raises(NotFound):
            providers.get("paypal")

    def test_sandbox_switch_turns_the_sandbox_off(self) -> None:
        assert providers_from(Settings(sandbox_payments_enabled=False)).names == []
