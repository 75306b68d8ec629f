"""The generic signed webhook: a JSON notice with the HMAC-SHA256 of its raw body in `X-Signature`."""

from __future__ import annotations

import hashlib
import hmac

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from livecommerce.kit.errors import InvalidInput, Unauthorized
from livecommerce.kit.i18n import _l
from livecommerce.kit.types import MAX_ID
from livecommerce.payments.base import PaymentNotice

SIGNATURE_HEADER = "X-Signature"


class PaymentWebhook(BaseModel):
    """A payment provider's notice that an order's money arrived."""

    model_config = ConfigDict(extra="ignore")

    provider: str = Field(min_length=1, max_length=32)
    provider_txn_id: str = Field(min_length=1, max_length=128)
    order_id: int = Field(gt=0, le=MAX_ID)
    amount_fen: int = Field(ge=0, le=10**12)
    currency: str = Field(default="CNY", min_length=3, max_length=3)
    status: str = Field(pattern=r"^paid$")


def sign(secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of a raw body (what a provider puts in `X-Signature`)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, signature: str | None) -> bool:
    """True when `signature` is the body's HMAC-SHA256 under `secret`; never raises, whatever the header holds.

    The comparison is of bytes: `hmac.compare_digest` raises TypeError on a str with a
    non-ASCII character, and a header decoded as latin-1 can hold any of them.
    """
    if not signature:
        return False
    given = signature.strip().lower().encode("utf-8", "surrogateescape")
    return hmac.compare_digest(sign(secret, body).encode(), given)


def parse_signed_webhook(secret: str, body: bytes, signature: str | None) -> PaymentNotice:
    """Verify and read a webhook of the contract's shape; nothing is trusted before the signature checks."""
    if not verify_signature(secret, body, signature):
        raise Unauthorized(_l("The payment notice is not signed with the webhook secret."), headers={})
    try:
        payload = PaymentWebhook.model_validate_json(body)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]} for e in exc.errors()]
        raise InvalidInput(_l("The payment notice is malformed."), extra={"errors": errors}) from exc
    return PaymentNotice(
        provider=payload.provider,
        provider_txn_id=payload.provider_txn_id,
        order_id=payload.order_id,
        amount_fen=payload.amount_fen,
        currency=payload.currency.upper(),
    )
