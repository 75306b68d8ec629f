"""Stream lifecycle: created with a booking, started (by hand or at slot start), pinned, ended.

Every transition is a compare-and-set (`UPDATE ... WHERE status = <expected>`), so a double
click, a retried request and a scheduler job racing a cadre change a stream at most once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.audit import service as audit
from livecommerce.broadcasts import repository
from livecommerce.broadcasts.events import EventType, append_event, ensure_stream_sequence
from livecommerce.broadcasts.models import Stream, StreamHost, StreamProduct, StreamSequence
from livecommerce.broadcasts.schemas import FeaturedProduct, StreamDetail, StreamHostPublic, StreamPublic, StreamStatus
from livecommerce.catalog import repository as catalog
from livecommerce.catalog import service as catalog_service
from livecommerce.kit.errors import Conflict, Forbidden, InvalidInput, InvalidState, NotFound
from livecommerce.kit.i18n import _l, status_word
from livecommerce.kit.pagination import PageParams, paginate
from livecommerce.kit.principal import Principal
from livecommerce.kit.signals import StreamStart, stream_starting

if TYPE_CHECKING:
    from livecommerce.catalog.models import Product


async def create_stream(
    session: AsyncSession,
    *,
    title: str,
    scheduled_start: datetime,
    scheduled_end: datetime,
    anchor_ids: Sequence[int],
    product_ids: Sequence[int],
    booking_id: int | None = None,
    studio_id: int | None = None,
    auto_start: bool = True,
    certified_only: bool = False,
) -> Stream:
    """Create a scheduled stream with its hosts and featured products (called when a booking is made)."""
    stream = Stream(
        title=title,
        booking_id=booking_id,
        studio_id=studio_id,
        scheduled_start=scheduled_start,
        scheduled_end=scheduled_end,
        auto_start=auto_start,
        certified_only=certified_only,
    )
    session.add(stream)
    await session.flush()
    assert stream.id is not None
    for anchor_id in dict.fromkeys(anchor_ids):
        session.add(StreamHost(stream_id=stream.id, anchor_id=anchor_id))
    for product_id in dict.fromkeys(product_ids):
        session.add(StreamProduct(stream_id=stream.id, product_id=product_id))
    await ensure_stream_sequence(session, stream.id)
    await session.flush()
    return stream


async def get_stream(session: AsyncSession, stream_id: int) -> Stream:
    """The stream, or NotFound."""
    stream = await session.get(Stream, stream_id)
    if stream is None:
        raise NotFound(_l("Stream {stream_id} does not exist.", stream_id=stream_id))
    return stream


async def host_anchor_ids(session: AsyncSession, stream_id: int) -> list[int]:
    """The anchors hosting a stream."""
    return (await repository.host_ids_by_stream(session, [stream_id]))[stream_id]


async def featured_product_ids(session: AsyncSession, stream_id: int) -> list[int]:
    """The products that can be ordered in a stream."""
    return await repository.featured_ids(session, stream_id)


async def stream_county_ids(session: AsyncSession, stream_id: int) -> set[int]:
    """The counties a stream serves: those of its hosts and of its featured products."""
    hosts = await catalog.anchor_county_ids(session, await host_anchor_ids(session, stream_id))
    return hosts | await catalog.product_county_ids(session, await featured_product_ids(session, stream_id))


async def require_controller(session: AsyncSession, principal: Principal, stream_id: int) -> None:
    """Only the stream's host cadres, and organizers of its counties (or admins), control it."""
    if principal.is_admin:
        return
    if principal.role == "organizer":
        if principal.county_ids & await stream_county_ids(session, stream_id):
            return
        raise Forbidden(_l("You organize no county this stream serves."))
    if principal.role == "cadre" and principal.anchor_id is not None and principal.anchor_id in await host_anchor_ids(session, stream_id):
        return
    raise Forbidden(_l("Only the stream's hosts and its organizers can control it."))


