"""The authorization matrix in docs/permissions.md, checked cell by cell against the running app.

Each row of the table is one test: it builds both sides of the world, then calls the endpoint as
every role on a target inside and outside that role's scope, and compares the status class with
the cell. A second test holds the table to the OpenAPI schema, so a new route without a row fails.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from livecommerce.catalog import stock
from livecommerce.catalog.stock import NewDeal
from livecommerce.kit.clock import utcnow
from livecommerce.kit.db import Database
from livecommerce.kit.settings import Settings
from livecommerce.main.app import create_app
from tests.factories import Factory
from tests.security.world import PASSWORD, ROLES, Call, Side, World

DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"
_EXPECTATION = re.compile(r"^(2xx|401|403|404)$")


@dataclass(frozen=True)
class Row:
    """One line of the API table."""

    method: str
    path: str
    cells: dict[str, tuple[str, str]]  # role -> (in scope, out of scope)

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


def _cell(text: str) -> tuple[str, str]:
    parts = [p.strip() for p in text.replace("masked", "").split("/")]
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or not all(_EXPECTATION.match(p) for p in parts):
        raise ValueError(f"unreadable cell {text!r}")
    return parts[0], parts[1]


def parse_matrix(text: str) -> list[Row]:
    """The rows of the table under `## API`."""
    section = text.split("## API", 1)[1].split("\n## ", 1)[0]
    lines = [line.strip() for line in section.splitlines() if line.strip().startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:7] == ["Method", "Path", *ROLES], header
    rows = []
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append(Row(cells[0], cells[1], {role: _cell(cells[2 + i]) for i, role in enumerate(ROLES)}))
    return rows


ROWS = parse_matrix(DOC.read_text())
Builder = Callable[[World, Side], Awaitable[Call]]
BUILDERS: dict[str, Builder] = {}


def builds(key: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        BUILDERS[key] = fn
        return fn

    return register


def get(url: str) -> Builder:
    async def build(_w: World, _s: Side) -> Call:
        return Call("GET", url)

    return build


def _unique() -> str:
    return uuid.uuid4().hex[:10]


# --- accounts --------------------------------------------------------------------------------


@builds("POST /api/auth/token")
async def _sign_in(w: World, s: Side) -> Call:
    return Call("POST", "/api/auth/token", data={"username": await w.username(s.viewer_id), "password": PASSWORD})


@builds("POST /api/auth/refresh")
async def _refresh(w: World, s: Side) -> Call:
    return Call("POST", "/api/auth/refresh", json={"refresh_token": await w.token(s.viewer_id, kind="refresh")})


BUILDERS["POST /api/auth/logout"] = lambda w, s: _call("POST", "/api/auth/logout")


async def _call(method: str, url: str, **kwargs: object) -> Call:
    return Call(method, url, **kwargs)  # type: ignore[arg-type]


BUILDERS["POST /api/auth/password"] = lambda w, s: _call(
    "POST", "/api/auth/password", json={"current_password": PASSWORD, "new_password": PASSWORD}
)
BUILDERS["POST /api/auth/register"] = lambda w, s: _call(
    "POST", "/api/auth/register", json={"username": f"new_{_unique()}", "password": PASSWORD, "display_name": "新人"}
)
BUILDERS["GET /api/me"] = get("/api/me")
BUILDERS["POST /api/users"] = lambda w, s: _call(
    "POST",
    "/api/users",
    json={"username": f"u_{_unique()}", "password": PASSWORD, "role": "organizer", "display_name": "x", "county_ids": [s.county_id]},
)


@builds("PATCH /api/users/{user_id}")
async def _patch_user(w: World, s: Side) -> Call:
    from livecommerce.kit.principal import Role

    target = await w.user(Role.viewer)
    return Call("PATCH", f"/api/users/{target}", json={"role": "organizer", "county_ids": [s.county_id]})


# --- master data -----------------------------------------------------------------------------

BUILDERS["POST /api/counties"] = lambda w, s: _call(
    "POST", "/api/counties", json={"name": "Lianzhou", "code": f"LZ{_unique()}", "city": "Qingyuan", "province": "Guangdong"}
)
BUILDERS["GET /api/counties"] = get("/api/counties")


@builds("GET /api/counties/{county_id}")
async def _county(w: World, s: Side) -> Call:
    return Call("GET", f"/api/counties/{s.county_id}")


BUILDERS["POST /api/stations"] = lambda w, s: _call(
    "POST", "/api/stations", json={"county_id": s.county_id, "name": "Store", "village": "Xintang"}
)
BUILDERS["GET /api/stations"] = get("/api/stations")
BUILDERS["GET /api/stations/{station_id}"] = lambda w, s: _call("GET", f"/api/stations/{s.station_id}")
BUILDERS["PATCH /api/stations/{station_id}"] = lambda w, s: _call("PATCH", f"/api/stations/{s.station_id}", json={"village": "Xintang"})
BUILDERS["POST /api/households"] = lambda w, s: _call(
    "POST", "/api/households", json={"county_id": s.county_id, "name": "李桂兰", "village": "Xintang", "registration_no": "441821190001"}
)


def _upload(path: str, rows: str, county_id: int) -> Builder:
    """A multipart CSV upload into the side's county (the county named by the query, so out of scope is 403)."""

    async def build(_w: World, _s: Side) -> Call:
        boundary = uuid.uuid4().hex
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="rows.csv"\r\nContent-Type: text/csv\r\n\r\n'
            f"{rows}\r\n--{boundary}--\r\n"
        ).encode()
        return Call(
            "POST", f"{path}?county_id={county_id}", content=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )

    return build


