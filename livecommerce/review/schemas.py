"""Response shapes of the stream and campaign reviews."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class TimelineMinute(BaseModel):
    """One minute of the broadcast: sales paid in it, and the audience during it."""

    minute: int = Field(description="Minutes since the clock minute the stream went live in (0 is that minute).")
    at: datetime = Field(description="Where the minute begins.")
    gmv_fen: int = Field(description="Gross of the orders paid in this minute (refunds are not subtracted here).")
    paid_orders: int
    refunded_fen: int = Field(description="Refunds posted in this minute (later refunds count in the totals only).")
    viewers: int = Field(description="The most viewers watching at once during the minute.")


class Moment(BaseModel):
    """A pin or a flash deal, with its time, so a replay can jump to it."""

    at: datetime
    type: str = Field(description="`product.pinned`, `flash.announced`, `flash.started` or `flash.ended`.")
    product_id: int | None
    deal_id: int | None
    minute: int = Field(description="The timeline minute it happened in.")


class TopProduct(BaseModel):
    """A product's sales in the stream (gross, refunds not subtracted)."""

    product_id: int
    name: str
    units: int
    gmv_fen: int
    refunded_fen: int
    net_fen: int


class Comparison(BaseModel):
    """The stream beside the median of the other ended streams of its counties and of its campaign."""

    county_median_gmv_fen: int | None = Field(description="Median gross of the other ended streams serving the stream's counties.")
    campaign_median_gmv_fen: int | None = Field(description="Median gross of the campaign's other ended streams.")
    county_streams: int = Field(description="How many streams the county median is taken over.")
    campaign_id: int | None
    campaign_streams: int = Field(description="How many streams the campaign median is taken over.")


class Funnel(BaseModel):
    """From watching to paying: unique signed-in viewers, buyers who ordered, buyers who paid."""

    unique_viewers: int
    ordering_buyers: int
    buyers: int


class StreamReview(BaseModel):
    """A broadcast after the fact (money in fen: `gmv_fen` gross, `refunded_fen` refunds, `net_fen` what remains)."""

    stream_id: int
    title: str
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    timeline: list[TimelineMinute]
    peak_viewers: int
    unique_viewers: int
    buyers: int = Field(description="Distinct buyers who paid an order in the stream (including orders refunded later).")
    conversion_bp: int = Field(
        description="Buyers per unique signed-in viewer, in basis points, rounded down (0 with no viewers; above 10000 when "
        "buyers ordered through the API without watching signed in)."
    )
    funnel: Funnel
    gmv_fen: int = Field(description="Gross merchandise value: every paid order, refunds not subtracted.")
    refunded_fen: int
    net_fen: int = Field(description="Gross less refunds.")
    paid_orders: int
    refunded_orders: int
    units: int
    top_products: list[TopProduct] = Field(description="The ten products with the highest gross, highest first.")
    moments: list[Moment] = Field(description="Pins and flash-deal events in the order they happened.")
    compared_to: Comparison


class RankedStream(BaseModel):
    """One stream of a campaign, ranked by gross."""

    rank: int
    stream_id: int
    title: str
    status: str
    started_at: datetime | None
    host_names: list[str]
    gmv_fen: int
    refunded_fen: int
    net_fen: int
    paid_orders: int
    units: int
    peak_viewers: int
    unique_viewers: int
    buyers: int
    conversion_bp: int


class CountyTotal(BaseModel):
    """A county's produce sold through the campaign's streams."""

    county_id: int
    name: str
    units: int
    gmv_fen: int
    refunded_fen: int
    net_fen: int


class AnchorTotal(BaseModel):
    """The streams an anchor hosted in the campaign (a co-hosted stream counts in full for each host)."""

    anchor_id: int
    name: str
    streams: int
    gmv_fen: int
    refunded_fen: int
    net_fen: int
    paid_orders: int


class CampaignReview(BaseModel):
    """A campaign's streams summed and ranked, with each county's and anchor's totals.

    An organizer's review covers the campaign's streams that serve its counties.
    """

    campaign_id: int
    name: str
    streams: list[RankedStream]
    gmv_fen: int
    refunded_fen: int
    net_fen: int
    paid_orders: int
    units: int
    peak_viewers: int = Field(description="The highest peak of any one stream.")
    unique_viewers: int = Field(description="Distinct signed-in users who watched any of the streams.")
    buyers: int = Field(description="Distinct buyers who paid in any of the streams.")
    conversion_bp: int
    by_county: list[CountyTotal]
    by_anchor: list[AnchorTotal]
