"""The one payment interface every provider implements, and the facts it trades in.

A provider either settles a charge at once (the sandbox) or later through a signed
notification (WeChat Pay, Alipay). Both paths end in the same `PaymentNotice`, which the
orders domain applies exactly once per provider transaction. Nothing here knows orders'
tables: a provider sees only the `Charge` it is asked to collect.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, Protocol

from livecommerce.kit.errors import Conflict, LiveCommerceError, Unauthorized
from livecommerce.kit.i18n import LazyMessage, _l

CURRENCY = "CNY"
_YUAN = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,2})?", re.ASCII)
PaymentChannel = Literal["jsapi", "h5", "wap", "page"]


@dataclass(frozen=True)
class PaymentNotice:
    """A provider's statement that `amount_fen` in `currency` for `order_id` was paid in transaction `provider_txn_id`."""

    provider: str
    provider_txn_id: str
    order_id: int
    amount_fen: int
    currency: str = CURRENCY


@dataclass(frozen=True)
class Payer:
    """How the buyer's client will pay: the channel, and what that channel needs to know of the payer."""

    channel: PaymentChannel | None = None
    openid: str | None = None  # the payer in a WeChat JSAPI / mini-program payment
    client_ip: str | None = None  # the payer's address in a WeChat H5 payment


@dataclass(frozen=True)
class Charge:
    """What a buyer is asked to pay, and how the buyer's client will pay it."""

    order_id: int
    amount_fen: int
    description: str
    expires_at: datetime | None = None
    channel: PaymentChannel | None = None
    openid: str | None = None  # the payer in a WeChat JSAPI / mini-program payment
    client_ip: str | None = None  # the payer's address in a WeChat H5 payment


@dataclass(frozen=True)
class PaymentStarted:
    """A charge begun: `pay_params` for the client, or `notice` when the provider settled at once."""

    provider: str
    pay_params: dict[str, Any] = field(default_factory=dict)
    notice: PaymentNotice | None = None


@dataclass(frozen=True)
class Refund:
    """Money to return for a settled payment, all of it; the refund number is the order's, so a retry is the same refund."""

    order_id: int
    provider_txn_id: str
    amount_fen: int
    total_fen: int
    reason: str = "refund"


@dataclass(frozen=True)
class RefundAccepted:
    """The provider took the refund; `status` in the provider's own words."""

    provider_refund_id: str
    status: str


BillKind = Literal["payment", "refund"]


@dataclass(frozen=True)
class BillEntry:
    """One line of a provider's daily bill: money that moved for an order, in the provider's books."""

    order_id: int
    provider_txn_id: str
    amount_fen: int
    kind: BillKind


@dataclass(frozen=True)
class ProviderReply:
    """The answer a provider expects to its notification, in its own format."""

    status_code: int
    body: bytes
    media_type: str


@dataclass(frozen=True)
class Verified:
    """A notification whose signature checked: `notice` when it reports a payment, None for other news."""

    notice: PaymentNotice | None
    event: str


class NotificationRejected(Unauthorized):
    """A notification that is unsigned, badly signed, stale or not addressed to this merchant; nothing is trusted."""

    slug = "payment-notice-rejected"
    title: LazyMessage | str = _l("Payment notice rejected")

    def __init__(self, detail: LazyMessage | str) -> None:
        super().__init__(detail, headers={})


class ProviderError(LiveCommerceError):
    """A provider answered with an error or could not be reached."""

    status, slug = 502, "payment-provider-error"
    title: LazyMessage | str = _l("Payment provider error")


class RefundRefused(Conflict):
    """The provider refused to return the money; nothing was reversed."""

    slug = "refund-refused"
    title: LazyMessage | str = _l("Refund refused by the payment provider")


class PaymentProvider(Protocol):
    """A way for buyers to pay."""

    name: str
    settles_at_once: bool  # True when `start` returns the notice itself (the sandbox)

    async def start(self, charge: Charge) -> PaymentStarted:
        """Begin collecting a charge: the client's pay parameters, or a notice if settled at once."""
        ...

    async def verify_notification(self, headers: Mapping[str, str], body: bytes, *, now: datetime) -> Verified:
        """Check a notification exactly as the provider specifies and read it; NotificationRejected otherwise."""
        ...

    async def query(self, order_id: int) -> PaymentNotice | None:
        """Ask the provider whether an order was paid (for a late notification); the notice if it was."""
        ...

    async def refund(self, refund: Refund) -> RefundAccepted:
        """Return a settled payment's money through the provider; RefundRefused if it will not."""
        ...

    def reply(self, accepted: bool, message: str) -> ProviderReply:
        """The answer to a notification: accepted, or refused so the provider keeps it for a retry."""
        ...

    async def bill(self, day: date) -> list[BillEntry]:
        """The provider's bill of one day (its own time zone): every payment and refund of this merchant's trades."""
        ...


def fen_of(amount: object) -> int | None:
    """An amount in yuan as both providers write it (`"19.90"`) in fen; None unless it is plain digits with at most two decimals."""
    if not isinstance(amount, str) or _YUAN.fullmatch(amount) is None:
        return None
    whole, _, cents = amount.partition(".")
    return int(whole) * 100 + int(cents.ljust(2, "0"))


def trade_no(prefix: str, order_id: int) -> str:
    """The merchant's trade number for an order (both providers' `out_trade_no`): the deployment's prefix and the id."""
    return f"{prefix}{order_id}"


def order_id_of(prefix: str, out_trade_no: object) -> int:
    """The order a trade number names; NotificationRejected when it is not one of this deployment's."""
    if not isinstance(out_trade_no, str) or not out_trade_no.startswith(prefix):
        raise NotificationRejected(_l("The trade number is not one of this merchant's."))
    digits = out_trade_no[len(prefix) :]
    if not digits.isascii() or not digits.isdigit() or len(digits) > 18:
        raise NotificationRejected(_l("The trade number is not one of this merchant's."))
    return int(digits)


def bill_order_id(prefix: str, out_trade_no: str) -> int | None:
    """The order a bill line's trade number names, or None for a trade of another system on the same account."""
    try:
        return order_id_of(prefix, out_trade_no)
    except NotificationRejected:
        return None


def refund_no(prefix: str, order_id: int) -> str:
    """The merchant's refund number for an order: one full refund per order, so a retry is the same refund."""
    return f"{prefix}R{order_id}"
