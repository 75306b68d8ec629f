"""A real server's JSON logs hold no secret and no personal datum.

Driven through sign-ins, registrations, websockets with `?token=` (uvicorn logs each handshake,
query string included), orders, the signed payment webhook, households and query strings.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest
import websockets
import websockets.sync.client

from livecommerce.payments.webhook import sign
from tests.e2e.servers import start_server
from tests.security.live import ADMIN_PASSWORD, USER_PASSWORD, seed, server_database

pytestmark = [pytest.mark.e2e]
SECRET_KEY = "log-scan-secret-key-7f3a9c2e"
WEBHOOK_SECRET = "log-scan-webhook-secret-b81d"
WRONG_PASSWORD = "wrong-pass-Zr55-never-logged"
NEW_PASSWORD = "new-pass-Hq90-never-logged"
PHONE = "13912345678"
FORGED_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIiwidmVyIjowfQ.forged-signature-never-logged"


class TestLogsHoldNoSecrets:
    def test_secrets_and_personal_data_never_reach_the_log(self, tmp_path: Path) -> None:
        with server_database(tmp_path) as url:
            env = {
                "LIVECOMMERCE_DATABASE_URL": url,
                "LIVECOMMERCE_SECRET_KEY": SECRET_KEY,
                "LIVECOMMERCE_PAYMENT_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "LIVECOMMERCE_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "LIVECOMMERCE_RUN_SCHEDULER": "false",
                "LIVECOMMERCE_REDIS_URL": "",
                "LIVECOMMERCE_LOG_JSON": "true",
                "LIVECOMMERCE_LOG_LEVEL": "DEBUG",
            }
            server = start_server(env)
            try:
                seeded = seed(server.url)
                with httpx.Client(base_url=server.url, timeout=30) as c:
                    secrets = [ADMIN_PASSWORD, USER_PASSWORD, WRONG_PASSWORD, NEW_PASSWORD, SECRET_KEY, WEBHOOK_SECRET]
                    # A failed sign-in, a registration, a refresh, a password change.
                    assert c.post("/api/auth/token", data={"username": "viewer", "password": WRONG_PASSWORD}).status_code == 401
                    r = c.post("/api/auth/register", json={"username": "newcomer", "password": USER_PASSWORD, "display_name": "陈美玲"})
                    assert r.status_code == 201, r.text
                    pair = c.post("/api/auth/token", data={"username": "newcomer", "password": USER_PASSWORD}).json()
                    refreshed = c.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]}).json()
                    r = c.post(
                        "/api/auth/password",
                        json={"current_password": USER_PASSWORD, "new_password": NEW_PASSWORD},
                        headers={"Authorization": f"Bearer {refreshed['access_token']}"},
                    )
                    assert r.status_code == 200, r.text
                    # An order paid through the signed webhook, and a badly signed one.
                    viewer = {**seeded.headers["viewer"], "Idempotency-Key": uuid.uuid4().hex}
                    order = c.post(
                        f"/api/streams/{seeded.stream_id}/orders",
                        json={"items": [{"product_id": seeded.product_id, "quantity": 1}]},
                        headers=viewer,
                    ).json()
                    body = json.dumps(
                        {
                            "provider": "acme",
                            "provider_txn_id": uuid.uuid4().hex,
                            "order_id": order["id"],
                            "amount_fen": order["total_fen"],
                            "status": "paid",
                        }
                    ).encode()
                    signature = sign(WEBHOOK_SECRET, body)
                    assert c.post("/api/payments/webhook", content=body, headers={"X-Signature": signature}).status_code == 200
                    assert c.post("/api/payments/webhook", content=body, headers={"X-Signature": "0" * 64}).status_code == 401
                    # Reading personal data back, and a token in a query string (calendar feeds, websockets).
                    assert c.get("/api/households", headers=seeded.headers["admin"]).status_code == 200
                    feed = c.get("/api/anchors/1/schedule-feed", headers=seeded.headers["admin"]).json()["token"]
                    assert c.get("/api/anchors/1/schedule.ics", params={"token": feed}).status_code == 200
                    c.get("/api/streams", params={"token": seeded.tokens[0]})
                    secrets.append(feed)
                    # Websockets with the token in the query string: accepted, refused (forged), unknown stream.
                    ws = f"ws://127.0.0.1:{server.port}/ws/streams"
                    with websockets.sync.client.connect(f"{ws}/{seeded.stream_id}?since=0&token={seeded.tokens[1]}", open_timeout=10):
                        pass
                    for path in (f"{seeded.stream_id}?token={FORGED_TOKEN}", f"999999?token={seeded.tokens[2]}"):
                        with pytest.raises(websockets.InvalidStatus):
                            websockets.sync.client.connect(f"{ws}/{path}", open_timeout=10)
                    # Personal data in a query string (the access log writes the path with it).
                    c.get("/api/streams", params={"phone": PHONE, "registration_no": seeded.registration_nos[0]})
                    secrets += [FORGED_TOKEN, PHONE]
                    tokens = [
                        *seeded.tokens,
                        pair["access_token"],
                        pair["refresh_token"],
                        refreshed["access_token"],
                        refreshed["refresh_token"],
                    ]
                    secrets += [signature, *tokens, *seeded.household_names, *seeded.registration_nos, "陈美玲"]
            finally:
                server.stop()
            log = server.log()
        assert '"event"' in log and "request" in log, "the server logged nothing in JSON: the scan would prove nothing"
        assert "WebSocket /ws/streams/" in log, "no websocket handshake was logged: the scan would prove nothing"
        # JSON logs escape non-ASCII text (黄 is \u9ec4): look for both spellings.
        leaks = sorted({s for s in secrets if s and (s in log or json.dumps(s)[1:-1] in log)})
        assert not leaks, f"found in the log: {leaks}"
