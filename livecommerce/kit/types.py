"""Column types and input types shared by every domain model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Strict, model_validator
from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware.

    SQLite has no time zones, so we store naive UTC there and attach UTC on the way out;
    PostgreSQL keeps `timestamptz`. Naive values on the way in are refused: they are bugs.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# Ids are 32-bit INTEGER columns on PostgreSQL: a larger id in a request is bad input (422),
# not a lookup (the driver would refuse to bind it).
MAX_ID = 2**31 - 1


# How the API reads a time, for the OpenAPI description and every time parameter's own.
TIME_RULE = (
    "Times are ISO 8601 with a UTC offset, e.g. `2026-12-01T20:00:00+08:00` (Asia/Shanghai) or "
    "`2026-12-01T12:00:00Z`. A time without an offset, or a bare date where a time is expected, is "
    "refused with 422 (it would be read differently by a viewer abroad), never guessed."
)

# Every request time: an offset is required (naive or date-only input is 422). Lax about the
# form (a string in a body is parsed even inside a strict model), strict about the meaning.
Instant = Annotated[AwareDatetime, Strict(False)]

# PostgreSQL cannot store a NUL character (SQLite can): refused in every input text on both, and said so in the schema.
NO_NUL_PATTERN = "^[^\\u0000]*$"


def _plain_values(value: Any) -> Any:
    """`1.0` as `1` (JSON Schema calls it an integer too) and NUL refused, inside lists and objects."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text must not contain the NUL character")
    if isinstance(value, list):
        return [_plain_values(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain_values(v) for k, v in value.items()}
    return value


def _no_nul_in_schema(schema: dict[str, Any]) -> None:
    for prop in schema.get("properties", {}).values():
        for variant in [prop, prop.get("items", {}), *prop.get("anyOf", [])]:
            if variant.get("type") == "string" and not {"pattern", "format", "enum", "const"} & set(variant):
                variant["pattern"] = NO_NUL_PATTERN


class StrictInput(BaseModel):
    """Base of every request body: strict types (no `true` or `"1"` for a number), no unknown fields, no NUL.

    Without strictness pydantic reads `"quantity": true` or `"quantity": "1"` as one unit. Fields
    that arrive as text by nature (times, enum values) say `Strict(False)` themselves.
    """

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_no_nul_in_schema)

    @model_validator(mode="before")
    @classmethod
    def _plain_input(cls, data: Any) -> Any:
        return _plain_values(data)
