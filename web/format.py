"""Display formats for pages: money from integer fen, times in the platform's zone, product art."""

from __future__ import annotations

import hashlib
from datetime import datetime
from zoneinfo import ZoneInfo

_WEEKDAYS = {"en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), "zh-CN": ("周一", "周二", "周三", "周四", "周五", "周六", "周日")}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def yuan(fen: int) -> str:
    """An amount of fen as yuan with two decimals and thousands separators, by integer arithmetic only."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def local(dt: datetime, tz: ZoneInfo) -> datetime:
    """The moment in the display zone."""
    return dt.astimezone(tz)


def clock_time(dt: datetime, tz: ZoneInfo) -> str:
    """Hours and minutes in the display zone: 14:05."""
    return local(dt, tz).strftime("%H:%M")


def day_label(dt: datetime, tz: ZoneInfo, lang: str) -> str:
    """A short day: `Tue 12 May` or `5月12日 周二`."""
    d = local(dt, tz)
    weekday = _WEEKDAYS.get(lang, _WEEKDAYS["en"])[d.weekday()]
    if lang == "zh-CN":
        return f"{d.month}月{d.day}日 {weekday}"
    return f"{weekday} {d.day} {_MONTHS[d.month - 1]}"


def when(dt: datetime, tz: ZoneInfo, lang: str) -> str:
    """A day and a time: `Tue 12 May, 14:05` or `5月12日 周二 14:05`."""
    separator = " " if lang == "zh-CN" else ", "
    return f"{day_label(dt, tz, lang)}{separator}{clock_time(dt, tz)}"


_PALETTES = (
    ("#f97316", "#fed7aa"),
    ("#d97706", "#fde68a"),
    ("#65a30d", "#d9f99d"),
    ("#b45309", "#fcd9b6"),
    ("#dc2626", "#fecaca"),
    ("#16a34a", "#bbf7d0"),
)


def product_colors(name: str) -> tuple[str, str]:
    """A stable warm colour pair for a product's placeholder illustration."""
    digest = hashlib.blake2s(name.encode(), digest_size=2).digest()
    return _PALETTES[digest[0] % len(_PALETTES)]
