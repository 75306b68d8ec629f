"""Schemathesis against a real server, as every role: no 5xx and no response outside its schema.

Each operation in `/openapi.json` gets a bounded number of generated requests (MAX_EXAMPLES) per
role, with a valid bearer token for that role, and every schemathesis check (`--checks all`) runs
on each answer; every failure is collected, so one run lists them all. CI runs a few examples per
operation; `make fuzz` runs the full count (LIVECOMMERCE_FUZZ_EXAMPLES=100).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import CHECKS, load_all_checks

from tests.e2e.servers import ServerHandle, start_server
from tests.security.live import ADMIN_PASSWORD, USER_PASSWORD, Seeded, seed, server_database, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
MAX_EXAMPLES = int(os.environ.get("LIVECOMMERCE_FUZZ_EXAMPLES", "5"))
load_all_checks()
ALL_CHECKS = CHECKS.get_all()
ROLES = ("anonymous", "viewer", "cadre", "organizer", "admin")
# Operations that would take the caller's own credentials away mid-run; they are fuzzed with a
# throwaway user's token instead (see `_headers_for`).
_SELF_REVOKING = {("POST", "/api/auth/logout"), ("POST", "/api/auth/password")}


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerHandle, Seeded]]:
    with server_database(tmp_path_factory.mktemp("fuzz")) as url:
        env = {
            "LIVECOMMERCE_DATABASE_URL": url,
            "LIVECOMMERCE_SECRET_KEY": "fuzz-secret-key-0123456789",
            "LIVECOMMERCE_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "LIVECOMMERCE_RATE_LIMITS_ENABLED": "false",
            "LIVECOMMERCE_RUN_SCHEDULER": "false",
            "LIVECOMMERCE_REDIS_URL": "",
            "LIVECOMMERCE_LOG_LEVEL": "WARNING",
        }
        server = start_server(env)
        try:
            yield server, seed(server.url)
        finally:
            server.stop()


def _throwaway_headers(base_url: str, seeded: Seeded, role: str) -> dict[str, str]:
    """A new user of the role, for operations that revoke the caller's tokens."""
    with httpx.Client(base_url=base_url, timeout=30) as c:
        username = f"{role}_spare_{len(seeded.tokens)}"
        body = {"username": username, "password": USER_PASSWORD, "role": role, "display_name": "spare"}
        assert c.post("/api/users", json=body, headers=seeded.headers["admin"]).status_code == 201
        headers = sign_in(c, username, USER_PASSWORD)
    seeded.tokens.append(headers["Authorization"].split()[1])
    return headers


class TestFuzzOpenApi:
    @pytest.mark.parametrize("role", ROLES)
    def test_no_server_error_and_no_schema_violation(self, fuzz_server: tuple[ServerHandle, Seeded], role: str) -> None:
        server, seeded = fuzz_server
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        failures: list[str] = []
        checked = operations = 0
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1
            key = (operation.method.upper(), operation.path)
            headers = dict(seeded.headers.get(role, {}))
            if role != "anonymous" and key in _SELF_REVOKING:
                headers = _throwaway_headers(server.url, seeded, role)
            overrides = {}
            if key == ("PATCH", "/api/users/{user_id}"):
                # Random ids would demote or deactivate the role users this run signs in as.
                overrides["path_parameters"] = {"user_id": _throwaway_user_id(server.url, seeded)}
            strategy = operation.as_strategy(**overrides)

            checked += _fuzz(strategy, server.url, headers, f"{key[0]} {key[1]}", failures)
        assert operations >= 60 and checked >= operations, (operations, checked)
        assert not failures, f"{len(failures)} failures as {role}:\n" + "\n".join(sorted(set(failures)))


def _throwaway_user_id(base_url: str, seeded: Seeded) -> int:
    with httpx.Client(base_url=base_url, timeout=30) as c:
        body = {"username": f"target_{len(seeded.user_ids)}", "password": USER_PASSWORD, "role": "viewer", "display_name": "target"}
        r = c.post("/api/users", json=body, headers=seeded.headers["admin"])
        assert r.status_code == 201, r.text
    seeded.user_ids[body["username"]] = r.json()["id"]
    return int(r.json()["id"])


def _fuzz(strategy: Any, base_url: str, headers: dict[str, str], label: str, failures: list[str]) -> int:
    """Send MAX_EXAMPLES generated requests of one operation; failures are appended, not raised; how many were sent."""
    sent = 0

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        nonlocal sent
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        sent += 1
        try:
            case.validate_response(response, checks=ALL_CHECKS, headers=headers)
        except (AssertionError, BaseExceptionGroup) as exc:  # collect every failure: the report lists them all
            failures.append(f"{label} -> {response.status_code}: {str(exc)[:1000]}")

    run()
    return sent
