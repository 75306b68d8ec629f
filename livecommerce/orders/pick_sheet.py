"""The pick list as a workbook: one row per order line, every order of the filter, masked exactly as the JSON pick list."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.catalog import repository as catalog
from livecommerce.kit.errors import PayloadTooLarge
from livecommerce.kit.i18n import _l
from livecommerce.kit.pagination import PageParams
from livecommerce.kit.principal import Principal
from livecommerce.kit.spreadsheets import Sheet, workbook_bytes
from livecommerce.orders import fulfillment
from livecommerce.orders.schemas import PickListItem

MAX_ORDERS = 20_000
HEADERS = [
    "order_id",
    "fulfillment",
    "paid_at",
    "county_ids",
    "station_id",
    "product_id",
    "product",
    "quantity",
    "unit_price_fen",
    "amount_fen",
    "recipient",
    "phone",
    "province",
    "city",
    "district",
    "detail",
    "shipments",
]


async def all_items(session: AsyncSession, principal: Principal, wanted: fulfillment.PickFilter) -> list[PickListItem]:
    """Every pick-list item of the filter, page by page through the JSON pick list's own query (so the same rows and masking)."""
    items: list[PickListItem] = []
    after: int | None = None
    while True:
        page, cursor = await fulfillment.pick_list(session, principal, wanted, PageParams(limit=200, after_id=after))
        items += page
        if len(items) > MAX_ORDERS:
            raise PayloadTooLarge(_l("The pick list has more than {limit} orders; filter it by county or station.", limit=MAX_ORDERS))
        if cursor is None:
            return items
        after = int(cursor)


def _rows(items: list[PickListItem], names: dict[int, str]) -> list[list[object]]:
    rows: list[list[object]] = []
    for item in items:
        address = item.address
        where = (
            [address.recipient, address.phone, address.province, address.city, address.district, address.detail] if address else [""] * 6
        )
        head = [item.order_id, item.fulfillment, item.paid_at, ", ".join(map(str, item.county_ids)), item.station_id]
        parcels = "; ".join(f"{s.carrier} {s.tracking_no}" for s in item.shipments)
        for line in item.items:
            product = [line.product_id, names.get(line.product_id, ""), line.quantity, line.unit_price_fen, line.amount_fen]
            rows.append([*head, *product, *where, parcels])
    return rows


async def pick_list_workbook(session: AsyncSession, principal: Principal, wanted: fulfillment.PickFilter) -> bytes:
    """The pick list of the filter as .xlsx bytes."""
    items = await all_items(session, principal, wanted)
    names = await catalog.product_names(session, {line.product_id for item in items for line in item.items})
    return workbook_bytes([Sheet(f"Pick list {wanted.fulfillment.value}", HEADERS, _rows(items, names))])
