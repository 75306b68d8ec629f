"""Imports every table module so `SQLModel.metadata` knows the whole schema (part of the composition root)."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlmodel import SQLModel

import livecommerce.accounts.models
import livecommerce.assistance.models
import livecommerce.audit.models
import livecommerce.broadcasts.audience
import livecommerce.broadcasts.events
import livecommerce.broadcasts.models
import livecommerce.catalog.models
import livecommerce.ledger.models
import livecommerce.orders.models
import schedulers.models
import streams.chat.models
import streams.media.models

MODEL_MODULES = (
    livecommerce.accounts.models,
    livecommerce.assistance.models,
    livecommerce.audit.models,
    livecommerce.broadcasts.audience,
    livecommerce.broadcasts.events,
    livecommerce.broadcasts.models,
    livecommerce.catalog.models,
    livecommerce.ledger.models,
    livecommerce.orders.models,
    schedulers.models,
    streams.chat.models,
    streams.media.models,
)


def load_models() -> MetaData:
    """The complete metadata (every model module is imported above)."""
    return SQLModel.metadata