BUILDERS["POST /api/households/import"] = lambda w, s: _upload(
    "/api/households/import", f"name,village,registration_no\n李桂兰,Xintang,IMPORT{s.county_id:06d}\n", s.county_id
)(w, s)
BUILDERS["POST /api/products/import"] = lambda w, s: _upload(
    "/api/products/import", "name,unit,price_yuan,stock,splits\n菜心,箱,9.90,5,platform=10000\n", s.county_id
)(w, s)
BUILDERS["GET /api/households/import-template.xlsx"] = get("/api/households/import-template.xlsx")
BUILDERS["GET /api/products/import-template.xlsx"] = get("/api/products/import-template.xlsx")
BUILDERS["GET /api/households"] = lambda w, s: _call("GET", f"/api/households?county_id={s.county_id}")
BUILDERS["GET /api/households/{household_id}"] = lambda w, s: _call("GET", f"/api/households/{s.household_id}")
BUILDERS["POST /api/anchors"] = lambda w, s: _call(
    "POST", "/api/anchors", json={"name": "Chen", "title": "Village head", "county_id": s.county_id}
)
BUILDERS["GET /api/anchors"] = get("/api/anchors")
BUILDERS["GET /api/anchors/{anchor_id}"] = lambda w, s: _call("GET", f"/api/anchors/{s.anchor_id}")
BUILDERS["POST /api/products"] = lambda w, s: _call(
    "POST",
    "/api/products",
    json={
        "name": "Tea",
        "county_id": s.county_id,
        "unit": "box",
        "price_fen": 5000,
        "stock": 10,
        "splits": [{"party": f"household:{s.household_id}", "bp": 8000}, {"party": "platform", "bp": 2000}],
    },
)
BUILDERS["GET /api/products"] = get("/api/products")
BUILDERS["GET /api/products/{product_id}"] = lambda w, s: _call("GET", f"/api/products/{s.product_id}")
BUILDERS["PATCH /api/products/{product_id}"] = lambda w, s: _call(
    "PATCH", f"/api/products/{s.product_id}", json={"price_fen": 9000 + next(_prices)}
)
_prices = iter(range(1, 1_000_000))


async def _certificate(w: World, s: Side) -> None:
    body = {"certificate_no": f"GD-{_unique()}", "valid_until": "2099-12-31"}
    r = await w.client.post(f"/api/products/{s.product_id}/certification", json=body, headers=await w.headers("admin"))
    assert r.status_code == 201, r.text


