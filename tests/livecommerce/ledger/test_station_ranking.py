"""Village service stations ranked by the sales credited to them in a period: API and workbook, scoped to the reader."""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

import httpx
from openpyxl import load_workbook

from livecommerce.kit.principal import Role
from tests.factories import Factory, TestUser


async def sell(client: httpx.AsyncClient, make: Factory, organizer: TestUser, county_id: int, station_id: int, quantity: int) -> int:
    """A paid unit subscription of a 1000-fen product whose station share is 20%; the order id."""
    household = await make.household(county_id)
    splits = [(f"household:{household.id}", 6000), (f"station:{station_id}", 2000), (f"county:{county_id}", 2000)]
    product = await make.product(county_id, splits=splits, price_fen=1000, stock=100)
    body = {"unit_name": "County canteen", "unit_type": "government", "items": [{"product_id": product.id, "quantity": quantity}]}
    response = await client.post("/api/subscriptions", json=body, headers=organizer.headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def world(client: httpx.AsyncClient, make: Factory) -> dict[str, Any]:
    one, two = await make.county(), await make.county()
    assert one.id and two.id
    organizer = await make.user(Role.organizer, county_ids=[one.id])
    other = await make.user(Role.organizer, county_ids=[two.id])
    a, b, idle, c = (
        await make.station(one.id, name="石角镇服务站"),
        await make.station(one.id),
        await make.station(one.id),
        await make.station(two.id),
    )
    await sell(client, make, organizer, one.id, a.id, 3)  # type: ignore[arg-type]  # 600 to a
    await sell(client, make, organizer, one.id, b.id, 5)  # type: ignore[arg-type]  # 1000 to b
    refunded = await sell(client, make, organizer, one.id, b.id, 2)  # type: ignore[arg-type]  # 400 to b, taken back
    assert (await client.post(f"/api/orders/{refunded}/refund", headers=organizer.headers)).status_code == 200
    await sell(client, make, other, two.id, c.id, 1)  # type: ignore[arg-type]  # 200 to c
    return {"one": one.id, "two": two.id, "organizer": organizer, "other": other, "a": a.id, "b": b.id, "idle": idle.id, "c": c.id}


def table(body: dict[str, Any]) -> list[tuple[int, int, int, int]]:
    return [(i["rank"], i["station_id"], i["credited_fen"], i["net_fen"]) for i in body["items"]]


class TestStationRanking:
    async def test_ranked_by_net_credit_with_refunds_taken_back_and_ties_sharing_a_rank(
        self, client: httpx.AsyncClient, make: Factory
    ) -> None:
        w = await world(client, make)
        admin = await make.user(Role.admin)
        r = await client.get("/api/stats/stations", params={"county_id": w["one"]}, headers=admin.headers)
        assert r.status_code == 200, r.text
        assert table(r.json()) == [(1, w["b"], 1400, 1000), (2, w["a"], 600, 600), (3, w["idle"], 0, 0)]
        both = (await client.get("/api/stats/stations", headers=admin.headers)).json()
        assert [i["station_id"] for i in both["items"]][:2] == [w["b"], w["a"]]
        assert {i["station_id"] for i in both["items"]} >= {w["a"], w["b"], w["idle"], w["c"]}

    async def test_an_organizer_sees_only_its_counties_stations(self, client: httpx.AsyncClient, make: Factory) -> None:
        w = await world(client, make)
        mine = (await client.get("/api/stats/stations", headers=w["organizer"].headers)).json()
        assert {i["station_id"] for i in mine["items"]} == {w["a"], w["b"], w["idle"]}
        theirs = (await client.get("/api/stats/stations", headers=w["other"].headers)).json()
        assert table(theirs) == [(1, w["c"], 200, 200)]
        refused = await client.get("/api/stats/stations", params={"county_id": w["two"]}, headers=w["organizer"].headers)
        assert refused.status_code == 403
        assert (
            await client.get("/api/stats/stations.xlsx", params={"county_id": w["two"]}, headers=w["organizer"].headers)
        ).status_code == 403

    async def test_sales_outside_the_period_do_not_count(self, client: httpx.AsyncClient, make: Factory) -> None:
        w = await world(client, make)
        long_ago = {"from": "2020-01-01", "to": "2020-01-31"}
        body = (await client.get("/api/stats/stations", params=long_ago, headers=w["organizer"].headers)).json()
        assert [i["net_fen"] for i in body["items"]] == [0, 0, 0]
        assert {i["rank"] for i in body["items"]} == {1}

    async def test_the_workbook_lists_the_same_ranking_in_fen_and_yuan(self, client: httpx.AsyncClient, make: Factory) -> None:
        w = await world(client, make)
        r = await client.get("/api/stats/stations.xlsx", headers=w["organizer"].headers)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))  # type: ignore[union-attr]
        header = rows[0]
        assert header[:3] == ("rank", "station_id", "station")
        net, net_yuan = header.index("net_fen"), header.index("net_yuan")
        assert [(row[0], row[1], row[net]) for row in rows[1:]] == [(1, w["b"], 1000), (2, w["a"], 600), (3, w["idle"], 0)]
        assert rows[2][2] == "石角镇服务站" and float(rows[1][net_yuan]) == 10.0  # type: ignore[arg-type]

    async def test_viewers_cannot_read_it_and_a_backwards_period_is_422(self, client: httpx.AsyncClient, make: Factory) -> None:
        viewer = await make.user(Role.viewer)
        assert (await client.get("/api/stats/stations", headers=viewer.headers)).status_code == 403
        admin = await make.user(Role.admin)
        today = date.today()
        backwards = {"from": today.isoformat(), "to": (today - timedelta(days=3)).isoformat()}
        assert (await client.get("/api/stats/stations", params=backwards, headers=admin.headers)).status_code == 422
