"""The scheduler's refusals: a bad field (422) and a clash with the schedule (409 with `conflicts`)."""

from __future__ import annotations

from collections.abc import Sequence

from livecommerce.kit.errors import Conflict, InvalidInput
from livecommerce.kit.i18n import LazyMessage
from schedulers.schemas import Clash


def bad_field(field: str, message: str, detail: LazyMessage | str) -> InvalidInput:
    """A 422 naming one bad field."""
    return InvalidInput(detail, extra={"errors": [{"field": field, "message": message}]})


def clash_conflict(detail: LazyMessage | str, clashes: Sequence[Clash]) -> Conflict:
    """A 409 whose `conflicts` lists every clash."""
    return Conflict(detail, extra={"conflicts": [c.model_dump(mode="json", exclude_none=True) for c in clashes]})