BUILDERS["POST /api/products/{product_id}/certification"] = lambda w, s: _call(
    "POST", f"/api/products/{s.product_id}/certification", json={"certificate_no": f"GD-{_unique()}", "valid_until": "2099-12-31"}
)


@builds("DELETE /api/products/{product_id}/certification")
async def _revoke_certification(w: World, s: Side) -> Call:
    await _certificate(w, s)
    return Call("DELETE", f"/api/products/{s.product_id}/certification")


BUILDERS["PATCH /api/households/{household_id}"] = lambda w, s: _call(
    "PATCH", f"/api/households/{s.household_id}", json={"monitored": True}
)

# --- orders ----------------------------------------------------------------------------------


@builds("POST /api/streams/{stream_id}/orders")
async def _place(w: World, s: Side) -> Call:
    stream_id = await w.cached(s, "live_stream", lambda: w.stream(s))
    body = {"items": [{"product_id": s.product_id, "quantity": 1}]}
    return Call("POST", f"/api/streams/{stream_id}/orders", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})


@builds("POST /api/orders/{order_id}/pay")
async def _pay(w: World, s: Side) -> Call:
    return Call("POST", f"/api/orders/{(await w.order(s))['id']}/pay")


@builds("POST /api/payments/webhook")
async def _webhook(w: World, s: Side) -> Call:
    return w.webhook(await w.order(s))


@builds("POST /api/payments/{provider}/notify")
async def _notify(w: World, s: Side) -> Call:
    signed = w.webhook(await w.order(s))
    return Call("POST", "/api/payments/sandbox/notify", content=signed.content, headers=signed.headers)


BUILDERS["GET /api/payments/{provider}/reconciliation"] = get("/api/payments/sandbox/reconciliation?date=2026-12-01")


@builds("POST /api/orders/{order_id}/pay/confirm")
async def _confirm(w: World, s: Side) -> Call:
    order = await w.cached(s, "order", lambda: w.order(s))
    return Call("POST", f"/api/orders/{order['id']}/pay/confirm", json={"provider": "sandbox"})


@builds("POST /api/orders/{order_id}/cancel")
async def _cancel(w: World, s: Side) -> Call:
    return Call("POST", f"/api/orders/{(await w.order(s))['id']}/cancel")


@builds("POST /api/orders/{order_id}/refund")
async def _refund(w: World, s: Side) -> Call:
    return Call("POST", f"/api/orders/{(await w.order(s, paid=True))['id']}/refund")


@builds("GET /api/orders/{order_id}")
async def _read_order(w: World, s: Side) -> Call:
    order = await w.cached(s, "order", lambda: w.order(s))
    return Call("GET", f"/api/orders/{order['id']}")


BUILDERS["GET /api/me/orders"] = get("/api/me/orders")


# --- fulfillment and after-sales -------------------------------------------------------------

_ADDRESS = {
    "recipient": "王秀英",
    "phone": "13812345678",
    "province": "广东省",
    "city": "清远市",
    "district": "连州市",
    "detail": "新塘村3号",
}
BUILDERS["POST /api/me/addresses"] = lambda w, s: _call("POST", "/api/me/addresses", json=_ADDRESS)
BUILDERS["GET /api/me/addresses"] = get("/api/me/addresses")
BUILDERS["GET /api/fulfillment"] = lambda w, s: _call("GET", f"/api/fulfillment?county_id={s.county_id}")
BUILDERS["GET /api/fulfillment.xlsx"] = lambda w, s: _call("GET", f"/api/fulfillment.xlsx?county_id={s.county_id}")
BUILDERS["GET /api/refund-requests"] = get("/api/refund-requests")


def _tracking_no() -> str:
    return f"SF{uuid.uuid4().int % 10**12:012d}"


@builds("POST /api/orders/{order_id}/shipments")
async def _ship(w: World, s: Side) -> Call:
    order = await w.order(s, paid=True)
    return Call("POST", f"/api/orders/{order['id']}/shipments", json={"carrier": "SF", "tracking_no": _tracking_no()})


