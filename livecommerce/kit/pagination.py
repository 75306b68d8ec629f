"""Cursor pagination: `?limit=&cursor=` in, `{"items", "next_cursor"}` out."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from livecommerce.kit.errors import InvalidInput
from livecommerce.kit.i18n import _l
from livecommerce.kit.query import QueryInt, number
from livecommerce.kit.types import MAX_ID

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    next_cursor: str | None = None


def _digits_up_to(limit: int) -> str:
    """A regular expression for the decimal numbers 0..limit (digits only), or the empty string."""
    digits = str(limit)
    alternatives = [f"[0-9]{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for i, digit in enumerate(digits):
        low = 1 if i == 0 and len(digits) > 1 else 0
        if int(digit) > low:
            rest = len(digits) - i - 1
            alternatives.append(f"{digits[:i]}[{low}-{int(digit) - 1}]" + (f"[0-9]{{{rest}}}" if rest else ""))
    alternatives.append(digits)
    return "^(?:" + "|".join(alternatives) + ")?$"


# The cursors this server gives out: ids, so at most MAX_ID (stated in the schema, so a fuzzer knows).
_CURSOR_PATTERN = _digits_up_to(MAX_ID)


class PageParams(BaseModel):
    """The page a client asked for."""

    limit: int
    after_id: int | None


def page_params(
    limit: Annotated[QueryInt, Query(ge=1, le=200, description=number("Items per page."))] = 50,
    cursor: Annotated[str | None, Query(pattern=_CURSOR_PATTERN, description="`next_cursor` of the previous page.")] = None,
) -> PageParams:
    """Parse `limit` and `cursor` (an opaque id boundary)."""
    after_id: int | None = None
    if cursor:
        if not (cursor.isascii() and cursor.isdigit()):
            raise InvalidInput(
                _l("cursor is not one this server gave out"), extra={"errors": [{"field": "query.cursor", "message": "malformed cursor"}]}
            )
        after_id = int(cursor)
        if after_id > MAX_ID:
            raise InvalidInput(
                _l("cursor is not one this server gave out"),
                extra={"errors": [{"field": "query.cursor", "message": "cursor out of range"}]},
            )
    return PageParams(limit=limit, after_id=after_id)


PageDep = Annotated[PageParams, Depends(page_params)]


async def paginate(
    session: AsyncSession, stmt: Select[Any], id_column: InstrumentedAttribute[Any], params: PageParams
) -> tuple[list[Any], str | None]:
    """Rows of `stmt` after the cursor, ordered by id, and the cursor of the next page."""
    if params.after_id is not None:
        stmt = stmt.where(id_column > params.after_id)
    rows = list((await session.scalars(stmt.order_by(id_column).limit(params.limit + 1))).all())
    next_cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        next_cursor = str(getattr(rows[-1], id_column.key))
    return rows, next_cursor
