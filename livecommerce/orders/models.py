"""Orders, their lines and the payments that settle them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from livecommerce.kit.clock import utcnow
from livecommerce.kit.types import UTCDateTime


class OrderStatus(StrEnum):
    """Where an order is in its life."""

    pending_payment = "pending_payment"
    paid = "paid"
    cancelled = "cancelled"
    expired = "expired"
    refunded = "refunded"


class Fulfillment(StrEnum):
    """Where a paid order's parcels are."""

    unshipped = "unshipped"
    shipped = "shipped"
    delivered = "delivered"


class RefundRequestStatus(StrEnum):
    """A buyer's refund request and its decision."""

    requested = "requested"
    approved = "approved"
    rejected = "rejected"


class Channel(StrEnum):
    """How a sale reached its buyer (the grouping of the consumption statistics)."""

    live = "live"
    unit_subscription = "unit_subscription"
    physical = "physical"


class Order(SQLModel, table=True):
    """A purchase: in a stream, by a unit's subscription, or through a physical station."""

    __tablename__ = "orders"
    __table_args__ = (
        # A retried request with the same key from the same buyer finds this row instead of
        # creating a second one; the constraint, not a check in code, is what guarantees it.
        UniqueConstraint("buyer_id", "idempotency_key", name="uq_orders_buyer_idempotency_key"),
        CheckConstraint("total_fen >= 0", name="total_nonneg"),
        Index("ix_orders_status_expires_at", "status", "expires_at"),
        Index("ix_orders_stream_id_id", "stream_id", "id"),
        Index("ix_orders_fulfillment_shipped_at", "fulfillment", "shipped_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    buyer_id: int = Field(foreign_key="users.id", index=True)
    stream_id: int | None = Field(default=None, foreign_key="streams.id")
    channel: str = Field(default=Channel.live, max_length=32, index=True)
    status: str = Field(default=OrderStatus.pending_payment, max_length=32)
    idempotency_key: str = Field(max_length=128)
    request_hash: str = Field(max_length=64)
    # 64-bit: a unit subscription can run to tens of millions of yuan.
    total_fen: int = Field(sa_type=BigInteger)
    # Subscriptions and station sales carry who bought or where it was sold.
    unit_name: str | None = Field(default=None, max_length=128)
    unit_type: str | None = Field(default=None, max_length=32)
    # The purchasing unit, when a subscription names one (its quota counts the order).
    unit_id: int | None = Field(default=None, foreign_key="purchasing_units.id", index=True)
    station_id: int | None = Field(default=None, foreign_key="stations.id")
    # Where the parcels go (the buyer's choice at ordering, or their default address then).
    address_id: int | None = Field(default=None, foreign_key="addresses.id")
    fulfillment: str = Field(default=Fulfillment.unshipped, max_length=16)
    shipped_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    refunded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OrderLine(SQLModel, table=True):
    """One product in an order, with the price it was bought at."""

    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_pos"),
        CheckConstraint("amount_fen = CAST(quantity AS BIGINT) * unit_price_fen", name="amount"),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True, ondelete="CASCADE")
    product_id: int = Field(foreign_key="products.id", index=True)
    quantity: int
    unit_price_fen: int
    amount_fen: int = Field(sa_type=BigInteger)
    # Set when the units came from a flash deal (at the deal's price, counted against its per-buyer limit).
    flash_deal_id: int | None = Field(default=None, foreign_key="flash_deals.id", index=True)


class Payment(SQLModel, table=True):
    """A provider's confirmation that an order's money arrived; one per provider transaction."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("provider", "provider_txn_id", name="uq_payments_provider_txn"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    provider: str = Field(max_length=32)
    provider_txn_id: str = Field(max_length=128)
    amount_fen: int = Field(sa_type=BigInteger)
    kind: str = Field(default="payment", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Address(SQLModel, table=True):
    """A buyer's delivery address; phone and detail line are personal data."""

    __tablename__ = "addresses"

    id: int | None = Field(default=None, primary_key=True)
    buyer_id: int = Field(foreign_key="users.id", index=True)
    recipient: str = Field(max_length=64)
    phone: str = Field(max_length=32)
    province: str = Field(max_length=32)
    city: str = Field(max_length=32)
    district: str = Field(max_length=32)
    detail: str = Field(max_length=200)
    is_default: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Shipment(SQLModel, table=True):
    """One parcel of an order, with its carrier's tracking number."""

    __tablename__ = "shipments"
    __table_args__ = (UniqueConstraint("carrier", "tracking_no", name="uq_shipments_carrier_tracking_no"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    carrier: str = Field(max_length=32)
    tracking_no: str = Field(max_length=40)
    created_by: int = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RefundRequest(SQLModel, table=True):
    """A buyer's request for a refund of a paid order, and the organizer's decision."""

    __tablename__ = "refund_requests"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    buyer_id: int = Field(foreign_key="users.id", index=True)
    reason: str = Field(max_length=500)
    status: str = Field(default=RefundRequestStatus.requested, max_length=16, index=True)
    note: str | None = Field(default=None, max_length=500)
    decided_by: int | None = Field(default=None, foreign_key="users.id")
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StreamBuyer(SQLModel, table=True):
    """A buyer who placed an order in a stream, once, and whether any of their orders there was paid.

    Kept in the transactions that place and pay orders, so the post-stream review counts
    buyers from one row each instead of every order (`paid` never goes back: a refunded
    order was still paid).
    """

    __tablename__ = "stream_buyers"

    stream_id: int = Field(primary_key=True)
    buyer_id: int = Field(primary_key=True)
    paid: bool = Field(default=False)