@builds("POST /api/orders/{order_id}/received")
async def _received(w: World, s: Side) -> Call:
    order = await w.order(s, paid=True)
    body = {"carrier": "SF", "tracking_no": _tracking_no()}
    r = await w.client.post(f"/api/orders/{order['id']}/shipments", json=body, headers=await w.headers("admin"))
    assert r.status_code == 201, r.text
    return Call("POST", f"/api/orders/{order['id']}/received")


@builds("POST /api/orders/{order_id}/refund-requests")
async def _ask_refund(w: World, s: Side) -> Call:
    return Call("POST", f"/api/orders/{(await w.order(s, paid=True))['id']}/refund-requests", json={"reason": "broken"})


async def _refund_request(w: World, s: Side) -> int:
    order = await w.order(s, paid=True)
    r = await w.client.post(f"/api/orders/{order['id']}/refund-requests", json={"reason": "broken"}, headers=await w.bearer(s.viewer_id))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


@builds("POST /api/refund-requests/{request_id}/approve")
async def _approve_refund(w: World, s: Side) -> Call:
    return Call("POST", f"/api/refund-requests/{await _refund_request(w, s)}/approve")


@builds("POST /api/refund-requests/{request_id}/reject")
async def _reject_refund(w: World, s: Side) -> Call:
    return Call("POST", f"/api/refund-requests/{await _refund_request(w, s)}/reject", json={"note": "intact on the photo"})


BUILDERS["POST /api/subscriptions"] = lambda w, s: _call(
    "POST",
    "/api/subscriptions",
    json={"unit_name": "Party school", "unit_type": "party", "items": [{"product_id": s.product_id, "quantity": 2}]},
)
BUILDERS["POST /api/stations/{station_id}/sales"] = lambda w, s: _call(
    "POST", f"/api/stations/{s.station_id}/sales", json={"items": [{"product_id": s.product_id, "quantity": 1}]}
)


def _unit_body(s: Side) -> dict[str, object]:
    return {"name": f"Canteen {_unique()}", "unit_type": "school", "annual_food_budget_fen": 100_000, "county_id": s.county_id}


async def _unit(w: World, s: Side) -> int:
    async def make() -> int:
        r = await w.client.post("/api/units", json=_unit_body(s), headers=await w.headers("admin"))
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    return int(await w.cached(s, "unit", make))


BUILDERS["POST /api/units"] = lambda w, s: _call("POST", "/api/units", json=_unit_body(s))
BUILDERS["GET /api/units"] = get("/api/units")


@builds("GET /api/units/{unit_id}")
async def _read_unit(w: World, s: Side) -> Call:
    return Call("GET", f"/api/units/{await _unit(w, s)}")


@builds("GET /api/units/{unit_id}/quota")
async def _quota(w: World, s: Side) -> Call:
    return Call("GET", f"/api/units/{await _unit(w, s)}/quota?year=2026")


# --- ledger and reports ----------------------------------------------------------------------

BUILDERS["GET /api/ledger/check"] = get("/api/ledger/check")
BUILDERS["GET /api/ledger/accounts"] = get("/api/ledger/accounts")
BUILDERS["GET /api/ledger/accounts/{party}"] = lambda w, s: _call("GET", f"/api/ledger/accounts/household:{s.household_id}")
BUILDERS["GET /api/ledger/accounts/{party}/entries"] = lambda w, s: _call("GET", f"/api/ledger/accounts/household:{s.household_id}/entries")


async def _reported_stream(w: World, s: Side) -> int:
    async def make() -> int:
        await w.order(s, paid=True)
        return int(s.cached["live_stream"])

    return int(await w.cached(s, "reported_stream", make))


@builds("GET /api/streams/{stream_id}/report")
async def _report(w: World, s: Side) -> Call:
    return Call("GET", f"/api/streams/{await _reported_stream(w, s)}/report")


@builds("GET /api/streams/{stream_id}/report.csv")
async def _report_csv(w: World, s: Side) -> Call:
    return Call("GET", f"/api/streams/{await _reported_stream(w, s)}/report.csv")


@builds("GET /api/streams/{stream_id}/report.xlsx")
async def _report_xlsx(w: World, s: Side) -> Call:
    return Call("GET", f"/api/streams/{await _reported_stream(w, s)}/report.xlsx")


