"""The append-only audit log, chained by hashes so that any edit or deletion shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Integer
from sqlmodel import Field, SQLModel

from livecommerce.kit.clock import utcnow
from livecommerce.kit.types import UTCDateTime


class AuditRecord(SQLModel, table=True):
    """Who did what to what, and when; `hash` covers this record and the previous record's hash."""

    __tablename__ = "audit_records"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor_id: int | None = Field(default=None, index=True)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64, index=True)
    target: str = Field(max_length=64)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True, index=True)


class AuditHead(SQLModel, table=True):
    """The one row holding the chain's latest hash; locking it serializes appends."""

    __tablename__ = "audit_head"

    id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    last_hash: str = Field(max_length=64)
    count: int = Field(default=0)
