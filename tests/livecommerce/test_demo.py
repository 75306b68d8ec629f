"""The demo data: what it holds, that its sign-ins work, and that loading it twice changes nothing."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import col

from livecommerce.accounts.models import User
from livecommerce.accounts.schemas import UserCreate
from livecommerce.accounts.service import create_user
from livecommerce.broadcasts.events import OutboxEvent
from livecommerce.broadcasts.models import Stream, StreamHost, StreamStatus
from livecommerce.catalog.models import Anchor, County, Household, Product, ProductSplit, Station
from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from livecommerce.main.demo import CAMPAIGN_NAME, DEMO_PASSWORD, load_demo
from livecommerce.main.registry import load_models
from schedulers.models import Booking, Campaign, Slot, Studio

NOW = datetime(2020, 10, 17, 11, 40, tzinfo=UTC)  # 19:40 in Guangdong, on Poverty Alleviation Day


async def load(db: Database, now: datetime = NOW) -> list[tuple[str, str, str]]:
    async with db.transaction() as session:
        return await load_demo(session, now=now)


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in load_models().sorted_tables}


class TestLoadDemo:
    async def test_returns_a_sign_in_for_every_role(self, db: Database) -> None:
        logins = await load(db)
        roles = {role for _, role, _ in logins}
        assert roles == {"admin", "organizer", "cadre", "viewer"}
        assert sum(role == "viewer" for _, role, _ in logins) == 2
        assert {"admin", "organizer_fogang", "organizer_north"} <= {u for u, _, _ in logins}

    async def test_holds_the_story_s_counties_and_produce(self, db: Database) -> None:
        await load(db)
        async with db.transaction() as session:
            names = set((await session.scalars(select(col(Product.name)))).all())
            households = (await session.scalars(select(Household))).all()
        for produce in ("广生源鸡蛋", "金仙米", "春忠宝蜂蜜", "双峰葛粉", "英德红茶", "南雄"):
            assert any(produce in n for n in names), produce
        assert len({h.county_id for h in households}) == 3
        assert all(h.registration_no and h.village for h in households)

    async def test_sets_a_mix_of_benefit_linkages_and_monitored_households(self, db: Database) -> None:
        await load(db)
        async with db.transaction() as session:
            households = (await session.scalars(select(Household))).all()
            mechanisms = set((await session.scalars(select(col(Product.linkage_mechanism)))).all())
        assert {h.linkage_type for h in households} == {"production", "employment", "dividend", "other", None}
        assert mechanisms == {"production", "employment", "dividend", "other", None}
        assert any(h.monitored for h in households) and not all(h.monitored for h in households)

    async def test_every_product_splits_exactly_10000_bp_within_its_county(self, db: Database) -> None:
        await load(db)
        async with db.transaction() as session:
            products = {p.id: p for p in (await session.scalars(select(Product))).all()}
            splits = (await session.scalars(select(ProductSplit))).all()
            household_county = {h.id: h.county_id for h in (await session.scalars(select(Household))).all()}
            station_county = {s.id: s.county_id for s in (await session.scalars(select(Station))).all()}
        totals: dict[int, int] = {}
        for split in splits:
            totals[split.product_id] = totals.get(split.product_id, 0) + split.bp
            county_id = products[split.product_id].county_id
            kind, _, raw_id = split.party.partition(":")
            if kind == "household":
                assert household_county[int(raw_id)] == county_id
            elif kind == "station":
                assert station_county[int(raw_id)] == county_id
            elif kind == "county":
                assert int(raw_id) == county_id
            else:
                assert split.party == "platform"
        assert totals == {pid: 10000 for pid in products}

    async def test_one_broadcast_is_live_and_others_are_coming_up(self, db: Database) -> None:
        await load(db)
        async with db.transaction() as session:
            streams = (await session.scalars(select(Stream).order_by(col(Stream.scheduled_start)))).all()
            bookings = {b.stream_id: b for b in (await session.scalars(select(Booking))).all()}
            events = (await session.scalars(select(OutboxEvent).order_by(col(OutboxEvent.seq)))).all()
            campaign = (await session.scalars(select(Campaign))).one()
            open_slots = (
                await session.scalars(select(Slot).where(col(Slot.id).not_in(select(col(Booking.slot_id)))))  # type: ignore[arg-type]
            ).all()
        live = [s for s in streams if s.status == StreamStatus.live]
        upcoming = [s for s in streams if s.status == StreamStatus.scheduled]
        assert len(live) == 1
        assert live[0].scheduled_start <= NOW < live[0].scheduled_end
        assert live[0].pinned_product_id is not None
        assert len(upcoming) >= 3 and all(s.scheduled_start > NOW for s in upcoming)
        assert bookings[live[0].id].status == "live"
        assert {bookings[s.id].status for s in upcoming} <= {"confirmed", "requested"}
        kinds = [e.type for e in events if e.stream_id == live[0].id]
        assert kinds[:2] == ["stream.started", "product.pinned"]
        assert {"order.placed", "order.paid", "stock.changed", "chat.message", "flash.announced"} <= set(kinds)
        assert campaign.name == CAMPAIGN_NAME and campaign.starts_at <= NOW < campaign.ends_at
        assert len(open_slots) >= 1

    @pytest.mark.parametrize("shanghai_hour", [0.2, 8.9, 15.99, 19.5, 23.75])
    async def test_no_anchor_or_studio_is_double_booked_whatever_the_hour(self, db: Database, shanghai_hour: float) -> None:
        await load(db, now=datetime(2020, 10, 16, 16, tzinfo=UTC) + timedelta(hours=shanghai_hour))
        async with db.transaction() as session:
            streams = (await session.scalars(select(Stream))).all()
            hosts = (await session.scalars(select(StreamHost))).all()
        windows: dict[str, list[tuple[datetime, datetime]]] = {}
        by_id = {s.id: s for s in streams}
        for stream in streams:
            windows.setdefault(f"studio:{stream.studio_id}", []).append((stream.scheduled_start, stream.scheduled_end))
        for host in hosts:
            stream = by_id[host.stream_id]
            windows.setdefault(f"anchor:{host.anchor_id}", []).append((stream.scheduled_start, stream.scheduled_end))
        assert len(windows) > 2
        for booked in windows.values():
            for (_, end), (next_start, _) in itertools.pairwise(sorted(booked)):
                assert end + timedelta(minutes=15) <= next_start

    async def test_fogangs_studio_airs_only_fogangs_broadcasts_and_the_base_is_shared(self, db: Database) -> None:
        await load(db)
        async with db.transaction() as session:
            studios = {s.name: s for s in (await session.scalars(select(Studio))).all()}
            fogang = (await session.scalars(select(County).where(col(County.name).contains("Fogang")))).one()
            streams = (await session.scalars(select(Stream))).all()
            hosts = (await session.scalars(select(StreamHost))).all()
            anchors = {a.id: a.county_id for a in (await session.scalars(select(Anchor))).all()}
        own = next(s for name, s in studios.items() if "Fogang" in name)
        assert own.county_id == fogang.id
        assert [s.county_id for name, s in studios.items() if "Qingyuan" in name] == [None]
        in_own = {s.id for s in streams if s.studio_id == own.id}
        assert in_own
        assert {anchors[h.anchor_id] for h in hosts if h.stream_id in in_own} == {fogang.id}

    async def test_a_second_load_changes_nothing_and_returns_the_same_sign_ins(self, db: Database, sync_engine: Engine) -> None:
        first = await load(db)
        before = row_counts(sync_engine)
        second = await load(db, now=NOW + timedelta(days=1))
        assert second == first
        assert row_counts(sync_engine) == before

    async def test_an_existing_admin_keeps_its_password_and_is_flagged(self, db: Database) -> None:
        async with db.transaction() as session:
            await create_user(session, UserCreate(username="admin", password="the operator's own", role=Role.admin, display_name="Ops"))
        logins = {u: who for u, _, who in await load(db)}
        assert "own password" in logins["admin"]
        async with db.transaction() as session:
            admins = (await session.scalars(select(User).where(col(User.username) == "admin"))).all()
        assert [a.display_name for a in admins] == ["Ops"]


class TestDemoCoversEveryFeature:
    async def test_the_live_broadcast_has_a_deal_chat_shipped_orders_and_a_unit_with_its_quota(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await load(db)
        live = (await client.get("/api/streams?status=live")).json()["items"]
        stream_id = live[0]["id"]
        deals = (await client.get(f"/api/streams/{stream_id}/flash-deals")).json()["items"]
        assert deals and deals[0]["quantity"] == 100 and deals[0]["price_fen"] == 2390  # loaded in 2020: long ended by now
        chat = (await client.get(f"/api/streams/{stream_id}/chat")).json()["items"]
        assert any("鸡蛋" in m["text"] for m in chat)
        token = (await client.post("/api/auth/token", data={"username": "organizer_fogang", "password": DEMO_PASSWORD})).json()
        staff = {"Authorization": f"Bearer {token['access_token']}"}
        picks = (await client.get("/api/fulfillment?status=shipped", headers=staff)).json()["items"]
        assert any(item["shipments"] for item in picks)
        units = (await client.get("/api/units", headers=staff)).json()["items"]
        assert sorted(u["unit_type"] for u in units) == ["enterprise", "government", "school", "union"]
        by_type = {u["unit_type"]: u for u in units}
        assert by_type["union"]["parent_unit_id"] == by_type["enterprise"]["id"]
        quota = (await client.get(f"/api/units/{by_type['government']['id']}/quota?year={NOW.year}", headers=staff)).json()
        assert quota["completed_fen"] > 0 and quota["quota_fen"] == 12_000_000
        for kind in ("school", "enterprise"):
            figures = (await client.get(f"/api/units/{by_type[kind]['id']}/quota?year={NOW.year}", headers=staff)).json()
            assert figures["completed_fen"] > 0, kind

    async def test_some_credits_are_settled_and_some_pending(self, client: httpx.AsyncClient, db: Database) -> None:
        await load(db)
        token = (await client.post("/api/auth/token", data={"username": "admin", "password": DEMO_PASSWORD})).json()
        admin = {"Authorization": f"Bearer {token['access_token']}"}
        async with db.sessionmaker() as session:
            station_id = await session.scalar(select(Station.id).where(col(Station.name) == "水头镇王田村电商服务站"))
        station = (await client.get(f"/api/ledger/accounts/station:{station_id}", headers=admin)).json()
        assert station["settled_fen"] > 0 and station["pending_fen"] > 0
        assert station["settled_fen"] + station["pending_fen"] == station["balance_fen"]
        clearing = (await client.get("/api/ledger/accounts/clearing", headers=admin)).json()
        assert 0 < clearing["settled_fen"] < clearing["balance_fen"]
        assert (await client.get("/api/ledger/check", headers=admin)).json()["balanced"]


class TestDemoSignIns:
    async def _token(self, client: httpx.AsyncClient, username: str) -> dict[str, str]:
        r = await client.post("/api/auth/token", data={"username": username, "password": DEMO_PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    async def test_every_demo_login_signs_in(self, client: httpx.AsyncClient, db: Database) -> None:
        for username, role, _ in await load(db):
            me = (await client.get("/api/me", headers=await self._token(client, username))).json()
            assert me["role"] == role

    async def test_organizers_see_their_own_households_unmasked_only(self, client: httpx.AsyncClient, db: Database) -> None:
        await load(db)

        async def households(username: str) -> list[dict[str, Any]]:
            r = await client.get("/api/households", params={"limit": 200}, headers=await self._token(client, username))
            items: list[dict[str, Any]] = r.json()["items"]
            return items

        counties = (await client.get("/api/counties")).json()["items"]
        fogang_id = next(c["id"] for c in counties if c["code"] == "441821")

        def masked_by_county(items: list[dict[str, Any]]) -> dict[bool, set[bool]]:
            seen: dict[bool, set[bool]] = {True: set(), False: set()}
            for h in items:
                seen[h["county_id"] == fogang_id].add(h["masked"])
            return seen

        assert masked_by_county(await households("organizer_fogang")) == {True: {False}, False: {True}}
        assert masked_by_county(await households("organizer_north")) == {True: {True}, False: {False}}
        assert masked_by_county(await households("admin")) == {True: {False}, False: {False}}
        assert masked_by_county(await households("viewer_li")) == {True: {True}, False: {True}}
        assert masked_by_county(await households("cadre_huang")) == {True: {True}, False: {True}}

    async def test_cadres_host_as_their_anchor(self, client: httpx.AsyncClient, db: Database) -> None:
        await load(db)
        me = (await client.get("/api/me", headers=await self._token(client, "cadre_huang"))).json()
        anchor = (await client.get(f"/api/anchors/{me['anchor_id']}")).json()
        assert anchor["name"] == "黄建华" and "县长" in anchor["title"]