BUILDERS["GET /api/ledger/accounts/{party}/statement.xlsx"] = lambda w, s: _call(
    "GET", f"/api/ledger/accounts/county:{s.county_id}/statement.xlsx"
)
BUILDERS["GET /api/counties/{county_id}/statement"] = lambda w, s: _call("GET", f"/api/counties/{s.county_id}/statement")
BUILDERS["GET /api/households/{household_id}/statement"] = lambda w, s: _call("GET", f"/api/households/{s.household_id}/statement")
BUILDERS["GET /api/stats/consumption"] = get("/api/stats/consumption?group_by=channel")
BUILDERS["GET /api/stats/stations"] = lambda w, s: _call("GET", f"/api/stats/stations?county_id={s.county_id}")
BUILDERS["GET /api/stats/stations.xlsx"] = lambda w, s: _call("GET", f"/api/stats/stations.xlsx?county_id={s.county_id}")

# --- streams ---------------------------------------------------------------------------------

BUILDERS["GET /api/streams"] = get("/api/streams")


@builds("GET /api/streams/{stream_id}")
async def _stream(w: World, s: Side) -> Call:
    return Call("GET", f"/api/streams/{await w.cached(s, 'live_stream', lambda: w.stream(s))}")


@builds("POST /api/streams/{stream_id}/start")
async def _start(w: World, s: Side) -> Call:
    return Call("POST", f"/api/streams/{await w.stream(s, live=False)}/start")


@builds("POST /api/streams/{stream_id}/end")
async def _end(w: World, s: Side) -> Call:
    return Call("POST", f"/api/streams/{await w.stream(s)}/end")


@builds("POST /api/streams/{stream_id}/pin")
async def _pin(w: World, s: Side) -> Call:
    return Call("POST", f"/api/streams/{await w.stream(s)}/pin", json={"product_id": s.product_id})


# --- flash deals -----------------------------------------------------------------------------


async def _deal(w: World, s: Side) -> int:
    """An open deal of one unit in a new live stream of the side."""
    stream_id = await w.stream(s)
    now = utcnow()
    async with w.db.transaction() as session:
        deal = await stock.open_deal(
            session, NewDeal(stream_id, s.product_id, 1, 1, 1, now - timedelta(seconds=1), now + timedelta(minutes=5), None), now=now
        )
    return deal.id


@builds("POST /api/streams/{stream_id}/flash-deals")
async def _announce_deal(w: World, s: Side) -> Call:
    body = {
        "product_id": s.product_id,
        "price_fen": 1,
        "quantity": 1,
        "per_buyer_limit": 1,
        "countdown_seconds": 10,
        "duration_seconds": 60,
    }
    return Call("POST", f"/api/streams/{await w.stream(s)}/flash-deals", json=body)


@builds("GET /api/streams/{stream_id}/flash-deals")
async def _list_deals(w: World, s: Side) -> Call:
    return Call("GET", f"/api/streams/{await w.cached(s, 'live_stream', lambda: w.stream(s))}/flash-deals")


@builds("GET /api/flash-deals/{deal_id}")
async def _get_deal(w: World, s: Side) -> Call:
    return Call("GET", f"/api/flash-deals/{await w.cached(s, 'deal', lambda: _deal(w, s))}")


@builds("POST /api/flash-deals/{deal_id}/end")
async def _end_deal(w: World, s: Side) -> Call:
    return Call("POST", f"/api/flash-deals/{await _deal(w, s)}/end")


async def _chat_message(w: World, s: Side) -> tuple[int, int]:
    """A live stream of the side and a message its viewer posted there."""
    from livecommerce.kit.principal import Principal, Role
    from streams.chat.service import ChatRules, post_message

    stream_id = await w.stream(s)
    author = Principal(id=s.viewer_id, username="chatter", role=Role.viewer, display_name="李四")
    async with w.db.transaction() as session:
        message = await post_message(session, stream_id, author, "好吃！", rules=ChatRules(), now=utcnow())
    assert message.id is not None
    return stream_id, message.id


