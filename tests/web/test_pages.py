"""Server-rendered pages: who may see what, sign-in, languages, money and time formats."""

from __future__ import annotations

import re

import httpx
import pytest

from livecommerce.kit.principal import Role
from tests.factories import Factory
from tests.web.helpers import make_stream


def _cookie_login(client: httpx.AsyncClient, token: str) -> None:
    client.cookies.set("lc_token", token)


class TestHome:
    async def test_lists_live_and_upcoming_streams(self, client: httpx.AsyncClient, make: Factory) -> None:
        live = await make_stream(make, title="Oranges live")
        upcoming = await make_stream(make, live=False, title="Tea tomorrow")
        response = await client.get("/", headers={"Accept-Language": "en"})
        assert response.status_code == 200
        assert "Oranges live" in response.text and "Tea tomorrow" in response.text
        assert f'href="/streams/{live.stream.id}"' in response.text
        assert f'href="/streams/{upcoming.stream.id}"' in response.text
        assert "Li Ming" in response.text

    async def test_sends_a_content_security_policy_that_allows_only_this_origin(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/")
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        assert not re.search(r'(src|href)="(https?:)?//', response.text), "every asset must be served by the app itself"


class TestLanguage:
    async def test_chinese_from_accept_language(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
        assert '<html lang="zh-CN">' in response.text
        assert "正在直播" in response.text

    async def test_english_from_accept_language(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"})
        assert '<html lang="en">' in response.text
        assert "Live now" in response.text

    async def test_switch_sets_a_cookie_that_wins_over_the_header(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/lang/en?next=/login")
        assert response.status_code == 303
        assert response.headers["location"] == "/login"
        assert "lc_lang=en" in response.headers["set-cookie"]
        page = await client.get("/", headers={"Accept-Language": "zh-CN"})
        assert '<html lang="en">' in page.text

    async def test_switch_refuses_to_redirect_off_site(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/lang/zh-CN?next=//evil.example/")
        assert response.headers["location"] == "/"


class TestLogin:
    async def test_sets_an_httponly_samesite_cookie_and_redirects_by_role(self, client: httpx.AsyncClient, make: Factory) -> None:
        organizer = await make.user(Role.organizer)
        response = await client.post("/login", data={"username": organizer.username, "password": "correct horse battery"})
        assert response.status_code == 303
        assert response.headers["location"] == "/dashboard"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("lc_token=")
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
        me = await client.get("/api/me")
        assert me.status_code == 200 and me.json()["username"] == organizer.username

    async def test_goes_back_to_the_page_asked_for(self, client: httpx.AsyncClient, make: Factory) -> None:
        viewer = await make.user(Role.viewer)
        response = await client.post(
            "/login", data={"username": viewer.username, "password": "correct horse battery", "next": "/streams/3"}
        )
        assert response.headers["location"] == "/streams/3"

    async def test_wrong_password_shows_the_form_again_with_401(self, client: httpx.AsyncClient, make: Factory) -> None:
        viewer = await make.user(Role.viewer)
        response = await client.post(
            "/login", data={"username": viewer.username, "password": "wrong password!"}, headers={"Accept-Language": "en"}
        )
        assert response.status_code == 401
        assert "Wrong username or password." in response.text
        assert "set-cookie" not in response.headers

    async def test_page_scripts_get_json(self, client: httpx.AsyncClient, make: Factory) -> None:
        viewer = await make.user(Role.viewer, display_name="Wang Fang")
        response = await client.post(
            "/login", data={"username": viewer.username, "password": "correct horse battery"}, headers={"X-Requested-With": "fetch"}
        )
        assert response.status_code == 200
        assert response.json() == {"id": viewer.id, "role": "viewer", "name": "Wang Fang"}
        bad = await client.post(
            "/login", data={"username": viewer.username, "password": "nope nope"}, headers={"X-Requested-With": "fetch"}
        )
        assert bad.status_code == 401

    async def test_cross_site_post_is_refused(self, client: httpx.AsyncClient, make: Factory) -> None:
        viewer = await make.user(Role.viewer)
        response = await client.post(
            "/login", data={"username": viewer.username, "password": "correct horse battery"}, headers={"Origin": "https://evil.example"}
        )
        assert response.status_code == 403
        assert "set-cookie" not in response.headers

    async def test_logout_clears_the_cookie(self, client: httpx.AsyncClient, make: Factory) -> None:
        viewer = await make.user(Role.viewer)
        _cookie_login(client, viewer.token)
        response = await client.post("/logout")
        assert response.status_code == 303
        assert 'lc_token=""' in response.headers["set-cookie"] or "lc_token=;" in response.headers["set-cookie"]


class TestCsrf:
    async def test_cookie_authenticated_change_without_header_is_refused(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        _cookie_login(client, admin.token)
        body = {"name": "Lianzhou", "code": "LZ01", "city": "Qingyuan", "province": "Guangdong"}
        refused = await client.post("/api/counties", json=body)
        assert refused.status_code == 403
        accepted = await client.post("/api/counties", json=body, headers={"X-Requested-With": "fetch"})
        assert accepted.status_code == 201

    async def test_bearer_callers_need_no_header(self, client: httpx.AsyncClient, make: Factory) -> None:
        admin = await make.user(Role.admin)
        body = {"name": "Liannan", "code": "LN01", "city": "Qingyuan", "province": "Guangdong"}
        response = await client.post("/api/counties", json=body, headers=admin.headers)
        assert response.status_code == 201

    async def test_cookie_reads_need_no_header(self, client: httpx.AsyncClient, make: Factory) -> None:
        viewer = await make.user(Role.viewer)
        _cookie_login(client, viewer.token)
        assert (await client.get("/api/me")).status_code == 200


class TestAccess:
    @pytest.mark.parametrize("path", ["/dashboard", "/reports", "/schedule", "/dashboard/streams/1", "/reports/streams/1"])
    async def test_anonymous_visitors_are_sent_to_login(self, client: httpx.AsyncClient, path: str) -> None:
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")

    @pytest.mark.parametrize("path", ["/dashboard", "/reports", "/schedule"])
    async def test_viewers_are_sent_to_login(self, client: httpx.AsyncClient, make: Factory, path: str) -> None:
        viewer = await make.user(Role.viewer)
        _cookie_login(client, viewer.token)
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].endswith("&need=role")

    async def test_cadres_see_the_schedule_but_not_the_dashboard(self, client: httpx.AsyncClient, make: Factory) -> None:
        county = await make.county()
        anchor = await make.anchor(county.id)
        cadre = await make.user(Role.cadre, anchor_id=anchor.id, county_ids=[county.id])
        _cookie_login(client, cadre.token)
        assert (await client.get("/schedule")).status_code == 200
        assert (await client.get("/dashboard")).status_code == 303

    async def test_the_schedule_offers_shared_studios_and_the_cadres_county_but_not_anothers(
        self, client: httpx.AsyncClient, make: Factory
    ) -> None:
        county, other = await make.county(), await make.county()
        anchor = await make.anchor(county.id)
        cadre = await make.user(Role.cadre, anchor_id=anchor.id, county_ids=[county.id])
        admin = await make.user(Role.admin)
        for name, county_id in (("Ours 本县直播间", county.id), ("Shared 共用直播间", None), ("Theirs 外县直播间", other.id)):
            studio_body = {"name": name, "platform": "douyin", "county_id": county_id}
            studio = await client.post("/api/studios", json=studio_body, headers=admin.headers)
            assert studio.status_code == 201, studio.text
            body = {"studio_id": studio.json()["id"], "starts_at": "2030-03-05T02:00:00+00:00", "ends_at": "2030-03-05T03:00:00+00:00"}
            assert (await client.post("/api/slots", json=body, headers=admin.headers)).status_code == 201
        _cookie_login(client, cadre.token)
        page = (await client.get("/schedule?week=2030-03-04")).text
        assert "Ours 本县直播间" in page
        assert "Shared 共用直播间" in page
        assert "Theirs 外县直播间" not in page
        _cookie_login(client, admin.token)
        assert "Theirs 外县直播间" in (await client.get("/schedule?week=2030-03-04")).text

    async def test_organizer_of_another_county_cannot_open_a_stream_dashboard(self, client: httpx.AsyncClient, make: Factory) -> None:
        setup = await make_stream(make)
        other = await make.county()
        organizer = await make.user(Role.organizer, county_ids=[other.id])
        _cookie_login(client, organizer.token)
        response = await client.get(f"/dashboard/streams/{setup.stream.id}")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")

    async def test_an_expired_or_forged_cookie_counts_as_signed_out(self, client: httpx.AsyncClient) -> None:
        client.cookies.set("lc_token", "not-a-token")
        assert (await client.get("/")).status_code == 200
        assert (await client.get("/dashboard")).status_code == 303


class TestStreamPage:
    async def test_shows_hosts_pinned_product_price_and_stock(self, client: httpx.AsyncClient, make: Factory) -> None:
        setup = await make_stream(make)
        response = await client.get(f"/streams/{setup.stream.id}", headers={"Accept-Language": "en"})
        assert response.status_code == 200
        text = response.text
        assert "Li Ming" in text and "Deputy county head" in text
        pinned = text.split('id="pinned-body"')[1].split("</section>")[0]
        assert "Sugar oranges" in pinned and "¥39.90" in pinned and "50 left" in pinned

    async def test_boot_data_carries_the_last_seq_to_resume_from(self, client: httpx.AsyncClient, make: Factory) -> None:
        setup = await make_stream(make)
        response = await client.get(f"/streams/{setup.stream.id}")
        boot = response.text.split('<script type="application/json" id="boot">')[1].split("</script>")[0]
        assert '"last_seq": 2' in boot  # stream.started, product.pinned

    async def test_hosts_get_studio_controls_and_viewers_do_not(self, client: httpx.AsyncClient, make: Factory) -> None:
        setup = await make_stream(make)
        cadre = await make.user(Role.cadre, anchor_id=setup.anchor.id, county_ids=[setup.county.id])
        viewer = await make.user(Role.viewer)
        _cookie_login(client, viewer.token)
        assert 'id="controls"' not in (await client.get(f"/streams/{setup.stream.id}")).text
        _cookie_login(client, cadre.token)
        assert 'id="controls"' in (await client.get(f"/streams/{setup.stream.id}")).text

    async def test_unknown_stream_is_404(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/streams/999999")).status_code == 404


class TestDashboard:
    async def test_lists_the_days_streams_of_the_organizers_counties(self, client: httpx.AsyncClient, make: Factory) -> None:
        mine = await make_stream(make, title="Mine today")
        theirs = await make_stream(make, title="Not my county")
        organizer = await make.user(Role.organizer, county_ids=[mine.county.id])
        _cookie_login(client, organizer.token)
        response = await client.get("/dashboard")
        assert response.status_code == 200
        assert "Mine today" in response.text and "Not my county" not in response.text
        assert f"/dashboard/streams/{mine.stream.id}" in response.text
        assert theirs.stream.id != mine.stream.id

    async def test_stream_dashboard_renders_for_its_organizer(self, client: httpx.AsyncClient, make: Factory) -> None:
        setup = await make_stream(make)
        organizer = await make.user(Role.organizer, county_ids=[setup.county.id])
        _cookie_login(client, organizer.token)
        response = await client.get(f"/dashboard/streams/{setup.stream.id}")
        assert response.status_code == 200
        assert "chart.umd.min.js" in response.text


class TestStaticAssets:
    async def test_vendored_chart_library_is_served_with_its_licence(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/static/vendor/chartjs/chart.umd.min.js")
        assert response.status_code == 200
        assert "javascript" in response.headers["content-type"]
        assert "Chart.js v4" in response.text[:200]
        licence = await client.get("/static/vendor/chartjs/LICENSE.md")
        assert licence.status_code == 200 and "MIT" in licence.text

    async def test_page_script_is_served(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/static/js/live.js")
        assert response.status_code == 200
        assert "since=" in response.text

    async def test_no_path_traversal(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/static/..%2F..%2Flivecommerce%2Fsettings.py")
        assert response.status_code == 404


class TestStaleCookie:
    async def test_a_page_drops_a_cookie_that_no_longer_signs_in(self, client: httpx.AsyncClient) -> None:
        client.cookies.set("lc_token", "not-a-token")
        response = await client.get("/")
        assert 'lc_token=""' in response.headers.get("set-cookie", "") or "lc_token=;" in response.headers.get("set-cookie", "")
