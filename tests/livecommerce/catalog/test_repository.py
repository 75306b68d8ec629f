"""The catalog's reads for other modules: each returns only what exists, in a stable order."""

from __future__ import annotations

from livecommerce.catalog import repository
from livecommerce.kit.db import Database
from livecommerce.kit.pagination import PageParams
from tests.factories import Factory


class TestNames:
    async def test_county_and_product_names_skip_unknown_ids(self, make: Factory, db: Database) -> None:
        county = await make.county(name="佛冈县")
        product = await make.product(county.id, name="鸡蛋")
        async with db.sessionmaker() as session:
            assert await repository.county_names(session, [county.id, 999_999]) == {county.id: "佛冈县"}
            assert await repository.product_names(session, [product.id, 999_999]) == {product.id: "鸡蛋"}
            assert await repository.product_names(session, []) == {}


class TestProducts:
    async def test_products_by_ids_come_in_id_order(self, make: Factory, db: Database) -> None:
        county = await make.county()
        first, second = await make.product(county.id), await make.product(county.id)
        async with db.sessionmaker() as session:
            assert [p.id for p in await repository.products_by_ids(session, [second.id, first.id, second.id])] == [first.id, second.id]

    async def test_active_products_of_counties_leave_out_inactive_and_other_counties(self, make: Factory, db: Database) -> None:
        county, other = await make.county(), await make.county()
        kept = await make.product(county.id, name="A rice")
        retired = await make.product(county.id, name="B honey")
        await make.product(other.id, name="C tea")
        async with db.transaction() as session:
            retired.is_active = False
            session.add(retired)
        async with db.sessionmaker() as session:
            assert [p.id for p in await repository.active_products_of_counties(session, {county.id})] == [kept.id]

    async def test_prices_of_name_each_existing_product(self, make: Factory, db: Database) -> None:
        county = await make.county()
        product = await make.product(county.id, price_fen=2590)
        async with db.sessionmaker() as session:
            assert await repository.prices_of(session, [product.id, 999_999]) == {product.id: 2590}


class TestParties:
    async def test_county_of_each_kind_of_party(self, make: Factory, db: Database) -> None:
        county = await make.county()
        station = await make.station(county.id)
        household = await make.household(county.id)
        async with db.sessionmaker() as session:
            assert await repository.county_of(session, "county", county.id) == county.id
            assert await repository.county_of(session, "station", station.id) == county.id
            assert await repository.county_of(session, "household", household.id) == county.id
            assert await repository.county_of(session, "household", 999_999) is None

    async def test_stations_and_households_of_counties_in_id_order(self, make: Factory, db: Database) -> None:
        county, other = await make.county(), await make.county()
        stations = [await make.station(county.id, name=f"站 {i}") for i in range(2)]
        await make.station(other.id)
        households = [await make.household(county.id) for _ in range(2)]
        async with db.sessionmaker() as session:
            assert await repository.stations_of_counties(session, [county.id]) == [(s.id, s.name) for s in stations]
            assert [i for i, _ in await repository.households_of_counties(session, [county.id])] == [h.id for h in households]


class TestNaturalKeys:
    async def test_find_by_natural_key_returns_the_row_or_none(self, make: Factory, db: Database) -> None:
        county = await make.county(code="441821")
        anchor = await make.anchor(county.id, name="王县长")
        async with db.sessionmaker() as session:
            found = await repository.find_county(session, "441821")
            assert found is not None and found.id == county.id
            assert await repository.find_county(session, "000000") is None
            anchor_found = await repository.find_anchor(session, county.id, "王县长")
            assert anchor_found is not None and anchor_found.id == anchor.id
            assert await repository.find_anchor(session, county.id, "nobody") is None


class TestBackOfficeSearch:
    async def test_products_keep_to_the_callers_counties_and_the_one_asked_for(self, make: Factory, db: Database) -> None:
        county, other = await make.county(), await make.county()
        mine = await make.product(county.id, name="Rice")
        await make.product(other.id, name="Rice too")
        async with db.sessionmaker() as session:
            rows, _ = await repository.search_products(session, PageParams(limit=10, after_id=None), county_ids={county.id}, text="rice")
            assert [p.id for p in rows] == [mine.id]
            rows, _ = await repository.search_products(
                session, PageParams(limit=10, after_id=None), county_ids={county.id}, county_id=other.id
            )
            assert rows == []
            rows, _ = await repository.search_products(session, PageParams(limit=10, after_id=None), county_ids=None, text="RICE")
            assert len(rows) == 2

    async def test_text_is_matched_literally_not_as_a_pattern(self, make: Factory, db: Database) -> None:
        county = await make.county()
        await make.station(county.id, name="Station 100% organic")
        plain = await make.station(county.id, name="Station_1")
        await make.station(county.id, name="StationX1")
        async with db.sessionmaker() as session:
            page = PageParams(limit=10, after_id=None)
            assert len((await repository.search_stations(session, page, county_ids=None, text="100%"))[0]) == 1
            assert [s.id for s in (await repository.search_stations(session, page, county_ids=None, text="n_1"))[0]] == [plain.id]

    async def test_households_by_monitoring_and_a_page_at_a_time(self, make: Factory, db: Database) -> None:
        county = await make.county()
        watched = await make.household(county.id, monitored=True)
        others = [await make.household(county.id) for _ in range(3)]
        async with db.sessionmaker() as session:
            rows, _ = await repository.search_households(
                session, PageParams(limit=10, after_id=None), county_ids={county.id}, status="monitored"
            )
            assert [h.id for h in rows] == [watched.id]
            first, cursor = await repository.search_households(session, PageParams(limit=2, after_id=None), county_ids={county.id})
            assert cursor is not None and len(first) == 2
            rest, cursor = await repository.search_households(session, PageParams(limit=2, after_id=int(cursor)), county_ids={county.id})
            assert [h.id for h in first + rest] == [watched.id, *[h.id for h in others]] and cursor is None