@builds("POST /api/streams/{stream_id}/chat/{message_id}/hide")
async def _hide(w: World, s: Side) -> Call:
    stream_id, message_id = await _chat_message(w, s)
    return Call("POST", f"/api/streams/{stream_id}/chat/{message_id}/hide")


@builds("POST /api/streams/{stream_id}/mutes")
async def _mute(w: World, s: Side) -> Call:
    stream_id, _ = await _chat_message(w, s)
    return Call("POST", f"/api/streams/{stream_id}/mutes", json={"user_id": s.viewer_id, "minutes": 5})


@builds("GET /api/streams/{stream_id}/chat")
async def _chat(w: World, s: Side) -> Call:
    return Call("GET", f"/api/streams/{await w.cached(s, 'live_stream', lambda: w.stream(s))}/chat")


@builds("GET /api/streams/{stream_id}/media")
async def _media(w: World, s: Side) -> Call:
    return Call("GET", f"/api/streams/{await w.cached(s, 'live_stream', lambda: w.stream(s))}/media")


@builds("PUT /api/streams/{stream_id}/media")
async def _set_media(w: World, s: Side) -> Call:
    body = {"platform": "douyin", "live_room_url": "https://live.douyin.com/1", "hls_url": "https://pull.example.cn/a.m3u8"}
    return Call("PUT", f"/api/streams/{await w.stream(s)}/media", json=body)


# --- scheduling ------------------------------------------------------------------------------

BUILDERS["POST /api/studios"] = lambda w, s: _call(
    "POST", "/api/studios", json={"name": "Room 2", "platform": "kuaishou", "county_id": s.county_id}
)
BUILDERS["GET /api/studios"] = get("/api/studios")


async def _county_studio(w: World, s: Side) -> int:
    """A studio of the side's county (the world's own studio is shared, so open to every organizer)."""

    async def make() -> int:
        body = {"name": f"County room {_unique()}", "platform": "douyin", "county_id": s.county_id}
        r = await w.client.post("/api/studios", json=body, headers=await w.headers("admin"))
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    return int(await w.cached(s, "studio", make))


@builds("PATCH /api/studios/{studio_id}")
async def _patch_studio(w: World, s: Side) -> Call:
    return Call("PATCH", f"/api/studios/{await _county_studio(w, s)}", json={"name": f"Room {_unique()}"})


def _campaign_body() -> dict[str, str]:
    start = utcnow() + timedelta(days=1)
    return {"name": "Autumn harvest", "starts_at": start.isoformat(), "ends_at": (start + timedelta(days=7)).isoformat()}


BUILDERS["POST /api/campaigns"] = lambda w, s: _call("POST", "/api/campaigns", json=_campaign_body())
BUILDERS["GET /api/campaigns"] = get("/api/campaigns")


@builds("GET /api/streams/{stream_id}/review")
async def _review(w: World, s: Side) -> Call:
    return Call("GET", f"/api/streams/{await w.cached(s, 'live_stream', lambda: w.stream(s))}/review")


@builds("GET /api/streams/{stream_id}/review.xlsx")
async def _review_xlsx(w: World, s: Side) -> Call:
    return Call("GET", f"/api/streams/{await w.cached(s, 'live_stream', lambda: w.stream(s))}/review.xlsx")


@builds("GET /api/campaigns/{campaign_id}/review")
async def _campaign_review(w: World, s: Side) -> Call:
    return Call("GET", f"/api/campaigns/{await _campaign_with_a_slot(w)}/review")


async def _campaign_with_a_slot(w: World) -> int:
    r = await w.client.post("/api/campaigns", json=_campaign_body(), headers=await w.headers("admin"))
    assert r.status_code == 201, r.text
    campaign_id = int(r.json()["id"])
    w._slot_at += timedelta(hours=3)
    body = {
        "studio_id": w.studio_id,
        "starts_at": w._slot_at.isoformat(),
        "ends_at": (w._slot_at + timedelta(hours=1)).isoformat(),
        "campaign_id": campaign_id,
    }
    assert (await w.client.post("/api/slots", json=body, headers=await w.headers("admin"))).status_code == 201
    return campaign_id


