"""Paying orders through the enabled providers: a provider's notification, and asking a provider about a late one.

A provider's notification is verified before anything in it is believed; a verified one is
applied by the `Cashier` (with the notices that arrive with it, in one transaction of its
own), and a refused one (wrong amount or currency, an order no longer payable) leaves
nothing behind. A late payment found by asking the provider goes through the cashier too.
Every refusal is logged with the provider, the reason and the order it named, never with a
header, a signature or a key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.kit.errors import LiveCommerceError
from livecommerce.kit.metrics import PAYMENT_NOTIFICATIONS
from livecommerce.kit.principal import Principal
from livecommerce.orders import service
from livecommerce.orders.cashier import Cashier, Settlement
from livecommerce.orders.models import OrderStatus
from livecommerce.payments.base import NotificationRejected, PaymentNotice, PaymentProvider, ProviderReply

log = structlog.get_logger(__name__)


async def receive_notification(
    cashier: Cashier, provider: PaymentProvider, headers: Mapping[str, str], body: bytes, *, now: datetime
) -> ProviderReply:
    """Verify a provider's notification and apply the payment it reports; the answer in the provider's format."""
    try:
        verified = await provider.verify_notification(headers, body, now=now)
    except NotificationRejected as exc:
        log.warning("payment_notice_rejected", provider=provider.name, reason=exc.detail, body_bytes=len(body))
        PAYMENT_NOTIFICATIONS.labels(provider.name, "rejected").inc()
        return dataclasses.replace(provider.reply(False, "signature verification failed"), status_code=401)
    except LiveCommerceError as exc:
        log.warning("payment_notice_rejected", provider=provider.name, reason=exc.detail, body_bytes=len(body))
        PAYMENT_NOTIFICATIONS.labels(provider.name, "rejected").inc()
        return dataclasses.replace(provider.reply(False, "malformed notification"), status_code=exc.status)
    if verified.notice is None:
        log.info("payment_notice_ignored", provider=provider.name, kind=verified.event)
        PAYMENT_NOTIFICATIONS.labels(provider.name, "ignored").inc()
        return provider.reply(True, "ok")
    try:
        settlement = await cashier.settle(verified.notice, now=now)
    except LiveCommerceError as exc:
        # Genuine, but it does not fit the order: the provider keeps it for a retry, and
        # the log names the order so an operator can return the money.
        log.error("payment_notice_refused", **_about(verified.notice), reason=exc.detail)
        PAYMENT_NOTIFICATIONS.labels(provider.name, "refused").inc()
        return provider.reply(False, "the payment does not match the order")
    log.info("payment_notice_applied", **_about(verified.notice), replayed=settlement.replayed)
    PAYMENT_NOTIFICATIONS.labels(provider.name, "replayed" if settlement.replayed else "applied").inc()
    return provider.reply(True, "ok")


async def late_notice(session: AsyncSession, principal: Principal, order_id: int, provider: PaymentProvider) -> PaymentNotice | None:
    """Ask the provider whether the caller's unpaid order was paid (its notification is late): the notice to apply, if so."""
    order, _ = await service.get_order(session, principal, order_id)
    if order.status != OrderStatus.pending_payment:
        return None
    return await provider.query(order_id)


async def confirm_payment(cashier: Cashier, notice: PaymentNotice, *, now: datetime) -> Settlement:
    """Apply a payment found by asking the provider, through the cashier as a notification is."""
    settlement = await cashier.settle(notice, now=now, paid_is_done=True)
    log.info("payment_confirmed_by_query", **_about(notice), replayed=settlement.replayed)
    return settlement


def _about(notice: PaymentNotice) -> dict[str, Any]:
    return {
        "provider": notice.provider,
        "order_id": notice.order_id,
        "provider_txn_id": notice.provider_txn_id,
        "amount_fen": notice.amount_fen,
    }
