"""Request and response shapes for orders and payments."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from livecommerce.kit.types import MAX_ID

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

    model_config = ConfigDict(extra="forbid")

    @field_validator("items", check_fields=False)
    @classmethod
    def _one_line_per_product(cls, items: list[OrderItemIn]) -> list[OrderItemIn]:
        ids = [item.product_id for item in items]
        if len(set(ids)) != len(ids):
            raise ValueError("each product may appear only once; put the total quantity on one line")
        return items


class OrderCreate(ItemList):
    """An order in a live stream: a few featured products."""

    items: list[OrderItemIn] = Field(min_length=1, max_length=MAX_ITEMS_PER_ORDER)


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


class PaymentWebhook(BaseModel):
    """A payment provider's notice that an order's money arrived."""

    model_config = ConfigDict(extra="ignore")

    provider: str = Field(min_length=1, max_length=32)
    provider_txn_id: str = Field(min_length=1, max_length=128)
    order_id: int = Field(gt=0, le=MAX_ID)
    amount_fen: int = Field(ge=0, le=10**12)
    status: Literal["paid"]


class PaymentReceipt(BaseModel):
    """What a payment notice did: `replayed` is true when it had been applied before."""

    order_id: int
    status: str
    replayed: bool
