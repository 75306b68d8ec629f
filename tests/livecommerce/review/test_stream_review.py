"""GET /api/streams/{id}/review and its workbook, over a scripted broadcast with every figure known in advance."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from livecommerce.kit.clock import FrozenClock
from livecommerce.kit.principal import Role
from tests.factories import Factory
from tests.livecommerce.ledger.support import pay
from tests.livecommerce.review.support import Broadcast, at, end, go_live, in_campaign, new_stream, scripted_broadcast


@pytest.fixture
async def broadcast(make: Factory, client: httpx.AsyncClient, clock: FrozenClock) -> Broadcast:
    return await scripted_broadcast(make, client, clock)


async def review_of(client: httpx.AsyncClient, stream_id: int, headers: dict[str, str]) -> dict[str, Any]:
    r = await client.get(f"/api/streams/{stream_id}/review", headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


# minute: (gmv_fen, paid_orders, refunded_fen, viewers)
EXPECTED_TIMELINE = {
    0: (0, 0, 0, 1),
    1: (7980, 1, 0, 3),
    2: (0, 0, 0, 2),
    3: (12800, 1, 0, 4),
    4: (3990, 1, 0, 4),
    5: (12800, 1, 3990, 1),
    6: (0, 0, 0, 1),
}


class TestScriptedBroadcast:
    async def test_timeline_has_sales_and_viewers_of_each_minute(self, client: httpx.AsyncClient, broadcast: Broadcast) -> None:
        review = await review_of(client, broadcast.stream_id, broadcast.organizer.headers)
        got = {m["minute"]: (m["gmv_fen"], m["paid_orders"], m["refunded_fen"], m["viewers"]) for m in review["timeline"]}
        assert got == EXPECTED_TIMELINE
        assert [datetime.fromisoformat(m["at"]) for m in review["timeline"]] == [at(n) for n in range(7)]

    async def test_audience_and_funnel(self, client: httpx.AsyncClient, broadcast: Broadcast) -> None:
        review = await review_of(client, broadcast.stream_id, broadcast.organizer.headers)
        assert review["peak_viewers"] == 4
        assert review["unique_viewers"] == 4  # A, B (twice), C, E
        assert review["buyers"] == 3  # A, B, D paid; C cancelled
        assert review["conversion_bp"] == 7500
        assert review["funnel"] == {"unique_viewers": 4, "ordering_buyers": 4, "buyers": 3}

    async def test_money_is_gross_refunded_and_net(self, client: httpx.AsyncClient, broadcast: Broadcast) -> None:
        review = await review_of(client, broadcast.stream_id, broadcast.organizer.headers)
        assert (review["gmv_fen"], review["refunded_fen"], review["net_fen"]) == (37570, 3990, 33580)
        assert (review["paid_orders"], review["refunded_orders"], review["units"]) == (4, 1, 5)

    async def test_top_products_rank_by_gross(self, client: httpx.AsyncClient, broadcast: Broadcast) -> None:
        review = await review_of(client, broadcast.stream_id, broadcast.organizer.headers)
        got = [(p["product_id"], p["name"], p["units"], p["gmv_fen"], p["refunded_fen"], p["net_fen"]) for p in review["top_products"]]
        assert got == [
            (broadcast.chicken, "Free-range chicken", 2, 25600, 0, 25600),
            (broadcast.oranges, "Sugar oranges", 3, 11970, 3990, 7980),
        ]

    async def test_moments_are_the_pins_and_the_flash_deal(self, client: httpx.AsyncClient, broadcast: Broadcast) -> None:
        review = await review_of(client, broadcast.stream_id, broadcast.organizer.headers)
        got = [(m["type"], m["product_id"], m["deal_id"], m["minute"], m["at"][:19]) for m in review["moments"]]
        assert got == [
            ("product.pinned", broadcast.oranges, None, 0, "2026-12-01T10:00:40"),
            ("product.pinned", broadcast.chicken, None, 2, "2026-12-01T10:02:15"),
            ("flash.announced", broadcast.chicken, 7, 3, "2026-12-01T10:03:00"),
            ("flash.started", broadcast.chicken, 7, 3, "2026-12-01T10:03:30"),
            ("flash.ended", broadcast.chicken, 7, 5, "2026-12-01T10:05:30"),
        ]

    async def test_the_host_cadre_reads_the_same_review(self, client: httpx.AsyncClient, broadcast: Broadcast) -> None:
        by_host = await review_of(client, broadcast.stream_id, broadcast.host.headers)
        by_organizer = await review_of(client, broadcast.stream_id, broadcast.organizer.headers)
        assert by_host == by_organizer


class TestComparison:
    async def test_medians_of_the_countys_and_the_campaigns_other_ended_streams(
        self, client: httpx.AsyncClient, make: Factory, broadcast: Broadcast
    ) -> None:
        db = make.db
        elsewhere = await make.county()
        other_anchor = await make.anchor(elsewhere.id)
        other_product = await make.product(elsewhere.id, price_fen=100, stock=10_000)
        local_product = await make.product(broadcast.county_id, price_fen=100, stock=10_000)
        buyer = broadcast.buyers["E"]

        async def ended_stream(county_id: int, anchor_id: int, product_id: int, fen: int, *, live_only: bool = False) -> int:
            stream_id = await new_stream(make, county_id, anchor_id, [product_id])
            await go_live(db, stream_id, at(100))
            await pay(db, buyer.id, [(product_id, fen // 100)], stream_id=stream_id, now=at(101))
            if not live_only:
                await end(db, stream_id, at(110))
            return stream_id

        small = await ended_stream(broadcast.county_id, broadcast.anchor_id, local_product.id, 1000)
        await ended_stream(broadcast.county_id, broadcast.anchor_id, local_product.id, 3000)
        await ended_stream(broadcast.county_id, broadcast.anchor_id, local_product.id, 900_000, live_only=True)  # still live: left out
        far = await ended_stream(elsewhere.id, other_anchor.id, other_product.id, 5000)
        await in_campaign(db, "Harvest month", [broadcast.stream_id, small, far])

        compared = (await review_of(client, broadcast.stream_id, broadcast.organizer.headers))["compared_to"]
        assert compared["county_median_gmv_fen"] == 2000
        assert compared["county_streams"] == 2
        assert compared["campaign_median_gmv_fen"] == 3000
        assert compared["campaign_streams"] == 2

    async def test_no_other_streams_means_no_median(self, client: httpx.AsyncClient, broadcast: Broadcast) -> None:
        compared = (await review_of(client, broadcast.stream_id, broadcast.organizer.headers))["compared_to"]
        assert compared["county_median_gmv_fen"] is None
        assert compared["campaign_median_gmv_fen"] is None
        assert compared["campaign_id"] is None


class TestScope:
    async def test_a_host_of_another_stream_gets_403(self, client: httpx.AsyncClient, make: Factory, broadcast: Broadcast) -> None:
        anchor = await make.anchor(broadcast.county_id)
        await new_stream(make, broadcast.county_id, anchor.id, [broadcast.oranges])
        other_host = await make.user(Role.cadre, anchor_id=anchor.id, county_ids=[broadcast.county_id])
        for suffix in ("review", "review.xlsx"):
            r = await client.get(f"/api/streams/{broadcast.stream_id}/{suffix}", headers=other_host.headers)
            assert r.status_code == 403, r.text
            assert r.headers["content-type"].startswith("application/problem+json")

    async def test_an_organizer_of_another_county_gets_403(self, client: httpx.AsyncClient, make: Factory, broadcast: Broadcast) -> None:
        elsewhere = await make.county()
        organizer = await make.user(Role.organizer, county_ids=[elsewhere.id])
        for suffix in ("review", "review.xlsx"):
            r = await client.get(f"/api/streams/{broadcast.stream_id}/{suffix}", headers=organizer.headers)
            assert r.status_code == 403, r.text

    async def test_a_viewer_gets_403_and_anonymous_401(self, client: httpx.AsyncClient, broadcast: Broadcast) -> None:
        r = await client.get(f"/api/streams/{broadcast.stream_id}/review", headers=broadcast.buyers["A"].headers)
        assert r.status_code == 403
        assert (await client.get(f"/api/streams/{broadcast.stream_id}/review")).status_code == 401

    async def test_an_unknown_stream_is_404(self, client: httpx.AsyncClient, broadcast: Broadcast) -> None:
        r = await client.get("/api/streams/999999/review", headers=broadcast.organizer.headers)
        assert r.status_code == 404


def _rows(sheet: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in sheet.iter_rows(values_only=True)]


class TestWorkbook:
    async def test_the_workbook_reads_back_the_same_review(self, client: httpx.AsyncClient, broadcast: Broadcast) -> None:
        review = await review_of(client, broadcast.stream_id, broadcast.organizer.headers)
        r = await client.get(f"/api/streams/{broadcast.stream_id}/review.xlsx", headers=broadcast.organizer.headers)
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        book = load_workbook(io.BytesIO(r.content))
        assert book.sheetnames == ["Summary", "Timeline", "Moments", "Top products", "Comparison"]

        summary = {row[0]: row[1] for row in _rows(book["Summary"])[1:]}
        for key in ("gmv_fen", "refunded_fen", "net_fen", "paid_orders", "refunded_orders", "units", "peak_viewers", "unique_viewers"):
            assert summary[key] == review[key], key
        assert (summary["buyers"], summary["conversion_bp"], summary["title"]) == (3, 7500, "Harvest")
        assert {row[0]: row[2] for row in _rows(book["Summary"])[1:]}["gmv_fen"] == pytest.approx(375.70)

        timeline = _rows(book["Timeline"])
        assert timeline[0] == ("minute", "at", "gmv_fen", "gmv_yuan", "paid_orders", "refunded_fen", "refunded_yuan", "viewers")
        assert {row[0]: (row[2], row[4], row[5], row[7]) for row in timeline[1:]} == EXPECTED_TIMELINE
        assert timeline[2][1] == "2026-12-01T18:01:00+08:00"  # shown in the display zone

        moments = _rows(book["Moments"])[1:]
        assert [(m[2], m[3], m[4], m[0]) for m in moments] == [
            (m["type"], m["product_id"], m["deal_id"], m["minute"]) for m in review["moments"]
        ]
        products = _rows(book["Top products"])[1:]
        assert [(p[0], p[1], p[2], p[3], p[5], p[7]) for p in products] == [
            (p["product_id"], p["name"], p["units"], p["gmv_fen"], p["refunded_fen"], p["net_fen"]) for p in review["top_products"]
        ]

    async def test_a_name_that_looks_like_a_formula_is_neutralised(
        self, client: httpx.AsyncClient, make: Factory, clock: FrozenClock
    ) -> None:
        county = await make.county()
        anchor = await make.anchor(county.id)
        product = await make.product(county.id, name='=HYPERLINK("http://x")', stock=10)
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        stream_id = await new_stream(make, county.id, anchor.id, [product.id], title="=1+1")
        await go_live(make.db, stream_id, at(0))
        buyer = await make.user(Role.viewer)
        await pay(make.db, buyer.id, [(product.id, 1)], stream_id=stream_id, now=at(1))
        r = await client.get(f"/api/streams/{stream_id}/review.xlsx", headers=organizer.headers)
        book = load_workbook(io.BytesIO(r.content))
        assert {row[0]: row[1] for row in _rows(book["Summary"])}["title"] == "'=1+1"
        assert book["Summary"]["B3"].data_type == "s"
        assert _rows(book["Top products"])[1][1] == '\'=HYPERLINK("http://x")'
        assert book["Top products"]["B2"].data_type == "s"
