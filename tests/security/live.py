"""A real server on the test backend, and data seeded into it through its own API."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.databases import scratch_database

ADMIN_PASSWORD = "admin-pass-Kx81-never-logged"
USER_PASSWORD = "user-pass-Qm27-never-logged"


@contextmanager
def server_database(tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database on the backend under test (a SQLite file or a new PostgreSQL database)."""
    with scratch_database(tmp_path, "sec") as url:
        yield url


@dataclass
class Seeded:
    """What `seed` made, with a bearer header per role."""

    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)
    user_ids: dict[str, int] = field(default_factory=dict)
    county_ids: list[int] = field(default_factory=list)
    household_names: list[str] = field(default_factory=list)
    registration_nos: list[str] = field(default_factory=list)
    stream_id: int = 0
    product_id: int = 0
    order_ids: list[int] = field(default_factory=list)


def sign_in(client: httpx.Client, username: str, password: str) -> dict[str, str]:
    """Sign in through the API; the bearer header (the token is also kept by the caller)."""
    r = client.post("/api/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _ok(r: httpx.Response) -> dict:  # type: ignore[type-arg]
    assert r.status_code in (200, 201), f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json()  # type: ignore[no-any-return]


def seed(base_url: str) -> Seeded:
    """Two counties with households, an anchor and a product; a user of each role; a live stream with a paid order."""
    out = Seeded()
    with httpx.Client(base_url=base_url, timeout=30) as c:
        admin = sign_in(c, "admin", ADMIN_PASSWORD)
        out.tokens.append(admin["Authorization"].split()[1])
        out.headers["admin"] = admin
        for i, (name, code) in enumerate((("Fogang", "FG"), ("Yingde", "YD"))):
            county = _ok(
                c.post("/api/counties", json={"name": name, "code": code, "city": "Qingyuan", "province": "Guangdong"}, headers=admin)
            )
            out.county_ids.append(county["id"])
            household_name, registration_no = f"黄秀英{i}", f"44182119550{i}0342"
            household = _ok(
                c.post(
                    "/api/households",
                    json={"county_id": county["id"], "name": household_name, "village": "Shiling", "registration_no": registration_no},
                    headers=admin,
                )
            )
            out.household_names.append(household_name)
            out.registration_nos.append(registration_no)
            anchor = _ok(
                c.post("/api/anchors", json={"name": f"Anchor {i}", "title": "County head", "county_id": county["id"]}, headers=admin)
            )
            product = _ok(
                c.post(
                    "/api/products",
                    json={
                        "name": f"Qingyuan chicken {i}",
                        "county_id": county["id"],
                        "unit": "bird",
                        "price_fen": 12800,
                        "stock": 1000,
                        "splits": [{"party": f"household:{household['id']}", "bp": 8000}, {"party": "platform", "bp": 2000}],
                    },
                    headers=admin,
                )
            )
            if i == 0:
                first_anchor, out.product_id = anchor["id"], product["id"]
        roles = {
            "organizer": {"county_ids": [out.county_ids[0]]},
            "cadre": {"county_ids": [out.county_ids[0]], "anchor_id": first_anchor},
            "viewer": {},
        }
        for role, extra in roles.items():
            user = _ok(
                c.post(
                    "/api/users",
                    json={"username": role, "password": USER_PASSWORD, "role": role, "display_name": f"李{role}", **extra},
                    headers=admin,
                )
            )
            out.user_ids[role] = user["id"]
            out.headers[role] = sign_in(c, role, USER_PASSWORD)
            out.tokens.append(out.headers[role]["Authorization"].split()[1])
        studio = _ok(c.post("/api/studios", json={"name": "Studio", "platform": "douyin"}, headers=admin))
        # Inside the warm-up, so the host may go live by hand; the admin overrides the notice rule for it.
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
        slot = _ok(
            c.post(
                "/api/slots",
                json={"studio_id": studio["id"], "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()},
                headers=admin,
            )
        )
        booking = _ok(
            c.post(
                "/api/bookings",
                json={
                    "slot_id": slot["id"],
                    "anchor_ids": [first_anchor],
                    "product_ids": [out.product_id],
                    "notice_override_reason": "the security suite's broadcast goes live at once",
                },
                headers=admin,
            )
        )
        _ok(c.post(f"/api/bookings/{booking['id']}/confirm", headers=admin))
        out.stream_id = booking["stream_id"]
        _ok(c.post(f"/api/streams/{out.stream_id}/start", headers=out.headers["cadre"]))
        viewer = {**out.headers["viewer"], "Idempotency-Key": uuid.uuid4().hex}
        order = _ok(
            c.post(f"/api/streams/{out.stream_id}/orders", json={"items": [{"product_id": out.product_id, "quantity": 2}]}, headers=viewer)
        )
        _ok(c.post(f"/api/orders/{order['id']}/pay", headers=out.headers["viewer"]))
        out.order_ids.append(order["id"])
    return out
