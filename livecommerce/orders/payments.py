"""Payment providers behind one interface, and verification of their signed webhooks.

A provider either settles a charge at once (the sandbox) or later through a signed callback
(a real provider such as WeChat Pay or Alipay). Both paths end in the same `PaymentNotice`,
which `service.settle_payment` applies exactly once per provider transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from typing import Protocol

from pydantic import ValidationError

from livecommerce.kit.errors import InvalidInput, Unauthorized
from livecommerce.orders.schemas import PaymentWebhook

SIGNATURE_HEADER = "X-Signature"


@dataclass(frozen=True)
class PaymentNotice:
    """A provider's statement that `amount_fen` for `order_id` was paid in transaction `provider_txn_id`."""

    provider: str
    provider_txn_id: str
    order_id: int
    amount_fen: int


class PaymentProvider(Protocol):
    """A way for buyers to pay: charges an order and/or turns a provider's callback into a notice."""

    name: str

    async def charge(self, order_id: int, amount_fen: int) -> PaymentNotice:
        """Collect `amount_fen` for an order; returns the notice once the money is confirmed."""
        ...

    def parse_webhook(self, body: bytes, signature: str | None) -> PaymentNotice:
        """Verify a callback's signature and read it; Unauthorized when the signature is wrong."""
        ...


def sign(secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of a raw body (what a provider puts in `X-Signature`)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, signature: str | None) -> bool:
    """True when `signature` is the body's HMAC-SHA256 under `secret` (compared in constant time)."""
    if not signature:
        return False
    return hmac.compare_digest(sign(secret, body), signature.strip().lower())


def parse_signed_webhook(secret: str, body: bytes, signature: str | None) -> PaymentNotice:
    """Verify and read a webhook of the contract's shape; nothing is trusted before the signature checks."""
    if not verify_signature(secret, body, signature):
        raise Unauthorized("The payment notice is not signed with the webhook secret.", headers={})
    try:
        payload = PaymentWebhook.model_validate_json(body)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]} for e in exc.errors()]
        raise InvalidInput("The payment notice is malformed.", extra={"errors": errors}) from exc
    return PaymentNotice(
        provider=payload.provider, provider_txn_id=payload.provider_txn_id, order_id=payload.order_id, amount_fen=payload.amount_fen
    )


class SandboxProvider:
    """The built-in demo provider: every charge succeeds at once with a fresh transaction id."""

    name = "sandbox"

    def __init__(self, webhook_secret: str) -> None:
        self._secret = webhook_secret

    async def charge(self, order_id: int, amount_fen: int) -> PaymentNotice:
        """Pretend the buyer paid."""
        return PaymentNotice(provider=self.name, provider_txn_id=f"sb_{uuid.uuid4().hex}", order_id=order_id, amount_fen=amount_fen)

    def parse_webhook(self, body: bytes, signature: str | None) -> PaymentNotice:
        """Sandbox callbacks use the contract's HMAC-signed JSON."""
        return parse_signed_webhook(self._secret, body, signature)