async def _plan(w: World) -> tuple[int, int]:
    campaign_id = await _campaign_with_a_slot(w)
    # Planned by the organizer, so its assignments take that organizer's own anchors and any staff caller may apply it.
    r = await w.client.post(f"/api/campaigns/{campaign_id}/plans", json={"time_limit_seconds": 2}, headers=await w.headers("organizer"))
    assert r.status_code == 201, r.text
    return campaign_id, int(r.json()["id"])


@builds("POST /api/campaigns/{campaign_id}/plans")
async def _create_plan(w: World, s: Side) -> Call:
    return Call("POST", f"/api/campaigns/{await _campaign_with_a_slot(w)}/plans", json={"time_limit_seconds": 2})


@builds("GET /api/campaigns/{campaign_id}/plans/{plan_id}")
async def _read_plan(w: World, s: Side) -> Call:
    campaign_id, plan_id = await w.cached(s, "plan", lambda: _plan(w))
    return Call("GET", f"/api/campaigns/{campaign_id}/plans/{plan_id}")


@builds("POST /api/campaigns/{campaign_id}/plans/{plan_id}/apply")
async def _apply_plan(w: World, s: Side) -> Call:
    campaign_id, plan_id = await _plan(w)
    return Call("POST", f"/api/campaigns/{campaign_id}/plans/{plan_id}/apply")


