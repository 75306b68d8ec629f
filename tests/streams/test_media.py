"""A stream's live room link and HLS URL: set by its hosts and organizers, read by everyone."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from livecommerce.kit.db import Database
from livecommerce.kit.principal import Role
from tests.factories import Factory
from tests.livecommerce.orders.helpers import open_stream

ROOM = "https://live.douyin.com/123456"
HLS = "https://pull.example.cn/live/yangshan.m3u8"


@pytest.fixture
async def stream(make: Factory, db: Database) -> dict[str, Any]:
    county = await make.county()
    anchor = await make.anchor(county.id)
    product = await make.product(county.id)
    assert anchor.id is not None and product.id is not None and county.id is not None
    return {"id": await open_stream(db, anchor.id, [product.id]), "county_id": county.id, "anchor_id": anchor.id}


class TestSetMedia:
    async def test_an_organizer_sets_it_and_anyone_reads_it(self, client: httpx.AsyncClient, make: Factory, stream: dict[str, Any]) -> None:
        organizer = await make.user(Role.organizer, county_ids=[stream["county_id"]])
        body = {"platform": "douyin", "live_room_url": ROOM, "hls_url": HLS}
        r = await client.put(f"/api/streams/{stream['id']}/media", json=body, headers=organizer.headers)
        assert r.status_code == 200, r.text
        assert (await client.get(f"/api/streams/{stream['id']}/media")).json() == {"stream_id": stream["id"], **body}

    async def test_the_host_cadre_may_set_it(self, client: httpx.AsyncClient, make: Factory, stream: dict[str, Any]) -> None:
        host = await make.user(Role.cadre, anchor_id=stream["anchor_id"])
        r = await client.put(
            f"/api/streams/{stream['id']}/media", json={"platform": "kuaishou", "live_room_url": ROOM}, headers=host.headers
        )
        assert r.status_code == 200, r.text
        assert r.json()["hls_url"] is None

    async def test_a_viewer_may_not(self, client: httpx.AsyncClient, make: Factory, stream: dict[str, Any]) -> None:
        viewer = await make.user(Role.viewer)
        r = await client.put(f"/api/streams/{stream['id']}/media", json={"live_room_url": ROOM}, headers=viewer.headers)
        assert r.status_code == 403

    @pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,hi", "ftp://example.cn/a.m3u8", "live.douyin.com/1"])
    async def test_only_web_addresses_are_accepted(
        self, client: httpx.AsyncClient, make: Factory, stream: dict[str, Any], url: str
    ) -> None:
        admin = await make.user(Role.admin)
        for field in ("live_room_url", "hls_url"):
            r = await client.put(f"/api/streams/{stream['id']}/media", json={field: url}, headers=admin.headers)
            assert r.status_code == 422, (field, r.text)

    async def test_a_stream_without_media_reads_as_nulls_and_an_unknown_one_is_404(
        self, client: httpx.AsyncClient, stream: dict[str, Any]
    ) -> None:
        body = (await client.get(f"/api/streams/{stream['id']}/media")).json()
        assert body == {"stream_id": stream["id"], "platform": None, "live_room_url": None, "hls_url": None}
        assert (await client.get("/api/streams/999999/media")).status_code == 404
