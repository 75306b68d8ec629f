"""An anchor's schedule as an iCalendar feed that calendar apps can subscribe to.

Times are written in UTC (`...Z`) so every calendar converts them right, wherever its user is;
`X-WR-TIMEZONE` tells apps to display them in the scheduling zone. Event UIDs are
`booking-<id>@livecommerce`, stable across fetches, so an app updates an event in place, and a
cancelled booking stays in the feed as `STATUS:CANCELLED` so subscribers see it go.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from icalendar import Alarm, Calendar, Event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from livecommerce.broadcasts import service as streams
from livecommerce.catalog.models import Anchor
from livecommerce.kit.settings import Settings
from schedulers import followers
from schedulers.models import Booking, BookingAnchor, BookingStatus, Slot, Studio

FEED_PAST = timedelta(days=90)  # how far back the feed reaches
_ICAL_STATUS = {
    BookingStatus.requested: "TENTATIVE",
    BookingStatus.confirmed: "CONFIRMED",
    BookingStatus.live: "CONFIRMED",
    BookingStatus.ended: "CONFIRMED",
    BookingStatus.cancelled: "CANCELLED",
    BookingStatus.no_show: "CANCELLED",
}


def feed_token(settings: Settings, anchor_id: int) -> str:
    """The secret that lets a calendar app read one anchor's feed without signing in."""
    digest = hmac.new(settings.secret_key.encode(), f"schedule-feed:{anchor_id}".encode(), hashlib.sha256).hexdigest()
    return digest[:32]


def feed_token_valid(settings: Settings, anchor_id: int, token: str) -> bool:
    """Constant-time check of a feed token."""
    # compare_digest refuses str with non-ASCII characters (TypeError): compare bytes instead.
    return hmac.compare_digest(feed_token(settings, anchor_id).encode(), token.encode("utf-8", "surrogatepass"))


async def anchor_calendar(session: AsyncSession, anchor: Anchor, *, settings: Settings, now: datetime) -> bytes:
    """The anchor's bookings from 90 days ago onwards, as an iCalendar document."""
    stmt = (
        select(Booking, Studio)
        .join(BookingAnchor, col(BookingAnchor.booking_id) == col(Booking.id))
        .join(Slot, col(Slot.id) == col(Booking.slot_id))
        .join(Studio, col(Studio.id) == col(Slot.studio_id))
        .where(col(BookingAnchor.anchor_id) == anchor.id, col(Booking.ends_at) > now - FEED_PAST)
        .order_by(col(Booking.starts_at), col(Booking.id))
    )
    rows = (await session.execute(stmt)).all()
    titles = await streams.stream_titles(session, [b.stream_id for b, _ in rows if b.stream_id is not None])
    cal = Calendar()
    cal.add("prodid", "-//livecommerce//schedule//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"{anchor.name} — broadcasts")
    cal.add("x-wr-timezone", settings.timezone)
    for booking, studio in rows:
        event = Event()
        event.add("uid", f"booking-{booking.id}@livecommerce")
        event.add("dtstamp", now)
        event.add("dtstart", booking.starts_at)
        event.add("dtend", booking.ends_at)
        event.add("summary", titles.get(booking.stream_id or 0, f"Broadcast {booking.id}"))
        event.add("location", f"{studio.name} ({studio.platform})")
        event.add("description", f"Booking {booking.id}: {booking.status}")
        event.add("status", _ICAL_STATUS[BookingStatus(booking.status)])
        # Bumped on every state change so subscribers replace their copy.
        event.add("sequence", list(BookingStatus).index(BookingStatus(booking.status)))
        event.add("last-modified", booking.cancelled_at or booking.confirmed_at or booking.created_at)
        cal.add_component(event)
    return bytes(cal.to_ical())


_STREAM_ICAL_STATUS = {"scheduled": "CONFIRMED", "live": "CONFIRMED", "ended": "CONFIRMED", "cancelled": "CANCELLED"}


def reminders_feed_token(settings: Settings, user_id: int) -> str:
    """The secret that lets a calendar app read one viewer's reminded broadcasts without signing in."""
    digest = hmac.new(settings.secret_key.encode(), f"reminders-feed:{user_id}".encode(), hashlib.sha256).hexdigest()
    return digest[:32]


def reminders_feed_token_valid(settings: Settings, user_id: int, token: str) -> bool:
    """Constant-time check of a reminders feed token."""
    return hmac.compare_digest(reminders_feed_token(settings, user_id).encode(), token.encode("utf-8", "surrogatepass"))


async def reminders_calendar(session: AsyncSession, user_id: int, *, settings: Settings, now: datetime) -> bytes:
    """The broadcasts a viewer asked to be reminded of, as an iCalendar document with a reminder alarm each."""
    stream_ids = await followers.reminded_stream_ids(session, user_id)
    cal = Calendar()
    cal.add("prodid", "-//livecommerce//reminders//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", "Broadcasts I follow")
    cal.add("x-wr-timezone", settings.timezone)
    for stream in await streams.streams_by_ids(session, stream_ids):
        event = Event()
        event.add("uid", f"stream-{stream.id}@livecommerce")
        event.add("dtstamp", now)
        event.add("dtstart", stream.scheduled_start)
        event.add("dtend", stream.scheduled_end)
        event.add("summary", stream.title)
        event.add("url", f"/streams/{stream.id}")
        event.add("status", _STREAM_ICAL_STATUS.get(stream.status, "CONFIRMED"))
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", stream.title)
        alarm.add("trigger", -timedelta(minutes=settings.reminder_minutes))
        event.add_component(alarm)
        cal.add_component(event)
    return bytes(cal.to_ical())
