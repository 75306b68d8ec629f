"""The stream review as a workbook: a sheet each for the figures, the timeline, the moments, the products and the comparison."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from livecommerce.kit.spreadsheets import XLSX_MEDIA_TYPE, Sheet, workbook_bytes, yuan
from livecommerce.review.schemas import StreamReview

__all__ = ["XLSX_MEDIA_TYPE", "review_workbook"]


def _local(at: datetime | None, zone: ZoneInfo) -> str:
    return "" if at is None else at.astimezone(zone).isoformat(timespec="seconds")


def review_workbook(review: StreamReview, zone: ZoneInfo) -> bytes:
    """The review as .xlsx bytes; amounts in fen, with yuan beside each (the kit's writer: formula-safe text, styled header)."""
    summary: list[list[object]] = [
        ["stream_id", review.stream_id, None],
        ["title", review.title, None],
        ["started_at", _local(review.started_at, zone), None],
        ["ended_at", _local(review.ended_at, zone), None],
    ]
    for name in ("gmv_fen", "refunded_fen", "net_fen"):
        fen = int(getattr(review, name))
        summary.append([name, fen, yuan(fen)])
    for name in ("paid_orders", "refunded_orders", "units", "peak_viewers", "unique_viewers", "buyers", "conversion_bp"):
        summary.append([name, int(getattr(review, name)), None])
    summary.append(["ordering_buyers", review.funnel.ordering_buyers, None])

    compared = review.compared_to
    comparison: list[list[object]] = [["gmv_fen", review.gmv_fen, yuan(review.gmv_fen)]]
    for name, value, streams in (
        ("county_median_gmv_fen", compared.county_median_gmv_fen, compared.county_streams),
        ("campaign_median_gmv_fen", compared.campaign_median_gmv_fen, compared.campaign_streams),
    ):
        comparison.append([name, value, None if value is None else yuan(value)])
        comparison.append([name.replace("median_gmv_fen", "streams"), streams, None])

    return workbook_bytes(
        [
            Sheet("Summary", ["figure", "value", "yuan"], summary),
            Sheet(
                "Timeline",
                ["minute", "at", "gmv_fen", "paid_orders", "refunded_fen", "viewers"],
                [[m.minute, _local(m.at, zone), m.gmv_fen, m.paid_orders, m.refunded_fen, m.viewers] for m in review.timeline],
            ),
            Sheet(
                "Moments",
                ["minute", "at", "type", "product_id", "deal_id"],
                [[m.minute, _local(m.at, zone), m.type, m.product_id, m.deal_id] for m in review.moments],
            ),
            Sheet(
                "Top products",
                ["product_id", "name", "units", "gmv_fen", "refunded_fen", "net_fen"],
                [[p.product_id, p.name, p.units, p.gmv_fen, p.refunded_fen, p.net_fen] for p in review.top_products],
            ),
            Sheet("Comparison", ["figure", "value", "yuan"], comparison),
        ]
    )