async def _transition(session: AsyncSession, stream_id: int, expected: Sequence[StreamStatus], values: dict[str, object]) -> bool:
    result = await session.execute(
        update(Stream)
        .where(col(Stream.id) == stream_id, col(Stream.status).in_([s.value for s in expected]))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    # An UPDATE always answers with a cursor result; the session types it as the general Result.
    return bool(cast("CursorResult[Any]", result).rowcount)


async def start_stream(session: AsyncSession, stream_id: int, *, now: datetime, warmup: timedelta | None = None) -> Stream:
    """Go live. Idempotent for a stream already live; refused for an ended or cancelled one.

    `warmup` marks a start by hand, which the go-live guard checks first (see `guard_hand_start`).
    """
    stream = await get_stream(session, stream_id)
    if warmup is not None and stream.status == StreamStatus.scheduled:
        await guard_hand_start(session, stream, now=now, warmup=warmup)
    if await _transition(session, stream_id, [StreamStatus.scheduled], {"status": StreamStatus.live, "started_at": now}):
        await append_event(session, stream_id, EventType.stream_started, {"started_at": now.isoformat(), "title": stream.title}, ts=now)
    await session.refresh(stream)
    if stream.status != StreamStatus.live:
        raise InvalidState(_l("「{title}」 is {status} and cannot go live.", title=stream.title, status=status_word(stream.status)))
    return stream


async def guard_hand_start(session: AsyncSession, stream: Stream, *, now: datetime, warmup: timedelta) -> None:
    """The go-live guard: 409 with `conflicts` unless the booking agrees, the warm-up has begun and the studio is free.

    The booking's handlers run first: they lock the studio, so of two hand starts in one studio
    the second finds the first live.
    """
    assert stream.id is not None
    start = StreamStart(stream_id=stream.id, booking_id=stream.booking_id, studio_id=stream.studio_id)
    await stream_starting.send(session, start)
    opens = stream.scheduled_start - warmup
    if now < opens:
        start.conflicts.append(
            {
                "kind": "too_early",
                "stream_id": stream.id,
                "starts_at": stream.scheduled_start.isoformat(),
                "detail": f"a stream can go live at most {int(warmup.total_seconds() // 60)} minutes before its slot",
            }
        )
    if stream.studio_id is not None:
        others = await session.scalars(
            select(Stream).where(
                col(Stream.studio_id) == stream.studio_id, col(Stream.status) == StreamStatus.live, col(Stream.id) != stream.id
            )
        )
        for other in others.all():
            start.conflicts.append(
                {
                    "kind": "studio_live",
                    "stream_id": other.id,
                    "studio_id": stream.studio_id,
                    "detail": f"「{other.title}」 is live in the studio",
                }
            )
    if start.conflicts:
        raise Conflict(_l("「{title}」 cannot go live now.", title=stream.title), extra={"conflicts": start.conflicts})


async def reschedule_stream(
    session: AsyncSession,
    stream_id: int,
    *,
    starts_at: datetime,
    ends_at: datetime,
    studio_id: int | None,
    certified_only: bool = False,
) -> bool:
    """Move a stream that has not gone live to a new time and studio (its booking moved); True if it changed."""
    values: dict[str, object] = {
        "scheduled_start": starts_at,
        "scheduled_end": ends_at,
        "studio_id": studio_id,
        "certified_only": certified_only,
    }
    return await _transition(session, stream_id, [StreamStatus.scheduled], values)


async def end_stream(session: AsyncSession, stream_id: int, *, now: datetime) -> Stream:
    """End the broadcast. Idempotent for a stream already ended; a scheduled one is refused."""
    stream = await get_stream(session, stream_id)
    if await _transition(session, stream_id, [StreamStatus.live], {"status": StreamStatus.ended, "ended_at": now}):
        await append_event(session, stream_id, EventType.stream_ended, {"ended_at": now.isoformat()}, ts=now)
    await session.refresh(stream)
    if stream.status != StreamStatus.ended:
        raise InvalidState(
            _l("「{title}」 is {status}; only a live stream can end.", title=stream.title, status=status_word(stream.status))
        )
    return stream


async def cancel_stream(session: AsyncSession, stream_id: int) -> bool:
    """Cancel a stream that never went live (its booking was cancelled); True if it changed."""
    return await _transition(session, stream_id, [StreamStatus.scheduled], {"status": StreamStatus.cancelled})


async def pin_product(session: AsyncSession, stream_id: int, product_id: int, *, now: datetime, actor: Principal | None = None) -> Stream:
    """Show one featured product on screen; viewers see it pinned (audited, as `actor` or the system)."""
    stream = await get_stream(session, stream_id)
    if stream.status != StreamStatus.live:
        raise InvalidState(_l("Products can be pinned only while the stream is live."))
    if product_id not in await featured_product_ids(session, stream_id):
        raise InvalidInput(
            _l("This product is not featured in this stream."),
            extra={"errors": [{"field": "product_id", "message": "not featured in this stream"}]},
        )
    product = await catalog_service.get_product(session, product_id)
    previous = stream.pinned_product_id
    stream.pinned_product_id = product_id
    session.add(stream)
    await audit.record(session, actor, "stream.product_pinned", f"stream:{stream_id}", {"from": previous, "to": product_id}, now=now)
    await append_event(
        session,
        stream_id,
        EventType.product_pinned,
        {"product_id": product_id, "name": product.name, "price_fen": product.price_fen, "stock": product.stock, "unit": product.unit},
        ts=now,
    )
    return stream


async def list_streams(session: AsyncSession, page: PageParams, *, status: StreamStatus | None = None) -> tuple[list[Stream], str | None]:
    """One page of streams, by id, optionally in one state."""
    stmt = select(Stream)
    if status is not None:
        stmt = stmt.where(col(Stream.status) == status.value)
    rows, cursor = await paginate(session, stmt, Stream.id, page)  # type: ignore[arg-type]  # SQLModel types `Model.id` as int | None
    return rows, cursor


async def stream_detail(session: AsyncSession, stream_id: int) -> StreamDetail:
    """The stream with its hosts, its featured products and their live stock, and the pinned product."""
    stream = await get_stream(session, stream_id)
    hosts = await catalog.anchors_by_ids(session, await host_anchor_ids(session, stream_id))
    products = await catalog.products_by_ids(session, await featured_product_ids(session, stream_id), fresh=True)
    featured = [_featured(p) for p in products]
    pinned = next((p for p in featured if p.id == stream.pinned_product_id), None)
    counties = sorted({h.county_id for h in hosts} | {p.county_id for p in products})
    return StreamDetail(
        **StreamPublic.model_validate(stream).model_dump(),
        hosts=[StreamHostPublic(id=h.id or 0, name=h.name, title=h.title, county_id=h.county_id) for h in hosts],
        products=featured,
        pinned_product=pinned,
        county_ids=counties,
    )


def _featured(product: Product) -> FeaturedProduct:
    assert product.id is not None
    return FeaturedProduct(
        id=product.id,
        name=product.name,
        county_id=product.county_id,
        unit=product.unit,
        price_fen=product.price_fen,
        stock=product.stock,
        reserved=product.reserved,
        sold=product.sold,
        image_url=product.image_url,
        description=product.description,
    )


@dataclass(frozen=True)
class StreamOffer:
    """What a stream offers for an order, read in one query: its status and featured products' prices."""

    status: str
    prices: dict[int, int]
    title: str = ""  # read in the same query, so a refusal can name the stream


# Built once, so an order batch only binds its values (an expanding IN keeps one cache entry).
_STREAM_OFFER = (
    select(col(Stream.status), col(StreamProduct.product_id), col(Stream.title))
    .select_from(Stream)
    .outerjoin(
        StreamProduct,
        (col(StreamProduct.stream_id) == col(Stream.id)) & col(StreamProduct.product_id).in_(bindparam("product_ids", expanding=True)),
    )
    .where(col(Stream.id) == bindparam("stream_id"))
)


async def stream_offer(session: AsyncSession, stream_id: int, product_ids: Sequence[int]) -> StreamOffer | None:
    """The stream's status and the price of each of `product_ids` it features (None for an unknown stream)."""
    rows = (await session.execute(_STREAM_OFFER, {"stream_id": stream_id, "product_ids": list(product_ids)})).all()
    if not rows:
        return None
    featured = [pid for _, pid, _ in rows if pid is not None]
    return StreamOffer(status=rows[0][0], prices=await catalog.prices_of(session, featured), title=rows[0][2])


async def stream_titles(session: AsyncSession, stream_ids: Sequence[int]) -> dict[int, str]:
    """The titles of the streams among `stream_ids` that exist, by id."""
    rows = await session.execute(select(col(Stream.id), col(Stream.title)).where(col(Stream.id).in_(list(stream_ids))))
    return {stream_id: title for stream_id, title in rows.all() if stream_id is not None}


async def stream_statuses(session: AsyncSession, stream_ids: Sequence[int]) -> dict[int, str]:
    """The status of each of the streams among `stream_ids` that exist, by id."""
    rows = await session.execute(select(col(Stream.id), col(Stream.status)).where(col(Stream.id).in_(list(stream_ids))))
    return {stream_id: status for stream_id, status in rows.all() if stream_id is not None}


async def streams_by_ids(session: AsyncSession, stream_ids: Sequence[int]) -> list[Stream]:
    """The streams among `stream_ids` that exist, by scheduled start."""
    stmt = select(Stream).where(col(Stream.id).in_(list(stream_ids))).order_by(col(Stream.scheduled_start), col(Stream.id))
    return list((await session.scalars(stmt)).all())


async def live_stream_heads(session: AsyncSession) -> dict[int, int]:
    """The last event seq of every live stream."""
    rows = await session.execute(
        select(col(Stream.id), col(StreamSequence.last_seq))
        .join(StreamSequence, col(StreamSequence.stream_id) == col(Stream.id))
        .where(col(Stream.status) == StreamStatus.live)
    )
    return {int(stream_id or 0): int(head) for stream_id, head in rows.all()}


async def past_stream_starts(session: AsyncSession, limit: int = 5000) -> dict[int, datetime]:
    """When the latest ended streams went live, by id (what the planner learns its good hours from)."""
    rows = await repository.streams_in_states(session, [StreamStatus.ended], limit)
    return {s.id: s.started_at for s in rows if s.id is not None and s.started_at is not None}
