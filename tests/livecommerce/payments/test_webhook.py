"""The generic HMAC webhook's signature check: bytes compared in constant time, never an exception."""

from __future__ import annotations

import json

import httpx
import pytest

from livecommerce.kit.settings import Settings
from livecommerce.payments.webhook import parse_signed_webhook, sign, verify_signature
from tests.livecommerce.orders.helpers import Shop


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Only the sandbox enabled, as in a default deployment."""
    return settings.model_copy(update={"payment_providers": ["sandbox"]})


class TestVerifySignature:
    def test_non_ascii_signature_is_false_not_an_error(self) -> None:
        body = b'{"order_id": 1}'
        assert not verify_signature("s3cret", body, "é" * 64)
        assert not verify_signature("s3cret", body, "\udcff" + sign("s3cret", body)[1:])

    def test_good_signature_in_any_case_is_true(self) -> None:
        body = b'{"order_id": 1}'
        assert verify_signature("s3cret", body, sign("s3cret", body).upper())

    def test_currency_is_read_and_defaults_to_yuan(self) -> None:
        body = json.dumps(
            {"provider": "p", "provider_txn_id": "t", "order_id": 1, "amount_fen": 5, "status": "paid", "currency": "usd"}
        ).encode()
        assert parse_signed_webhook("s", body, sign("s", body)).currency == "USD"
        plain = json.dumps({"provider": "p", "provider_txn_id": "t", "order_id": 1, "amount_fen": 5, "status": "paid"}).encode()
        assert parse_signed_webhook("s", plain, sign("s", plain)).currency == "CNY"


class TestWebhookEndpoint:
    async def test_non_ascii_byte_in_x_signature_is_401_not_500(self, client: httpx.AsyncClient, shop: Shop) -> None:
        body = json.dumps({"provider": "p", "provider_txn_id": "t", "order_id": 1, "amount_fen": 5, "status": "paid"}).encode()
        headers = [(b"Content-Type", b"application/json"), (b"X-Signature", b"\xff" + b"0" * 63)]
        r = await client.post("/api/payments/webhook", content=body, headers=headers)
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")

    async def test_unknown_provider_notify_is_404(self, client: httpx.AsyncClient) -> None:
        r = await client.post("/api/payments/paypal/notify", content=b"{}")
        assert r.status_code == 404

    async def test_disabled_provider_notify_is_403(self, client: httpx.AsyncClient) -> None:
        r = await client.post("/api/payments/wechatpay/notify", content=b"{}")
        assert r.status_code == 403
