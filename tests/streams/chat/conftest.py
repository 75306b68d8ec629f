"""Chat runs over the relay: reuse its fixtures (both backends, a real uvicorn)."""

from tests.streams.relay.conftest import bus, legacy_server, redis_client, relay_backend, server, settings

__all__ = ["bus", "legacy_server", "redis_client", "relay_backend", "server", "settings"]
