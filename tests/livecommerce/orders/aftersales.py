"""Helpers for the fulfillment and after-sales tests: addresses, paid orders, parcels."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from livecommerce.kit.db import Database
from tests.factories import Factory, TestUser
from tests.livecommerce.orders.helpers import Shop, make_buyers

ADDRESS = {
    "recipient": "王秀英",
    "phone": "13812345678",
    "province": "广东省",
    "city": "清远市",
    "district": "连州市",
    "detail": "西岸镇新塘村3号",
}


async def add_address(client: httpx.AsyncClient, buyer: TestUser, **overrides: Any) -> httpx.Response:
    """POST one address for the buyer."""
    return await client.post("/api/me/addresses", json={**ADDRESS, **overrides}, headers=buyer.headers)


async def buy(
    client: httpx.AsyncClient, buyer: TestUser, shop: Shop, *, pay: bool = True, address_id: int | None = None, quantity: int = 1
) -> dict[str, Any]:
    """Order one product in the shop's stream (paid unless told otherwise); the order's body."""
    body: dict[str, Any] = {"items": [{"product_id": shop.product_id, "quantity": quantity}]}
    if address_id is not None:
        body["address_id"] = address_id
    headers = {**buyer.headers, "Idempotency-Key": uuid.uuid4().hex}
    r = await client.post(f"/api/streams/{shop.stream_id}/orders", json=body, headers=headers)
    assert r.status_code == 201, r.text
    if pay:
        r = await client.post(f"/api/orders/{r.json()['id']}/pay", headers=buyer.headers)
        assert r.status_code == 200, r.text
    order: dict[str, Any] = r.json()
    return order


async def buyer_with_address(client: httpx.AsyncClient, make: Factory, db: Database) -> tuple[TestUser, int]:
    """A new viewer with one (default) address."""
    buyer = (await make_buyers(db, make, 1))[0]
    r = await add_address(client, buyer)
    assert r.status_code == 201, r.text
    return buyer, int(r.json()["id"])


async def ship(
    client: httpx.AsyncClient, who: TestUser, order_id: int, carrier: str = "SF", tracking_no: str | None = None
) -> httpx.Response:
    """POST a parcel of the order."""
    number = tracking_no or f"SF{uuid.uuid4().int % 10**12:012d}"
    return await client.post(f"/api/orders/{order_id}/shipments", json={"carrier": carrier, "tracking_no": number}, headers=who.headers)
