"""Counties, village stations, households, anchors, and the products they sell."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from livecommerce.kit.clock import utcnow
from livecommerce.kit.types import UTCDateTime


class County(SQLModel, table=True):
    """A county or county-level city whose households the platform serves."""

    __tablename__ = "counties"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)
    code: str = Field(max_length=32, unique=True, index=True)
    city: str = Field(max_length=64)
    province: str = Field(max_length=64)


class Station(SQLModel, table=True):
    """A village-level e-commerce service station."""

    __tablename__ = "stations"

    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="counties.id", index=True)
    name: str = Field(max_length=128)
    village: str = Field(max_length=64)


class Household(SQLModel, table=True):
    """A registered poor household that grows what is sold; its name and number are personal data."""

    __tablename__ = "households"

    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="counties.id", index=True)
    name: str = Field(max_length=64)
    village: str = Field(max_length=64)
    registration_no: str = Field(max_length=64)
    # Under anti-relapse monitoring (防返贫监测户): offices follow how much reaches these households.
    monitored: bool = Field(default=False)
    # How the household benefits (联农带农, a `LinkageType`); None: not recorded.
    linkage_type: str | None = Field(default=None, max_length=16)


class Anchor(SQLModel, table=True):
    """An official or cadre who hosts broadcasts."""

    __tablename__ = "anchors"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)
    title: str = Field(max_length=128)
    county_id: int = Field(foreign_key="counties.id", index=True)


class Product(SQLModel, table=True):
    """A product for sale with its stock, counted in three buckets.

    `stock` is free to order, `reserved` is held by unpaid orders, `sold` is paid.
    Ordering moves units stock→reserved, payment reserved→sold, cancel/expiry
    reserved→stock, refund sold→stock; only staff change the total.
    """

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_nonneg"),
        CheckConstraint("reserved >= 0", name="reserved_nonneg"),
        CheckConstraint("sold >= 0", name="sold_nonneg"),
        CheckConstraint("price_fen > 0", name="price_pos"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128)
    county_id: int = Field(foreign_key="counties.id", index=True)
    unit: str = Field(max_length=32)
    price_fen: int
    stock: int = Field(default=0)
    reserved: int = Field(default=0)
    sold: int = Field(default=0)
    description: str = Field(default="", max_length=2000)
    image_url: str | None = Field(default=None, max_length=512)
    is_active: bool = Field(default=True)
    # An urgent sale (perishable, or made unsalable): listed first until this moment passes.
    urgent_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The seller's mechanism for benefiting households (联农带农, a `LinkageType`); None: not recorded.
    linkage_mechanism: str | None = Field(default=None, max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ProductSplit(SQLModel, table=True):
    """One party's share of a product's sales, in basis points (all of a product's sum to 10000)."""

    __tablename__ = "product_splits"
    __table_args__ = (
        UniqueConstraint("product_id", "party", name="uq_product_splits_party"),
        CheckConstraint("bp > 0 AND bp <= 10000", name="bp"),
    )

    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="products.id", index=True, ondelete="CASCADE")
    party: str = Field(max_length=64)
    bp: int


class ProductCertification(SQLModel, table=True):
    """A certificate that a product is a poverty-alleviation product (扶贫产品认定); rows are kept when revoked.

    A certificate counts from `granted_at` through the whole of `valid_until` (a day in the
    reporting zone) unless `revoked_at` ends it sooner.
    """

    __tablename__ = "product_certifications"

    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="products.id", index=True)
    certificate_no: str = Field(max_length=64)
    valid_until: date
    granted_at: datetime = Field(sa_type=UTCDateTime)
    granted_by: int | None = Field(default=None, foreign_key="users.id")
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_by: int | None = Field(default=None, foreign_key="users.id")


class FlashDeal(SQLModel, table=True):
    """A time-boxed offer of some of a product's units at a lower price, announced in a live stream.

    `quantity` units leave the product's free stock when the deal is announced and wait in
    `remaining`; a deal order takes them into the product's `reserved` bucket, so paying,
    cancelling and refunding move them like any other units. When the deal ends the units
    still in `remaining` go back to free stock once (`ended_at` is set by a compare-and-set),
    and from then on a cancelled deal order returns its units to free stock too.
    """

    __tablename__ = "flash_deals"
    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= quantity", name="remaining"),
        CheckConstraint("price_fen > 0", name="price_pos"),
        CheckConstraint("per_buyer_limit > 0", name="limit_pos"),
        CheckConstraint("ends_at > starts_at", name="window"),
    )

    id: int | None = Field(default=None, primary_key=True)
    stream_id: int = Field(foreign_key="streams.id", index=True)
    product_id: int = Field(foreign_key="products.id", index=True)
    price_fen: int
    quantity: int
    remaining: int
    per_buyer_limit: int
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime, index=True)
    started_announced: bool = Field(default=False)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    returned: int = Field(default=0)
    created_by: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
