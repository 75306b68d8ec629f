"""Imports every table module so `SQLModel.metadata` knows the whole schema.

This is part of the composition root: it alone reaches into `streams` and `schedulers`.
"""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData
from sqlmodel import SQLModel

MODEL_MODULES = (
    "livecommerce.accounts.models",
    "livecommerce.catalog.models",
    "livecommerce.orders.models",
    "livecommerce.ledger.models",
    "livecommerce.events",
    "livecommerce.audit.models",
    "streams.models",
    "schedulers.models",
)


def load_models() -> MetaData:
    """Import every model module and return the complete metadata."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return SQLModel.metadata
