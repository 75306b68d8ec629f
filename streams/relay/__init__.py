"""The real-time relay: outbox events fanned out to websocket viewers across app instances."""
