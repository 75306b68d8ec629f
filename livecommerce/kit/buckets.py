"""Time buckets computed by the database, so a report fetches a row per minute instead of a row per event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, literal_column
from sqlalchemy.ext.asyncio import AsyncSession


def minute_of(session: AsyncSession, column: Any) -> ColumnElement[Any]:
    """The clock minute (UTC) a timestamp column falls in, as the session's database computes it."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("minute", column.op("AT TIME ZONE")(literal_column("'UTC'")))
    # SQLite keeps UTCDateTime as naive UTC text.
    return func.strftime("%Y-%m-%d %H:%M:00", column)


def as_utc(value: Any) -> datetime:
    """A bucket value (a datetime, or SQLite's text) as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"not a time bucket: {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
