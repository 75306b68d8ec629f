"""Unit subscriptions and station sales: paid at once, stock straight to sold, credited, idempotent."""

from __future__ import annotations

import httpx

from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from tests.factories import Factory
from tests.livecommerce.ledger.support import read_books


async def _setup(make: Factory, stock: int = 10) -> tuple[int, int, int, str, dict[str, str]]:
    county = await make.county()
    household = await make.household(county.id)
    station = await make.station(county.id)
    product = await make.product(
        county.id,
        splits=[(f"household:{household.id}", 8000), (f"station:{station.id}", 1500), ("platform", 500)],
        price_fen=333,
        stock=stock,
    )
    organizer = await make.user(Role.organizer, county_ids=[county.id])
    return county.id, station.id, product.id, f"household:{household.id}", organizer.headers  # type: ignore[return-value]


class TestCreateSubscription:
    async def test_subscription_is_paid_credited_and_takes_stock_to_sold(
        self, client: httpx.AsyncClient, db: Database, make: Factory
    ) -> None:
        _, _, product_id, household, headers = await _setup(make)
        body = {"unit_name": "County Party Committee", "unit_type": "party", "items": [{"product_id": product_id, "quantity": 7}]}
        response = await client.post("/api/subscriptions", json=body, headers=headers)
        assert response.status_code == 201, response.text
        order = response.json()
        assert (order["status"], order["channel"], order["total_fen"], order["unit_type"]) == ("paid", "unit_subscription", 2331, "party")
        product = (await client.get(f"/api/products/{product_id}", headers=headers)).json()
        assert (product["stock"], product["reserved"], product["sold"]) == (3, 0, 7)
        books = await read_books(db)
        assert books.balances[household] == 1865  # 2331 * 0.8 = 1864.8
        assert books.balances["clearing"] == 2331
        assert next(iter(books.transactions.values()))[2] == "unit_subscription"

    async def test_a_subscription_worth_billions_of_fen_is_stored_and_credited_exactly(
        self, client: httpx.AsyncClient, db: Database, make: Factory
    ) -> None:
        county = await make.county()
        household = await make.household(county.id)
        price, quantity = 99_999_999, 10_000  # about 10 billion fen: far past 32 bits
        product = await make.product(
            county.id, splits=[(f"household:{household.id}", 7001), ("platform", 2999)], price_fen=price, stock=quantity
        )
        organizer = await make.user(Role.organizer, county_ids=[county.id])
        body = {"unit_name": "Provincial SOE", "unit_type": "enterprise", "items": [{"product_id": product.id, "quantity": quantity}]}
        response = await client.post("/api/subscriptions", json=body, headers=organizer.headers)
        assert response.status_code == 201, response.text
        total = price * quantity
        assert response.json()["total_fen"] == total
        books = await read_books(db)
        assert books.balances["clearing"] == total
        assert books.balances[f"household:{household.id}"] + books.balances["platform"] == total

    async def test_same_idempotency_key_returns_the_first_order(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        _, _, product_id, _, headers = await _setup(make)
        body = {"unit_name": "Guangzhou Metro", "unit_type": "enterprise", "items": [{"product_id": product_id, "quantity": 2}]}
        keyed = {**headers, "Idempotency-Key": "conf-2026-001"}
        first = await client.post("/api/subscriptions", json=body, headers=keyed)
        again = await client.post("/api/subscriptions", json=body, headers=keyed)
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json()["id"] == again.json()["id"]
        assert len((await read_books(db)).transactions) == 1
        assert (await client.get(f"/api/products/{product_id}", headers=headers)).json()["sold"] == 2

    async def test_key_reused_for_another_request_is_refused(self, client: httpx.AsyncClient, make: Factory) -> None:
        _, _, product_id, _, headers = await _setup(make)
        keyed = {**headers, "Idempotency-Key": "k1"}
        body = {"unit_name": "A", "unit_type": "government", "items": [{"product_id": product_id, "quantity": 1}]}
        assert (await client.post("/api/subscriptions", json=body, headers=keyed)).status_code == 201
        body["items"][0]["quantity"] = 2  # type: ignore[index]
        response = await client.post("/api/subscriptions", json=body, headers=keyed)
        assert response.status_code == 409  # as for stream orders: one placement path, one answer
        assert response.json()["type"].endswith("/conflict")
        assert response.headers["content-type"].startswith("application/problem+json")

    async def test_short_stock_is_409_and_changes_nothing(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        _, _, product_id, _, headers = await _setup(make, stock=5)
        body = {"unit_name": "A", "unit_type": "party", "items": [{"product_id": product_id, "quantity": 6}]}
        response = await client.post("/api/subscriptions", json=body, headers=headers)
        assert response.status_code == 409
        assert (await client.get(f"/api/products/{product_id}", headers=headers)).json()["stock"] == 5
        assert (await read_books(db)).transactions == {}

    async def test_organizer_of_another_county_is_forbidden(self, client: httpx.AsyncClient, make: Factory) -> None:
        _, _, product_id, _, _ = await _setup(make)
        other = await make.county()
        stranger = await make.user(Role.organizer, county_ids=[other.id])
        body = {"unit_name": "A", "unit_type": "party", "items": [{"product_id": product_id, "quantity": 1}]}
        assert (await client.post("/api/subscriptions", json=body, headers=stranger.headers)).status_code == 403

    async def test_viewers_may_not_subscribe(self, client: httpx.AsyncClient, make: Factory) -> None:
        _, _, product_id, _, _ = await _setup(make)
        viewer = await make.user(Role.viewer)
        body = {"unit_name": "A", "unit_type": "party", "items": [{"product_id": product_id, "quantity": 1}]}
        assert (await client.post("/api/subscriptions", json=body, headers=viewer.headers)).status_code == 403

    async def test_bad_unit_type_and_unknown_product_are_422(self, client: httpx.AsyncClient, make: Factory) -> None:
        _, _, product_id, _, headers = await _setup(make)
        bad_type = {"unit_name": "A", "unit_type": "club", "items": [{"product_id": product_id, "quantity": 1}]}
        unknown = {"unit_name": "A", "unit_type": "party", "items": [{"product_id": 987654, "quantity": 1}]}
        assert (await client.post("/api/subscriptions", json=bad_type, headers=headers)).status_code == 422
        assert (await client.post("/api/subscriptions", json=unknown, headers=headers)).status_code == 422


class TestCreateStationSale:
    async def test_station_sale_is_tagged_physical_and_credited(self, client: httpx.AsyncClient, db: Database, make: Factory) -> None:
        _, station_id, product_id, _, headers = await _setup(make)
        response = await client.post(
            f"/api/stations/{station_id}/sales", json={"items": [{"product_id": product_id, "quantity": 3}]}, headers=headers
        )
        assert response.status_code == 201, response.text
        assert (response.json()["channel"], response.json()["station_id"], response.json()["total_fen"]) == ("physical", station_id, 999)
        books = await read_books(db)
        assert books.balances[f"station:{station_id}"] == 150  # 999 * 0.15 = 149.85
        assert sum(v for k, v in books.balances.items() if k != "clearing") == books.balances["clearing"] == 999

    async def test_staff_of_another_county_is_forbidden(self, client: httpx.AsyncClient, make: Factory) -> None:
        _, station_id, product_id, _, _ = await _setup(make)
        stranger = await make.user(Role.organizer, county_ids=[(await make.county()).id])
        response = await client.post(
            f"/api/stations/{station_id}/sales", json={"items": [{"product_id": product_id, "quantity": 1}]}, headers=stranger.headers
        )
        assert response.status_code == 403

    async def test_unknown_station_is_404(self, client: httpx.AsyncClient, make: Factory) -> None:
        _, _, product_id, _, headers = await _setup(make)
        response = await client.post(
            "/api/stations/99999/sales", json={"items": [{"product_id": product_id, "quantity": 1}]}, headers=headers
        )
        assert response.status_code == 404