@builds("POST /api/slots")
async def _slot(w: World, s: Side) -> Call:
    w._slot_at += timedelta(hours=3)
    start = w._slot_at
    return Call(
        "POST",
        "/api/slots",
        json={"studio_id": await _county_studio(w, s), "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()},
    )


BUILDERS["GET /api/slots"] = get("/api/slots")


@builds("POST /api/bookings")
async def _book(w: World, s: Side) -> Call:
    return Call("POST", "/api/bookings", json={"slot_id": await w.slot(), "anchor_ids": [s.anchor_id], "product_ids": [s.product_id]})


BUILDERS["GET /api/bookings"] = get("/api/bookings")


@builds("GET /api/bookings/{booking_id}")
async def _read_booking(w: World, s: Side) -> Call:
    return Call("GET", f"/api/bookings/{await w.cached(s, 'booking', lambda: w.booking(s))}")


@builds("POST /api/bookings/{booking_id}/confirm")
async def _confirm(w: World, s: Side) -> Call:
    return Call("POST", f"/api/bookings/{await w.booking(s)}/confirm")


@builds("POST /api/bookings/{booking_id}/cancel")
async def _cancel_booking(w: World, s: Side) -> Call:
    return Call("POST", f"/api/bookings/{await w.booking(s)}/cancel")


@builds("POST /api/bookings/{booking_id}/accept")
async def _accept(w: World, s: Side) -> Call:
    # The `in` cadre's anchor is invited as a co-host of a booking hosted by another anchor of the side's county.
    host = await w.make.anchor(s.county_id)
    body = {"slot_id": await w.slot(), "anchor_ids": [host.id, s.anchor_id], "product_ids": [s.product_id]}
    r = await w.client.post("/api/bookings", json=body, headers=await w.headers("admin"))
    assert r.status_code == 201, r.text
    return Call("POST", f"/api/bookings/{r.json()['id']}/accept")


@builds("POST /api/bookings/{booking_id}/reschedule")
async def _reschedule(w: World, s: Side) -> Call:
    booking = await w.booking(s)
    return Call("POST", f"/api/bookings/{booking}/reschedule", json={"slot_id": await w.slot()})


BUILDERS["POST /api/anchors/{anchor_id}/follow"] = lambda w, s: _call("POST", f"/api/anchors/{s.anchor_id}/follow")
BUILDERS["DELETE /api/anchors/{anchor_id}/follow"] = lambda w, s: _call("DELETE", f"/api/anchors/{s.anchor_id}/follow")


@builds("POST /api/streams/{stream_id}/remind")
async def _remind(w: World, s: Side) -> Call:
    return Call("POST", f"/api/streams/{await w.cached(s, 'live_stream', lambda: w.stream(s))}/remind")


BUILDERS["GET /api/me/notifications"] = get("/api/me/notifications")
BUILDERS["GET /api/me/notifications/unread"] = get("/api/me/notifications/unread")
BUILDERS["POST /api/me/notifications/read"] = lambda w, s: _call("POST", "/api/me/notifications/read")
BUILDERS["GET /api/me/reminders-feed"] = get("/api/me/reminders-feed")


@builds("GET /api/users/{user_id}/reminders.ics")
async def _reminders_ics(w: World, s: Side) -> Call:
    # The target is the side's viewer's feed: the in-side viewer's own, nobody else's.
    return Call("GET", f"/api/users/{s.viewer_id}/reminders.ics")


_ALL_WEEK = {"windows": [{"weekday": d, "starts": "00:00", "ends": "24:00"} for d in range(7)]}
BUILDERS["GET /api/anchors/{anchor_id}/availability"] = lambda w, s: _call("GET", f"/api/anchors/{s.anchor_id}/availability")
BUILDERS["PUT /api/anchors/{anchor_id}/availability"] = lambda w, s: _call(
    "PUT", f"/api/anchors/{s.anchor_id}/availability", json=_ALL_WEEK
)
BUILDERS["GET /api/anchors/{anchor_id}/limits"] = lambda w, s: _call("GET", f"/api/anchors/{s.anchor_id}/limits")
BUILDERS["PUT /api/anchors/{anchor_id}/limits"] = lambda w, s: _call(
    "PUT", f"/api/anchors/{s.anchor_id}/limits", json={"max_broadcasts_per_week": 100, "max_air_minutes_per_day": 1440}
)
BUILDERS["GET /api/anchors/{anchor_id}/schedule-feed"] = lambda w, s: _call("GET", f"/api/anchors/{s.anchor_id}/schedule-feed")
BUILDERS["GET /api/anchors/{anchor_id}/schedule.ics"] = lambda w, s: _call("GET", f"/api/anchors/{s.anchor_id}/schedule.ics")

# --- audit and health ------------------------------------------------------------------------

for _path in ("/api/audit", "/api/audit/verify", "/healthz", "/metrics", "/readyz"):
    BUILDERS[f"GET {_path}"] = get(_path)


def _matches(expected: str, status: int) -> bool:
    return 200 <= status < 300 if expected == "2xx" else status == int(expected)


@pytest.fixture
async def world(client: httpx.AsyncClient, db: Database, settings: Settings, make: Factory) -> World:
    return await World(client, db, settings, make).build()


class TestMatrix:
    @pytest.mark.parametrize("row", ROWS, ids=[r.key for r in ROWS])
    async def test_every_role_in_and_out_of_scope_gets_the_documented_status(self, world: World, row: Row) -> None:
        build = BUILDERS[row.key]
        wrong = []
        for role in ROLES:
            for index, scope in enumerate(("in", "out")):
                expected = row.cells[role][index]
                call = await build(world, world.sides[scope])
                headers = {**await world.headers(role), **call.headers}
                r = await world.client.request(call.method, call.url, json=call.json, data=call.data, content=call.content, headers=headers)
                if not _matches(expected, r.status_code):
                    wrong.append(f"{role} ({scope} scope): expected {expected}, got {r.status_code} {r.text[:200]}")
        assert not wrong, f"{row.key}:\n" + "\n".join(wrong)


class TestMatrixCoversTheApi:
    def test_every_operation_in_the_openapi_schema_has_a_row(self, settings: Settings) -> None:
        schema = create_app(settings, migrate=False).openapi()
        operations = {f"{method.upper()} {path}" for path, ops in schema["paths"].items() for method in ops}
        documented = {row.key for row in ROWS}
        assert operations - documented == set(), "operations without a row in docs/permissions.md"
        assert documented - operations == set(), "rows in docs/permissions.md for operations that do not exist"

    def test_every_row_has_a_fixture_builder(self) -> None:
        assert {row.key for row in ROWS} - set(BUILDERS) == set()

    def test_every_role_column_is_filled_for_every_row(self) -> None:
        assert all(set(row.cells) == set(ROLES) for row in ROWS)
        assert len(ROWS) == len({row.key for row in ROWS}), "a row appears twice"
