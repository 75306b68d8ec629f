"""The pick list as a workbook: the same orders, lines and masking as the JSON pick list."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import httpx
from openpyxl import load_workbook

from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from tests.factories import Factory
from tests.livecommerce.orders.aftersales import buy, buyer_with_address, ship
from tests.livecommerce.orders.helpers import Shop


async def _sheet(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    r = await client.get("/api/fulfillment.xlsx", params=params, headers=headers)
    assert r.status_code == 200, r.text
    rows = [list(row) for row in load_workbook(io.BytesIO(r.content)).worksheets[0].iter_rows(values_only=True)]
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


async def _json(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = (await client.get("/api/fulfillment", params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers)).json()
        items += page["items"]
        if not (cursor := page["next_cursor"]):
            return items


def _expected(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    rows = []
    for item in items:
        address = item["address"] or {}
        for line in item["items"]:
            phone = address.get("phone")
            rows.append(
                (
                    item["order_id"],
                    line["product_id"],
                    line["quantity"],
                    line["amount_fen"],
                    address.get("recipient"),
                    phone,
                    address.get("detail"),
                )
            )
    return rows


def _got(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["order_id"], r["product_id"], r["quantity"], r["amount_fen"], r["recipient"], r["phone"], r["detail"]) for r in rows]


class TestPickListWorkbook:
    async def test_same_rows_as_the_json_pick_list(self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        for quantity in (1, 2, 3):
            await buy(client, buyer, shop, quantity=quantity)
        headers = shop.organizer.headers
        rows = await _sheet(client, headers, county_id=shop.county_id)
        assert len(rows) == 3
        assert _got(rows) == _expected(await _json(client, headers, county_id=shop.county_id, limit=2))
        for row in rows:
            assert Decimal(str(row["amount_yuan"])) * 100 == row["amount_fen"]

    async def test_status_filter_and_masking_follow_the_json(
        self, client: httpx.AsyncClient, make: Factory, db: Database, shop: Shop
    ) -> None:
        buyer, _ = await buyer_with_address(client, make, db)
        packed = await buy(client, buyer, shop)
        await buy(client, buyer, shop)
        await ship(client, shop.organizer, packed["id"])
        other = await make.county()
        admin = await make.user(Role.admin)
        both = await make.user(Role.organizer, county_ids=[shop.county_id, other.id])
        for reader in (admin, shop.organizer, both):
            shipped = await _sheet(client, reader.headers, status="shipped")
            assert _got(shipped) == _expected(await _json(client, reader.headers, status="shipped"))
            assert [r["order_id"] for r in shipped] == [packed["id"]] and shipped[0]["shipments"].startswith("SF ")
        outsider = await make.user(Role.organizer, county_ids=[other.id])
        assert await _sheet(client, outsider.headers) == []
        assert (await client.get(f"/api/fulfillment.xlsx?county_id={shop.county_id}", headers=outsider.headers)).status_code == 403
        viewer = await make.user(Role.viewer)
        assert (await client.get("/api/fulfillment.xlsx", headers=viewer.headers)).status_code == 403
