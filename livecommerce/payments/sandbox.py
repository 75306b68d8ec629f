"""The built-in demo provider: every charge succeeds at once with a fresh transaction id."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import date, datetime

from livecommerce.payments.base import BillEntry, Charge, PaymentNotice, PaymentStarted, ProviderReply, Refund, RefundAccepted, Verified
from livecommerce.payments.webhook import SIGNATURE_HEADER, parse_signed_webhook


class SandboxProvider:
    """Pretends the buyer paid; its notifications are the contract's HMAC-signed JSON."""

    name = "sandbox"
    settles_at_once = True

    def __init__(self, webhook_secret: str) -> None:
        self._secret = webhook_secret

    async def start(self, charge: Charge) -> PaymentStarted:
        """Settle at once."""
        notice = PaymentNotice(
            provider=self.name, provider_txn_id=f"sb_{uuid.uuid4().hex}", order_id=charge.order_id, amount_fen=charge.amount_fen
        )
        return PaymentStarted(provider=self.name, notice=notice)

    async def charge(self, order_id: int, amount_fen: int) -> PaymentNotice:
        """Pretend the buyer paid `amount_fen` for the order."""
        started = await self.start(Charge(order_id=order_id, amount_fen=amount_fen, description="sandbox"))
        assert started.notice is not None
        return started.notice

    async def verify_notification(self, headers: Mapping[str, str], body: bytes, *, now: datetime) -> Verified:
        """Sandbox notifications are HMAC-signed JSON."""
        return Verified(notice=parse_signed_webhook(self._secret, body, headers.get(SIGNATURE_HEADER)), event="paid")

    async def query(self, order_id: int) -> PaymentNotice | None:
        """The sandbox keeps no trades of its own: a charge is settled the moment it starts."""
        return None

    async def refund(self, refund: Refund) -> RefundAccepted:
        """Sandbox money goes back at once."""
        return RefundAccepted(provider_refund_id=f"sbr_{uuid.uuid4().hex}", status="SUCCESS")

    def reply(self, accepted: bool, message: str) -> ProviderReply:
        """A small JSON answer."""
        body = json.dumps({"accepted": accepted, "message": message}).encode()
        return ProviderReply(status_code=200 if accepted else 400, body=body, media_type="application/json")

    async def bill(self, day: date) -> list[BillEntry]:
        """The sandbox keeps no books: nothing to reconcile."""
        return []
