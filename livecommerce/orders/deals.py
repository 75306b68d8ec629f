"""Flash deals in a live stream: announced with a countdown, open for a window, ended by time or by hand.

The units move through the catalog's stock module (`open_deal`, `close_deal`); this module
holds the rules around them (who may announce, in which stream, with what countdown) and
the events viewers see. Orders from a deal go through the one placement path like any other.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from livecommerce.audit import service as audit
from livecommerce.broadcasts import service as broadcasts
from livecommerce.broadcasts.events import EventType
from livecommerce.broadcasts.stock_events import append_with_stock_changes
from livecommerce.catalog import certification, stock
from livecommerce.catalog import service as catalog
from livecommerce.catalog.stock import DealState, NewDeal
from livecommerce.kit.errors import Conflict, InvalidInput, InvalidState, NotFound
from livecommerce.kit.i18n import _l, status_word
from livecommerce.kit.principal import Principal
from livecommerce.orders.schemas import FlashDealCreate, FlashDealPublic


def deal_public(deal: DealState, now: datetime) -> FlashDealPublic:
    """The API view of a deal at `now`."""
    return FlashDealPublic(
        id=deal.id,
        stream_id=deal.stream_id,
        product_id=deal.product_id,
        price_fen=deal.price_fen,
        quantity=deal.quantity,
        remaining=deal.remaining,
        per_buyer_limit=deal.per_buyer_limit,
        starts_at=deal.starts_at,
        ends_at=deal.ends_at,
        status=deal.status(now),  # type: ignore[arg-type]  # status() returns one of the three literals
    )


def deal_event_data(deal: DealState) -> dict[str, Any]:
    """The payload of `flash.announced`, `flash.started` and `flash.ended`."""
    return {
        "deal_id": deal.id,
        "product_id": deal.product_id,
        "price_fen": deal.price_fen,
        "quantity": deal.quantity,
        "remaining": deal.remaining,
        "starts_at": deal.starts_at.isoformat(),
        "ends_at": deal.ends_at.isoformat(),
    }


async def announce_deal(session: AsyncSession, principal: Principal, stream_id: int, data: FlashDealCreate, *, now: datetime) -> DealState:
    """A host or organizer announces a deal in a live stream: its units leave free stock at once."""
    stream = await broadcasts.get_stream(session, stream_id)
    await broadcasts.require_controller(session, principal, stream_id)
    if stream.status != "live":
        raise InvalidState(
            _l("Flash deals are announced only while a stream is live; this one is {status}.", status=status_word(stream.status))
        )
    if data.product_id not in await broadcasts.featured_product_ids(session, stream_id):
        raise InvalidInput(
            _l("A flash deal can only offer a product this stream features."),
            extra={"errors": [{"field": "product_id", "message": "not featured in this stream"}]},
        )
    await _require_certified(session, stream.certified_only, data.product_id, now)
    if data.per_buyer_limit > data.quantity:
        raise InvalidInput(
            _l("The per-buyer limit cannot exceed the deal's quantity."),
            extra={"errors": [{"field": "per_buyer_limit", "message": f"at most {data.quantity}"}]},
        )
    starts_at = now + timedelta(seconds=data.countdown_seconds)
    deal = await stock.open_deal(
        session,
        NewDeal(
            stream_id=stream_id,
            product_id=data.product_id,
            price_fen=data.price_fen,
            quantity=data.quantity,
            per_buyer_limit=data.per_buyer_limit,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(seconds=data.duration_seconds),
            created_by=principal.id,
        ),
        now=now,
    )
    await audit.record(
        session,
        principal,
        "flash_deal.announced",
        f"flash_deal:{deal.id}",
        {"stream_id": stream_id, "product_id": data.product_id, "price_fen": data.price_fen, "quantity": data.quantity},
        now=now,
    )
    await _announce(session, deal, EventType.flash_announced, now)
    return deal


async def _require_certified(session: AsyncSession, certified_only: bool, product_id: int, now: datetime) -> None:
    """A stream of a certified-only campaign offers deals on certified products only (409 naming the product)."""
    if not certified_only or product_id in await certification.certified_ids(session, [product_id], now):
        return
    product = await catalog.get_product(session, product_id)
    raise Conflict(
        _l(
            "「{name}」 is not a certified poverty-alleviation product; this stream's campaign takes certified products only.",
            name=product.name,
        ),
        extra={"conflicts": [{"kind": "uncertified", "product_id": product_id, "detail": f"「{product.name}」 is not certified"}]},
    )


async def end_deal(session: AsyncSession, principal: Principal, deal_id: int, *, now: datetime) -> DealState:
    """End a deal by hand; its unsold units go back to free stock (ending twice changes nothing)."""
    deal = await get_deal(session, deal_id)
    await broadcasts.require_controller(session, principal, deal.stream_id)
    closed = await _close(session, deal_id, now)
    if closed is None:
        return await get_deal(session, deal_id)
    await audit.record(session, principal, "flash_deal.ended", f"flash_deal:{deal_id}", {"returned": closed[1]}, now=now)
    return closed[0]


async def get_deal(session: AsyncSession, deal_id: int) -> DealState:
    """The deal, or NotFound."""
    found = await stock.read_deals(session, [deal_id])
    if deal_id not in found:
        raise NotFound(_l("Flash deal {deal_id} does not exist.", deal_id=deal_id))
    return found[deal_id]


async def stream_deals(session: AsyncSession, stream_id: int) -> list[DealState]:
    """A stream's deals, newest first (NotFound for an unknown stream)."""
    await broadcasts.get_stream(session, stream_id)
    return await stock.deals_of_stream(session, stream_id)


async def advance_deals(session: AsyncSession, *, now: datetime) -> int:
    """Announce the deals whose window opened and close those past their end; how many changed.

    Run every second by the scheduler. Orders do not depend on it (they check the window
    themselves); it only tells viewers, and returns unsold units, once per deal.
    """
    starting, ending = await stock.deals_due(session, now)
    changed = 0
    for deal in starting:
        if deal.status(now) == "open" and await stock.mark_started(session, deal.id):
            await _announce(session, deal, EventType.flash_started, now)
            changed += 1
    for deal in ending:
        if await _close(session, deal.id, now) is not None:
            changed += 1
    return changed


async def _close(session: AsyncSession, deal_id: int, now: datetime) -> tuple[DealState, int] | None:
    closed = await stock.close_deal(session, deal_id, now=now)
    if closed is not None:
        await _announce(session, closed[0], EventType.flash_ended, now)
    return closed


async def _announce(session: AsyncSession, deal: DealState, type: EventType, now: datetime) -> None:
    """The deal's event, then `stock.changed` for what moved, in the deal's stream and every stream featuring the product."""
    await append_with_stock_changes(session, {deal.stream_id: [(type, deal_event_data(deal))]}, stock.take_pending(session), ts=now)
