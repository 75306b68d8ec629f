"""Flash deals in a certified-only campaign's stream offer certified products only."""

from __future__ import annotations

from datetime import timedelta

import httpx

from livecommerce.broadcasts import service as streams_service
from livecommerce.kit.clock import utcnow
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from tests.factories import Factory
from tests.livecommerce.orders.test_flash_deals import deal_body


async def live_stream(db: Database, anchor_id: int, product_ids: list[int], *, certified_only: bool) -> int:
    now = utcnow()
    async with db.transaction() as session:
        stream = await streams_service.create_stream(
            session,
            title="扶贫产品专场",
            scheduled_start=now - timedelta(minutes=5),
            scheduled_end=now + timedelta(hours=2),
            anchor_ids=[anchor_id],
            product_ids=product_ids,
            certified_only=certified_only,
        )
        assert stream.id is not None
        await streams_service.start_stream(session, stream.id, now=now)
        return stream.id


class TestCertifiedOnlyDeals:
    async def test_an_uncertified_product_is_refused_with_409_naming_it(
        self, client: httpx.AsyncClient, make: Factory, db: Database
    ) -> None:
        county = await make.county()
        assert county.id is not None
        good = await make.product(county.id, name="黄花镇黄精", stock=50)
        bad = await make.product(county.id, name="连江口土鸡蛋", stock=50)
        anchor = await make.anchor(county.id)
        assert good.id and bad.id and anchor.id
        cadre = await make.user(Role.cadre, county_ids=[county.id], anchor_id=anchor.id)
        admin = await make.user(Role.admin)
        r = await client.post(
            f"/api/products/{good.id}/certification", json={"certificate_no": "GD-1", "valid_until": "2099-12-31"}, headers=admin.headers
        )
        assert r.status_code == 201, r.text
        stream_id = await live_stream(db, anchor.id, [good.id, bad.id], certified_only=True)

        refused = await client.post(f"/api/streams/{stream_id}/flash-deals", json=deal_body(bad.id), headers=cadre.headers)
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "连江口土鸡蛋" in refused.json()["detail"]
        assert refused.json()["conflicts"][0]["product_id"] == bad.id

        accepted = await client.post(f"/api/streams/{stream_id}/flash-deals", json=deal_body(good.id), headers=cadre.headers)
        assert accepted.status_code == 201, accepted.text

    async def test_an_ordinary_stream_offers_uncertified_products(self, client: httpx.AsyncClient, make: Factory, db: Database) -> None:
        county = await make.county()
        assert county.id is not None
        product = await make.product(county.id, stock=50)
        anchor = await make.anchor(county.id)
        assert product.id and anchor.id
        cadre = await make.user(Role.cadre, county_ids=[county.id], anchor_id=anchor.id)
        stream_id = await live_stream(db, anchor.id, [product.id], certified_only=False)
        r = await client.post(f"/api/streams/{stream_id}/flash-deals", json=deal_body(product.id), headers=cadre.headers)
        assert r.status_code == 201, r.text
