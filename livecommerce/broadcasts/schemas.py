"""Request and response shapes for streams."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from livecommerce.kit.types import MAX_ID, StrictInput


class StreamStatus(StrEnum):
    """A stream is scheduled, then live, then ended (or cancelled before it went live)."""

    scheduled = "scheduled"
    live = "live"
    ended = "ended"
    cancelled = "cancelled"


class StreamPublic(BaseModel):
    """A broadcast in a list."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    status: str
    booking_id: int | None
    studio_id: int | None
    scheduled_start: datetime
    scheduled_end: datetime
    auto_start: bool
    started_at: datetime | None
    ended_at: datetime | None
    pinned_product_id: int | None


class StreamHostPublic(BaseModel):
    """An anchor hosting the stream."""

    id: int
    name: str
    title: str
    county_id: int


class FeaturedProduct(BaseModel):
    """A product viewers can order in the stream, with its live stock."""

    id: int
    name: str
    county_id: int
    unit: str
    price_fen: int
    stock: int
    reserved: int
    sold: int
    image_url: str | None
    description: str


class StreamDetail(StreamPublic):
    """A broadcast with its hosts, featured products (with stock) and pinned product."""

    hosts: list[StreamHostPublic]
    products: list[FeaturedProduct]
    pinned_product: FeaturedProduct | None
    county_ids: list[int]


class PinRequest(StrictInput):
    """The featured product to show on screen."""

    product_id: int = Field(gt=0, le=MAX_ID)
