"""Paying orders through the enabled providers: a provider's notification, and asking a provider about a late one.

A provider's notification is verified before anything in it is believed; a verified one is
applied by the `Cashier` (with the notices that arrive with it, in one transaction of its
own), and a refused one (wrong amount or currency, an order no longer payable) leaves
nothing behind. A late payment found by asking the provider is applied in the caller's
transaction, in a savepoint. Every refusal is logged with
the provider, the reason and the order it named, never with a header, a signature or a key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.broadcasts.events import PENDING_EVENTS_KEY
from livecommerce.kit.errors import LiveCommerceError
from livecommerce.kit.metrics import PAYMENT_NOTIFICATIONS
from livecommerce.kit.principal import Principal
from livecommerce.orders import service
from livecommerce.orders.cashier import Cashier, Settlement, settle_payment
from livecommerce.orders.models import Order, OrderStatus
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


async def confirm_payment(session: AsyncSession, principal: Principal, order_id: int, provider: PaymentProvider, *, now: datetime) -> Order:
    """Ask the provider whether an unpaid order was paid (its notification is late) and apply the payment if it was."""
    order, _ = await service.get_order(session, principal, order_id)
    if order.status != OrderStatus.pending_payment:
        return order
    notice = await provider.query(order_id)
    if notice is None:
        return order
    settlement = await _settle_in_savepoint(session, notice, now=now)
    log.info("payment_confirmed_by_query", **_about(notice), replayed=settlement.replayed)
    paid, _ = await service.get_order(session, principal, settlement.order_id)
    return paid


async def _settle_in_savepoint(session: AsyncSession, notice: PaymentNotice, *, now: datetime) -> Settlement:
    """`settle_payment` in a savepoint; on a refusal its writes and the events it appended are forgotten."""
    pending: list[Any] = session.info.setdefault(PENDING_EVENTS_KEY, [])
    mark = len(pending)
    try:
        async with session.begin_nested():
            return await settle_payment(session, notice, now=now)
    except BaseException:
        del pending[mark:]
        raise


def _about(notice: PaymentNotice) -> dict[str, Any]:
    return {
        "provider": notice.provider,
        "order_id": notice.order_id,
        "provider_txn_id": notice.provider_txn_id,
        "amount_fen": notice.amount_fen,
    }
