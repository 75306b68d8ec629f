"""Cursor pagination: `?limit=&cursor=` in, `{"items", "next_cursor"}` out."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from livecommerce.kit.errors import InvalidInput
from livecommerce.kit.types import MAX_ID

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    """The page a client asked for."""

    limit: int
    after_id: int | None


def page_params(
    limit: Annotated[int, Query(ge=1, le=200, description="Items per page.")] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{0,10}$", description="`next_cursor` of the previous page.")] = None,
) -> PageParams:
    """Parse `limit` and `cursor` (an opaque id boundary)."""
    after_id: int | None = None
    if cursor:
        if not (cursor.isascii() and cursor.isdigit()):
            raise InvalidInput(
                "cursor is not one this server gave out", extra={"errors": [{"field": "query.cursor", "message": "malformed cursor"}]}
            )
        # Past the last possible id: an empty page, as any cursor beyond the last row gives.
        after_id = min(int(cursor), MAX_ID)
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
