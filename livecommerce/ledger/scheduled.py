"""The ledger's scheduled work: delivered orders whose settlement days have passed are settled."""

from __future__ import annotations

from datetime import datetime

import structlog

from livecommerce.kit.db import Database
from livecommerce.ledger import settlement
from livecommerce.ledger.service import settle_sale

log = structlog.get_logger(__name__)


async def settle_due_orders(db: Database, *, now: datetime, days: int, limit: int = 500) -> int:
    """Settle up to `limit` due orders, each in a transaction of its own; how many this run settled.

    One order failing is logged and left pending for the next run; the rest go on. Settling
    is a compare-and-set, so a second scheduler (or a rerun after a crash) settles nothing twice.
    """
    async with db.read_sessionmaker() as session:
        due = await settlement.due_order_ids(session, now=now, days=days, limit=limit)
    settled = 0
    for order_id in due:
        try:
            async with db.transaction() as session:
                settled += await settle_sale(session, order_id, now=now, days=days)
        except Exception:
            log.exception("settlement_failed", order_id=order_id)
    if settled:
        log.info("orders_settled", settled=settled, due=len(due))
    return settled
