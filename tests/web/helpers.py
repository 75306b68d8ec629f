"""Shared set-up for page tests: a stream with hosts and products, written through the services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from livecommerce.broadcasts import service as streams
from livecommerce.broadcasts.models import Stream
from livecommerce.catalog.models import Anchor, County, Product
from livecommerce.kit.clock import utcnow
from tests.factories import Factory


@dataclass
class StreamSetup:
    county: County
    anchor: Anchor
    products: list[Product]
    stream: Stream


async def make_stream(make: Factory, *, live: bool = True, title: str = "Qingyuan chicken and oranges", pin: bool = True) -> StreamSetup:
    """A stream hosted by one anchor featuring two products; live and pinned unless told otherwise."""
    county = await make.county(name="Yangshan")
    anchor = await make.anchor(county.id, name="Li Ming", title="Deputy county head")
    products = [
        await make.product(county.id, name="Sugar oranges", price_fen=3990, stock=50, unit="5 kg box"),
        await make.product(county.id, name="Free-range chicken", price_fen=12800, stock=8, unit="bird"),
    ]
    now = utcnow()
    async with make.db.transaction() as session:
        stream = await streams.create_stream(
            session,
            title=title,
            scheduled_start=now - timedelta(minutes=5),
            scheduled_end=now + timedelta(hours=2),
            anchor_ids=[anchor.id],
            product_ids=[p.id for p in products],
        )
        assert stream.id is not None
        if live:
            await streams.start_stream(session, stream.id, now=now)
            if pin:
                await streams.pin_product(session, stream.id, products[0].id, now=now)
    return StreamSetup(county=county, anchor=anchor, products=products, stream=stream)
