"""The stream review as a workbook: a sheet each for the figures, the timeline, the moments, the products and the comparison."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from livecommerce.review.schemas import StreamReview

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
YUAN_FORMAT = "0.00"


def _yuan(fen: int) -> Decimal:
    return Decimal(fen) / 100


def _local(at: datetime | None, zone: ZoneInfo) -> str:
    return "" if at is None else at.astimezone(zone).isoformat(timespec="seconds")


def _append(sheet: Worksheet, row: Sequence[object]) -> None:
    """Append a row; text stays text (a name beginning with `=` is never read as a formula)."""
    sheet.append(list(row))
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"
        elif isinstance(cell.value, Decimal):
            cell.number_format = YUAN_FORMAT


def review_workbook(review: StreamReview, zone: ZoneInfo) -> bytes:
    """The review as .xlsx bytes; amounts in fen, with yuan beside each."""
    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = "Summary"
    _append(summary, ["figure", "value", "yuan"])
    _append(summary, ["stream_id", review.stream_id, None])
    _append(summary, ["title", review.title, None])
    _append(summary, ["started_at", _local(review.started_at, zone), None])
    _append(summary, ["ended_at", _local(review.ended_at, zone), None])
    for name in ("gmv_fen", "refunded_fen", "net_fen"):
        fen = int(getattr(review, name))
        _append(summary, [name, fen, _yuan(fen)])
    for name in ("paid_orders", "refunded_orders", "units", "peak_viewers", "unique_viewers", "buyers", "conversion_bp"):
        _append(summary, [name, int(getattr(review, name)), None])
    _append(summary, ["ordering_buyers", review.funnel.ordering_buyers, None])

    timeline = book.create_sheet("Timeline")
    _append(timeline, ["minute", "at", "gmv_fen", "gmv_yuan", "paid_orders", "refunded_fen", "viewers"])
    for m in review.timeline:
        _append(timeline, [m.minute, _local(m.at, zone), m.gmv_fen, _yuan(m.gmv_fen), m.paid_orders, m.refunded_fen, m.viewers])

    moments = book.create_sheet("Moments")
    _append(moments, ["minute", "at", "type", "product_id", "deal_id"])
    for moment in review.moments:
        _append(moments, [moment.minute, _local(moment.at, zone), moment.type, moment.product_id, moment.deal_id])

    products = book.create_sheet("Top products")
    _append(products, ["product_id", "name", "units", "gmv_fen", "gmv_yuan", "refunded_fen", "net_fen"])
    for p in review.top_products:
        _append(products, [p.product_id, p.name, p.units, p.gmv_fen, _yuan(p.gmv_fen), p.refunded_fen, p.net_fen])

    comparison = book.create_sheet("Comparison")
    compared = review.compared_to
    _append(comparison, ["figure", "value", "yuan"])
    _append(comparison, ["gmv_fen", review.gmv_fen, _yuan(review.gmv_fen)])
    for name, value, streams in (
        ("county_median_gmv_fen", compared.county_median_gmv_fen, compared.county_streams),
        ("campaign_median_gmv_fen", compared.campaign_median_gmv_fen, compared.campaign_streams),
    ):
        _append(comparison, [name, value, None if value is None else _yuan(value)])
        _append(comparison, [name.replace("median_gmv_fen", "streams"), streams, None])

    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
