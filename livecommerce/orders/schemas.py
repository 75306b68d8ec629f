"""Request and response shapes for orders and payments."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from livecommerce.kit.types import MAX_ID

# The channels of a sale, for callers outside the domain (its tables stay in `models`).
from livecommerce.orders.models import Channel as Channel

MAX_ITEMS_PER_ORDER = 20
MAX_QUANTITY_PER_LINE = 10_000
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,128}$"


class OrderItemIn(BaseModel):
    """One product and how many units of it (from a flash deal, at its price, with `flash_deal_id`)."""

    # Strict: JSON `true` or `"1"` is not a quantity (lax mode would read both as 1).
    model_config = ConfigDict(extra="forbid", strict=True)

    product_id: int = Field(gt=0, le=MAX_ID)
    quantity: int = Field(gt=0, le=MAX_QUANTITY_PER_LINE)
    flash_deal_id: int | None = Field(default=None, gt=0, le=MAX_ID, description="Buy from this flash deal, at its price.")


class ItemList(BaseModel):
    """A body of products and quantities, one line per product (subclasses set the `items` bounds)."""

    model_config = ConfigDict(extra="forbid", strict=True)  # `"address_id": true` is not address 1

    @field_validator("items", check_fields=False)
    @classmethod
    def _one_line_per_product(cls, items: list[OrderItemIn]) -> list[OrderItemIn]:
        ids = [item.product_id for item in items]
        if len(set(ids)) != len(ids):
            raise ValueError("each product may appear only once; put the total quantity on one line")
        return items


class OrderCreate(ItemList):
    """An order in a live stream: a few featured products, sent to one of the buyer's addresses."""

    items: list[OrderItemIn] = Field(min_length=1, max_length=MAX_ITEMS_PER_ORDER)
    address_id: int | None = Field(default=None, gt=0, le=MAX_ID, description="One of the buyer's addresses; the default one without it.")


MAX_BULK_ITEMS = 100


class SubscriptionCreate(ItemList):
    """A bulk purchase by a participating unit at a matchmaking conference."""

    model_config = ConfigDict(extra="forbid", strict=True)

    items: list[OrderItemIn] = Field(min_length=1, max_length=MAX_BULK_ITEMS)
    unit_id: int | None = Field(default=None, gt=0, le=MAX_ID, description="The purchasing unit; its name and type then come from it.")
    unit_name: str | None = Field(default=None, min_length=1, max_length=128)
    unit_type: Literal["party", "government", "enterprise", "school", "union"] | None = None

    @model_validator(mode="after")
    def _names_a_unit(self) -> SubscriptionCreate:
        if self.unit_id is None and (self.unit_name is None or self.unit_type is None):
            raise ValueError("name the unit: `unit_id`, or `unit_name` and `unit_type`")
        return self


class StationSaleCreate(ItemList):
    """A sale over the counter of a village station or signed store."""

    model_config = ConfigDict(extra="forbid", strict=True)

    items: list[OrderItemIn] = Field(min_length=1, max_length=MAX_BULK_ITEMS)


class OrderLinePublic(BaseModel):
    """One line of an order, at the price it was bought for."""

    product_id: int
    quantity: int
    unit_price_fen: int
    amount_fen: int
    flash_deal_id: int | None = None


class AddressCreate(BaseModel):
    """A new delivery address of the signed-in buyer."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    recipient: str = Field(min_length=1, max_length=64)
    phone: str = Field(pattern=r"^\+?[0-9][0-9 -]{5,30}$", max_length=32)
    province: str = Field(min_length=1, max_length=32)
    city: str = Field(min_length=1, max_length=32)
    district: str = Field(min_length=1, max_length=32)
    detail: str = Field(min_length=1, max_length=200)
    is_default: bool = False


class AddressPublic(BaseModel):
    """A delivery address; `phone` and `detail` are masked for anyone but its buyer, admins and the order's organizers."""

    id: int
    recipient: str
    phone: str
    province: str
    city: str
    district: str
    detail: str
    is_default: bool


