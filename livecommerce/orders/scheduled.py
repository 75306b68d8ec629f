"""The orders' scheduled work: unpaid orders whose reservation ran out are cancelled and their stock returned."""

from __future__ import annotations

from datetime import datetime

from livecommerce.kit.db import Database
from livecommerce.orders.service import expire_due_orders


async def expire_reservations(db: Database, *, now: datetime) -> int:
    """Cancel the unpaid orders due at `now` in a transaction of its own; how many were cancelled."""
    async with db.transaction() as session:
        return await expire_due_orders(session, now=now)
