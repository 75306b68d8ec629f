"""GET /api/campaigns/{id}/review: the campaign's streams summed and ranked, with county and anchor totals."""

from __future__ import annotations

from typing import Any

import httpx

from livecommerce.broadcasts import service as broadcasts
from livecommerce.kit.principal import Role
from livecommerce.ledger.service import reverse_sale
from tests.factories import Factory
from tests.livecommerce.ledger.support import mark_refunded, pay
from tests.livecommerce.review.support import at, end, go_live, in_campaign, new_stream, viewers_now, watched


async def _campaign(make: Factory) -> dict[str, Any]:
    """Three streams in one campaign: two in Yangshan (one co-hosted from Liannan), one in Liannan; one stream outside it."""
    db = make.db
    yangshan, liannan = await make.county(name="Yangshan"), await make.county(name="Liannan")
    li = await make.anchor(yangshan.id, name="Li Ming")
    wang = await make.anchor(liannan.id, name="Wang Xiu")
    oranges = await make.product(yangshan.id, name="Oranges", price_fen=1000, stock=10_000)
    tea = await make.product(liannan.id, name="Tea", price_fen=3000, stock=10_000)
    buyers = [await make.user(Role.viewer) for _ in range(3)]

    first = await new_stream(make, yangshan.id, li.id, [oranges.id], title="First")
    second = await new_stream(make, yangshan.id, li.id, [oranges.id, tea.id], title="Second")
    async with db.transaction() as session:
        third_stream = await broadcasts.create_stream(
            session, title="Third", scheduled_start=at(0), scheduled_end=at(60), anchor_ids=[wang.id, li.id], product_ids=[tea.id]
        )
    third = third_stream.id
    assert third is not None
    never = await new_stream(make, yangshan.id, li.id, [oranges.id], title="Never aired")
    outside = await new_stream(make, yangshan.id, li.id, [oranges.id], title="Outside")
    for s in (first, second, third, outside):
        await go_live(db, s, at(0))

    await pay(db, buyers[0].id, [(oranges.id, 2)], stream_id=first, now=at(1))  # 2000
    await pay(db, buyers[0].id, [(oranges.id, 1), (tea.id, 1)], stream_id=second, now=at(2))  # 4000
    refunded = await pay(db, buyers[1].id, [(tea.id, 2)], stream_id=second, now=at(3))  # 6000, refunded
    await pay(db, buyers[2].id, [(tea.id, 1)], stream_id=third, now=at(4))  # 3000
    await pay(db, buyers[2].id, [(oranges.id, 50)], stream_id=outside, now=at(4))  # not in the campaign
    async with db.transaction() as session:
        await mark_refunded(session, refunded, at(5))
        await reverse_sale(session, refunded, now=at(5))
    for user in buyers:
        await watched(db, first, user, at(1))
    await watched(db, second, buyers[0], at(1))
    await viewers_now(db, first, 7, at(1))
    await viewers_now(db, second, 12, at(1))
    await viewers_now(db, second, 3, at(2))
    for s in (first, second, third):
        await end(db, s, at(30))
    campaign_id = await in_campaign(db, "Harvest month", [first, second, third, never])
    return {
        "campaign": campaign_id,
        "streams": (first, second, third),
        "counties": (yangshan.id, liannan.id),
        "anchors": (li.id, wang.id),
    }


async def _review(client: httpx.AsyncClient, campaign_id: int, headers: dict[str, str]) -> dict[str, Any]:
    r = await client.get(f"/api/campaigns/{campaign_id}/review", headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


class TestCampaignReview:
    async def test_streams_are_ranked_by_gross_and_summed(self, client: httpx.AsyncClient, make: Factory) -> None:
        world = await _campaign(make)
        admin = await make.user(Role.admin)
        review = await _review(client, world["campaign"], admin.headers)
        first, second, third = world["streams"]
        ranked = [(s["rank"], s["stream_id"], s["gmv_fen"], s["refunded_fen"], s["net_fen"], s["paid_orders"]) for s in review["streams"]]
        assert ranked == [(1, second, 10000, 6000, 4000, 2), (2, third, 3000, 0, 3000, 1), (3, first, 2000, 0, 2000, 1)]
        assert (review["gmv_fen"], review["refunded_fen"], review["net_fen"], review["paid_orders"], review["units"]) == (
            15000,
            6000,
            9000,
            4,
            7,
        )
        assert review["peak_viewers"] == 12
        assert review["unique_viewers"] == 3
        assert review["buyers"] == 3
        assert review["conversion_bp"] == 10000
        by_stream = {s["stream_id"]: s for s in review["streams"]}
        assert (by_stream[first]["unique_viewers"], by_stream[first]["buyers"], by_stream[first]["conversion_bp"]) == (3, 1, 3333)
        assert by_stream[third]["host_names"] == ["Li Ming", "Wang Xiu"]

    async def test_each_countys_and_anchors_totals(self, client: httpx.AsyncClient, make: Factory) -> None:
        world = await _campaign(make)
        admin = await make.user(Role.admin)
        review = await _review(client, world["campaign"], admin.headers)
        yangshan, liannan = world["counties"]
        li, wang = world["anchors"]
        counties = [(c["county_id"], c["name"], c["units"], c["gmv_fen"], c["refunded_fen"], c["net_fen"]) for c in review["by_county"]]
        assert counties == [(liannan, "Liannan", 4, 12000, 6000, 6000), (yangshan, "Yangshan", 3, 3000, 0, 3000)]
        anchors = [(a["anchor_id"], a["name"], a["streams"], a["gmv_fen"], a["net_fen"], a["paid_orders"]) for a in review["by_anchor"]]
        assert anchors == [(li, "Li Ming", 3, 15000, 9000, 4), (wang, "Wang Xiu", 1, 3000, 3000, 1)]

    async def test_an_organizer_sees_the_streams_serving_its_counties(self, client: httpx.AsyncClient, make: Factory) -> None:
        world = await _campaign(make)
        _, second, third = world["streams"]
        _, liannan = world["counties"]
        organizer = await make.user(Role.organizer, county_ids=[liannan])
        review = await _review(client, world["campaign"], organizer.headers)
        assert sorted(s["stream_id"] for s in review["streams"]) == [second, third]
        assert review["gmv_fen"] == 13000

    async def test_a_cadre_or_viewer_gets_403_and_an_unknown_campaign_404(self, client: httpx.AsyncClient, make: Factory) -> None:
        world = await _campaign(make)
        li, _ = world["anchors"]
        cadre = await make.user(Role.cadre, anchor_id=li)
        viewer = await make.user(Role.viewer)
        for user in (cadre, viewer):
            r = await client.get(f"/api/campaigns/{world['campaign']}/review", headers=user.headers)
            assert r.status_code == 403, r.text
        admin = await make.user(Role.admin)
        assert (await client.get("/api/campaigns/999999/review", headers=admin.headers)).status_code == 404