class ShipmentCreate(BaseModel):
    """A parcel handed to a carrier."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    carrier: str = Field(min_length=1, max_length=32)
    tracking_no: str = Field(min_length=1, max_length=40)


class ShipmentPublic(BaseModel):
    """One parcel of an order."""

    id: int
    carrier: str
    tracking_no: str
    created_at: datetime


class OrderPublic(BaseModel):
    """An order as its buyer and staff see it."""

    id: int
    status: str
    total_fen: int
    expires_at: datetime | None
    stream_id: int | None
    channel: str
    items: list[OrderLinePublic]
    created_at: datetime
    paid_at: datetime | None
    cancelled_at: datetime | None
    refunded_at: datetime | None
    address_id: int | None = None
    fulfillment: str = "unshipped"
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    shipments: list[ShipmentPublic] = Field(default_factory=list)


class PickListItem(BaseModel):
    """A paid order to pack: what goes in the box and where it goes."""

    order_id: int
    fulfillment: str
    paid_at: datetime | None
    county_ids: list[int]
    station_id: int | None
    items: list[OrderLinePublic]
    address: AddressPublic | None
    shipments: list[ShipmentPublic]


class RefundRequestCreate(BaseModel):
    """A buyer asks for their money back."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=500)


class RefundRejection(BaseModel):
    """Why an organizer turned a refund request down."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: str = Field(min_length=1, max_length=500)


class RefundRequestPublic(BaseModel):
    """A refund request and its outcome."""

    id: int
    order_id: int
    status: str
    reason: str
    note: str | None
    created_at: datetime
    decided_at: datetime | None


class BulkOrderPublic(BaseModel):
    """A subscription or station sale: an order paid when made."""

    id: int
    status: str
    channel: str
    total_fen: int
    unit_name: str | None
    unit_type: str | None
    station_id: int | None
    items: list[OrderLinePublic]
    created_at: datetime
    paid_at: datetime | None
    refunded_at: datetime | None


MIN_COUNTDOWN_S, MAX_COUNTDOWN_S = 10, 300
MIN_DEAL_S, MAX_DEAL_S = 60, 1200


class FlashDealCreate(BaseModel):
    """A flash deal announced in a live stream: some units of a featured product at a lower price, for a while."""

    model_config = ConfigDict(extra="forbid", strict=True)

    product_id: int = Field(gt=0, le=MAX_ID)
    price_fen: int = Field(gt=0, le=10**9, description="Below the product's price.")
    quantity: int = Field(gt=0, le=MAX_QUANTITY_PER_LINE, description="Units taken from the product's free stock now.")
    per_buyer_limit: int = Field(gt=0, le=MAX_QUANTITY_PER_LINE, description="Units one buyer may hold, unpaid and paid together.")
    countdown_seconds: int = Field(ge=MIN_COUNTDOWN_S, le=MAX_COUNTDOWN_S, description="Seconds until the deal opens.")
    duration_seconds: int = Field(ge=MIN_DEAL_S, le=MAX_DEAL_S, description="How long it stays open.")


class FlashDealPublic(BaseModel):
    """A flash deal: its window, price and units left."""

    id: int
    stream_id: int
    product_id: int
    price_fen: int
    quantity: int
    remaining: int
    per_buyer_limit: int
    starts_at: datetime
    ends_at: datetime
    status: Literal["countdown", "open", "ended"]


class FlashDealList(BaseModel):
    """A stream's flash deals, with the server's clock so a page can count down in step with it."""

    items: list[FlashDealPublic]
    next_cursor: str | None = None
    server_time: datetime


class PayRequest(BaseModel):
    """How the buyer pays: the provider (the sandbox when left out) and what the client's channel needs."""

    model_config = ConfigDict(extra="forbid")

    provider: str = Field(default="sandbox", pattern=r"^[a-z]{1,32}$", description="sandbox, wechatpay or alipay, where enabled.")
    channel: Literal["jsapi", "h5", "wap", "page"] | None = Field(
        default=None, description="wechatpay: jsapi (mini-program, needs openid) or h5; alipay: wap (phone) or page (desktop)."
    )
    openid: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_\-]+$", description="The WeChat payer.")


class PayParams(BaseModel):
    """What the buyer's client needs to pay through a real provider; the order is paid when the provider notifies."""

    provider: str
    pay_params: dict[str, Any]


class ProviderChoice(BaseModel):
    """The provider to ask about an order's payment."""

    model_config = ConfigDict(extra="forbid")

    provider: str = Field(pattern=r"^[a-z]{1,32}$")


class PaymentReceipt(BaseModel):
    """What a payment notice did: `replayed` is true when it had been applied before."""

    order_id: int
    status: str
    replayed: bool


class ReconciliationDifference(BaseModel):
    """One line where the provider's books and ours disagree."""

    kind: Literal["paid_there_not_here", "here_not_there", "amount_mismatch"]
    entry: Literal["payment", "refund"]
    order_id: int
    provider_txn_id: str
    provider_amount_fen: int | None
    our_amount_fen: int | None


class ReconciliationPublic(BaseModel):
    """A provider's bill of one day compared with the payments here."""

    provider: str
    date: date
    bill_lines: int
    differences: list[ReconciliationDifference]
