"""Broadcasts: the stream entity, its lifecycle and offer, and its event log (per-stream seq)."""
