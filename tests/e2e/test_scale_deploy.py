"""`docker-compose.yml` and `deploy/nginx.conf` describe the topology the scale tests run as local processes.

No Docker engine runs here and the `docker` client has no compose plugin, so `docker compose config`
cannot validate the file: it is checked against a JSON Schema of the Compose keys it uses (written
for this project, strict about what it names) and then for what matters at scale.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
NGINX = ROOT / "deploy" / "nginx.conf"
UVICORN_GRACEFUL_SECONDS = 10  # `livecommerce serve` passes timeout_graceful_shutdown=10
APSCHEDULER_JOBSTORE_CONNECTIONS = 15  # SQLAlchemy's default pool (5) + overflow (10) of the job store engine
POSTGRES_RESERVED = 3  # superuser_reserved_connections

_string_list = {"type": "array", "items": {"type": "string"}}
_command = {"oneOf": [{"type": "string"}, _string_list]}
_duration = {"type": "string", "pattern": r"^(\d+(ms|s|m|h))+$"}
_environment = {
    "oneOf": [
        {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean", "null"]}},
        _string_list,
    ]
}
SERVICE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "image": {"type": "string"},
        "build": {"oneOf": [{"type": "string"}, {"type": "object"}]},
        "restart": {"enum": ["no", "always", "on-failure", "unless-stopped"]},
        "environment": _environment,
        "command": _command,
        "expose": {"type": "array", "items": {"type": ["string", "integer"]}},
        "ports": {"type": "array", "items": {"type": ["string", "integer"]}},
        "volumes": _string_list,
        "depends_on": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["condition"],
                "properties": {
                    "condition": {"enum": ["service_started", "service_healthy", "service_completed_successfully"]},
                    "restart": {"type": "boolean"},
                    "required": {"type": "boolean"},
                },
            },
        },
        "healthcheck": {
            "type": "object",
            "additionalProperties": False,
            "required": ["test"],
            "properties": {
                "test": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 2}]},
                "interval": _duration,
                "timeout": _duration,
                "retries": {"type": "integer", "minimum": 1},
                "start_period": _duration,
                "disable": {"type": "boolean"},
            },
        },
        "stop_grace_period": _duration,
        # A service on a named network, with a fixed address (the proxy the apps trust).
        "networks": {
            "oneOf": [
                _string_list,
                {
                    "type": "object",
                    "additionalProperties": {
                        "type": ["object", "null"],
                        "additionalProperties": False,
                        "properties": {"ipv4_address": {"type": "string"}, "aliases": _string_list},
                    },
                },
            ]
        },
    },
}
COMPOSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["services"],
    "patternProperties": {"^x-": {}},
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"},
        "services": {"type": "object", "minProperties": 1, "additionalProperties": SERVICE_SCHEMA},
        "volumes": {"type": "object"},
        "networks": {"type": "object"},
    },
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())  # resolves the x-* anchors and `<<` merges
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else list(command)


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h)", duration))


def _apps(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services.items() if _command(s)[:2] == ["livecommerce", "serve"]}


class TestComposeFile:
    def test_matches_the_schema(self, compose: dict[str, Any]) -> None:
        errors = [str(e) for e in jsonschema_rs.validator_for(COMPOSE_SCHEMA).iter_errors(compose)]
        assert errors == []

    def test_has_every_part_of_the_topology(self, services: dict[str, dict[str, Any]]) -> None:
        commands = [_command(s)[:2] for s in services.values()]
        assert len(_apps(services)) >= 2
        assert commands.count(["livecommerce", "scheduler"]) == 1
        assert commands.count(["livecommerce", "migrate"]) == 1
        images = [str(s.get("image", "")) for s in services.values()]
        assert any(i.startswith("postgres:") for i in images)
        assert any(i.startswith("redis:") for i in images)
        assert any(i.startswith("nginx:") for i in images)

    def test_every_dependency_exists_and_apps_wait_for_the_migration(self, services: dict[str, dict[str, Any]]) -> None:
        migrate = next(name for name, s in services.items() if _command(s)[:2] == ["livecommerce", "migrate"])
        for service in services.values():
            for target in service.get("depends_on", {}):
                assert target in services
        for name, service in services.items():
            if _command(service)[:2] in (["livecommerce", "serve"], ["livecommerce", "scheduler"]):
                assert service["depends_on"][migrate]["condition"] == "service_completed_successfully", name

    def test_long_running_services_have_health_checks(self, services: dict[str, dict[str, Any]]) -> None:
        for name, service in services.items():
            if service.get("restart") != "no":
                assert "healthcheck" in service, name

    def test_app_instances_never_run_jobs_and_share_one_database_and_bus(self, services: dict[str, dict[str, Any]]) -> None:
        envs = [_env(s) for s in services.values() if _command(s)[:1] == ["livecommerce"]]
        assert {e["LIVECOMMERCE_DATABASE_URL"] for e in envs} == {envs[0]["LIVECOMMERCE_DATABASE_URL"]}
        assert envs[0]["LIVECOMMERCE_DATABASE_URL"].startswith("postgresql://")
        for name, service in _apps(services).items():
            env = _env(service)
            assert env["LIVECOMMERCE_SCHEDULER_MODE"] == "worker", name
            assert env["LIVECOMMERCE_REDIS_URL"].startswith("redis://"), name

    def test_apps_get_longer_to_stop_than_uvicorn_waits_for_requests(self, services: dict[str, dict[str, Any]]) -> None:
        for name, service in _apps(services).items():
            assert _seconds(service.get("stop_grace_period", "10s")) > UVICORN_GRACEFUL_SECONDS, name

    def test_connection_pools_fit_in_postgres_max_connections(self, services: dict[str, dict[str, Any]]) -> None:
        postgres = next(s for s in services.values() if str(s.get("image", "")).startswith("postgres:"))
        match = re.search(r"max_connections=(\d+)", " ".join(_command(postgres)))
        max_connections = int(match.group(1)) if match else 100
        needed = 0
        for service in services.values():
            command = _command(service)[:2]
            if command in (["livecommerce", "serve"], ["livecommerce", "scheduler"]):
                env = _env(service)
                needed += int(env.get("LIVECOMMERCE_DB_POOL_SIZE", 10)) + int(env.get("LIVECOMMERCE_DB_MAX_OVERFLOW", 20))
            if command == ["livecommerce", "scheduler"]:
                needed += APSCHEDULER_JOBSTORE_CONNECTIONS
            if command == ["livecommerce", "migrate"]:
                needed += 1
        assert needed <= max_connections - POSTGRES_RESERVED

    def test_files_it_mounts_and_builds_exist(self, services: dict[str, dict[str, Any]]) -> None:
        for service in services.values():
            if "build" in service:
                assert (ROOT / str(service["build"]) / "Dockerfile").exists()
            for volume in service.get("volumes", []):
                source = volume.split(":")[0]
                if source.startswith("./"):
                    assert (ROOT / source).exists(), source


class TestNginxConfig:
    def test_upstream_lists_every_app_instance(self, services: dict[str, dict[str, Any]]) -> None:
        conf = NGINX.read_text()
        upstream = re.search(r"upstream\s+(\w+)\s*\{(.*?)\}", conf, re.S)
        assert upstream is not None
        servers = set(re.findall(r"^\s*server\s+([\w.-]+:\d+)", upstream.group(2), re.M))
        assert servers == {f"{name}:8000" for name in _apps(services)}
        assert re.search(rf"proxy_pass\s+http://{upstream.group(1)};", conf)

    def test_websockets_are_upgraded_and_held_open(self) -> None:
        conf = NGINX.read_text()
        ws = re.search(r"location\s+/ws/\s*\{(.*?)\}", conf, re.S)
        assert ws is not None
        block = ws.group(1)
        assert "proxy_http_version 1.1;" in block
        assert re.search(r"proxy_set_header\s+Upgrade\s+\$http_upgrade;", block)
        assert re.search(r"proxy_set_header\s+Connection\s+\$connection_upgrade;", block)
        assert re.search(r"map\s+\$http_upgrade\s+\$connection_upgrade", conf)
        timeout = re.search(r"proxy_read_timeout\s+(\d+)s;", block)
        assert timeout is not None and int(timeout.group(1)) >= 600

    def test_request_ids_are_passed_on(self) -> None:
        assert re.search(r"proxy_set_header\s+X-Request-Id\s+\$request_id;", NGINX.read_text())
