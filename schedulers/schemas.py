"""Request and response shapes for studios, campaigns, slots, bookings and anchor availability."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from livecommerce.kit.types import Instant, StrictInput

MAX_ID = 2**31 - 1
Id = Field(gt=0, le=MAX_ID)
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class StudioCreate(StrictInput):
    name: str = Field(min_length=1, max_length=128)
    platform: str = Field(min_length=1, max_length=64, description="Where it broadcasts, e.g. douyin, kuaishou, wechat-channels.")
    county_id: int | None = Field(
        default=None,
        gt=0,
        le=MAX_ID,
        description=(
            "The county whose organizers see it, book it and change it (one the caller acts for). `null`: a studio shared "
            "by every county, which every organizer sees and books but only admins may add or change. Left out: the "
            "caller's county for an organizer of exactly one county, a shared studio for an admin."
        ),
    )


class StudioUpdate(StrictInput):
    """A change by an organizer of the studio's county, or by an admin (who alone changes a shared studio).

    Leave a field out to keep it. It cannot be removed: the schema has no `null` for it, and a `null` is 422.
    """

    name: Annotated[str, Field(min_length=1, max_length=128)] | SkipJsonSchema[None] = None
    platform: Annotated[str, Field(min_length=1, max_length=64)] | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _no_nulls(self) -> StudioUpdate:
        if nulled := sorted(f for f in self.model_fields_set if getattr(self, f) is None):
            raise ValueError(f"{', '.join(nulled)} may be changed but not removed")
        return self


class StudioPublic(BaseModel):
    id: int
    name: str
    platform: str
    county_id: int | None = Field(description="Its county; `null` for a studio shared by every county.")


class CampaignCreate(StrictInput):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    starts_at: Instant
    ends_at: Instant
    certified_only: bool = Field(
        default=False, description="Take only bookings (and flash deals) of certified poverty-alleviation products."
    )

    @model_validator(mode="after")
    def _ordered(self) -> CampaignCreate:
        self.starts_at, self.ends_at = _utc(self.starts_at), _utc(self.ends_at)
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class CampaignPublic(BaseModel):
    id: int
    name: str
    description: str
    starts_at: datetime
    ends_at: datetime
    certified_only: bool = False


class SlotCreate(StrictInput):
    studio_id: int = Id
    starts_at: Instant
    ends_at: Instant
    campaign_id: int | None = Field(default=None, gt=0, le=MAX_ID)

    @model_validator(mode="after")
    def _ordered(self) -> SlotCreate:
        self.starts_at, self.ends_at = _utc(self.starts_at), _utc(self.ends_at)
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if (self.ends_at - self.starts_at).total_seconds() > 24 * 3600:
            raise ValueError("a slot lasts at most 24 hours")
        return self


class SlotPublic(BaseModel):
    id: int
    studio_id: int
    campaign_id: int | None
    starts_at: datetime
    ends_at: datetime
    booking_id: int | None = Field(default=None, description="The active booking of this slot, if any.")


class BookingCreate(StrictInput):
    slot_id: int = Id
    anchor_ids: list[Annotated[int, Id]] = Field(
        min_length=1, max_length=10, description="The host first, then co-hosts.", json_schema_extra={"uniqueItems": True}
    )
    product_ids: list[Annotated[int, Id]] = Field(default_factory=list, max_length=100, json_schema_extra={"uniqueItems": True})
    title: str | None = Field(default=None, min_length=1, max_length=200)
    auto_start: bool = Field(default=True, description="Go live by itself at the slot's start once confirmed.")
    notice_override_reason: str | None = Field(
        default=None,
        min_length=3,
        max_length=500,
        description="An organizer of every county of the booking may book at shorter notice; the reason is audited.",
    )

    @field_validator("anchor_ids", "product_ids")
    @classmethod
    def _ids(cls, value: list[int]) -> list[int]:
        if any(v <= 0 or v > MAX_ID for v in value):
            raise ValueError("ids are positive integers")
        if len(set(value)) != len(value):
            raise ValueError("ids must not repeat")
        return value


class BookingReschedule(BaseModel):
    """Move a booking to another slot."""

    model_config = ConfigDict(extra="forbid", strict=True)

    slot_id: int = Id
    notice_override_reason: str | None = Field(default=None, min_length=3, max_length=500)


class CoHostPublic(BaseModel):
    """A co-host of a booking and whether its cadre (or an organizer for it) has accepted."""

    anchor_id: int
    accepted: bool


class BookingPublic(BaseModel):
    id: int
    status: str
    stream_id: int | None
    slot_id: int
    studio_id: int
    starts_at: datetime
    ends_at: datetime
    auto_start: bool
    anchor_ids: list[int]
    product_ids: list[int]
    cohosts: list[CoHostPublic] = Field(default_factory=list, description="The anchors after the host, each invited until accepted.")
    pending_county_ids: list[int] = Field(
        default_factory=list, description="Counties whose organizers have not yet agreed to a requested booking."
    )
    created_by: int | None
    created_at: datetime
    confirmed_at: datetime | None
    cancelled_at: datetime | None


class Clash(BaseModel):
    """One reason a booking cannot be made (an item of the 409's `conflicts`)."""

    kind: str = Field(
        description="anchor | studio | availability | notice | weekly_limit | daily_limit | uncertified | studio_county "
        "(the slot's studio airs another county's broadcasts)"
    )
    booking_id: int | None = None
    product_id: int | None = None
    anchor_id: int | None = None
    studio_id: int | None = None
    slot_id: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    detail: str = ""


class AvailabilityWindow(StrictInput):
    """A weekly window in the scheduling zone (Asia/Shanghai): weekday 0 = Monday, times HH:MM."""

    weekday: int = Field(ge=0, le=6)
    starts: str = Field(description="HH:MM local time")
    ends: str = Field(description="HH:MM local time, 24:00 for midnight")

    @field_validator("starts", "ends")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("time must be HH:MM")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> AvailabilityWindow:
        if minutes_of(self.ends) <= minutes_of(self.starts):
            raise ValueError("ends must be after starts")
        return self


def minutes_of(hhmm: str) -> int:
    """Minutes after midnight of an HH:MM string."""
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def hhmm_of(minutes: int) -> str:
    """HH:MM of minutes after midnight."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class Availability(StrictInput):
    """An anchor's weekly windows; none means always available."""

    windows: list[AvailabilityWindow] = Field(default_factory=list, max_length=70)


class AnchorLimits(StrictInput):
    """Per-anchor limits; null falls back to the platform default."""

    max_broadcasts_per_week: int | None = Field(default=None, gt=0, le=100)
    max_air_minutes_per_day: int | None = Field(default=None, gt=0, le=1440)


class EffectiveLimits(BaseModel):
    anchor_id: int
    max_broadcasts_per_week: int
    max_air_minutes_per_day: int
    overrides: AnchorLimits


class FeedLink(BaseModel):
    """A subscription URL for calendar apps (they cannot send a bearer token)."""

    url: str
    token: str


class NotificationPublic(BaseModel):
    """An in-app notification: a broadcast about to start (`stream.reminder`) or live now (`stream.live`)."""

    kind: str = Field(description="stream.reminder | stream.live")
    stream_id: int
    at: datetime
    title: str = ""
    read: bool = False


class CountyWeight(BaseModel):
    """How much air time a county should get relative to the others (e.g. its households or unsold stock)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    county_id: int = Id
    weight: int = Field(ge=0, le=1_000_000)


class UnreadCount(BaseModel):
    """How many of a user's notifications are unread."""

    unread: int


class PlanCreate(BaseModel):
    """Ask the planner for a proposal."""

    model_config = ConfigDict(extra="forbid", strict=True)

    time_limit_seconds: int = Field(default=10, ge=1, le=120, description="How long the solver may search.")
    county_weights: list[CountyWeight] = Field(
        default_factory=list, max_length=500, description="Absent: every county weighs the same; listed: unlisted counties weigh 0."
    )
    best_hours_weight: int = Field(
        default=5,
        ge=0,
        le=20,
        strict=True,
        description="How much a slot at an hour when the county's past streams sold best counts (0: ignore the hours).",
    )

    @field_validator("county_weights")
    @classmethod
    def _distinct(cls, value: list[CountyWeight]) -> list[CountyWeight]:
        if len({w.county_id for w in value}) != len(value):
            raise ValueError("a county appears twice")
        return value


class PlanAssignment(BaseModel):
    """One proposed booking."""

    slot_id: int
    anchor_ids: list[int]
    product_ids: list[int]


class PlanUnfilled(BaseModel):
    """A slot the plan leaves empty, and the rule that blocked it."""

    slot_id: int
    reason: str = Field(description="notice | availability | anchor | weekly_limit | daily_limit | capacity | no_anchor | time_limit")


class PlanPublic(BaseModel):
    """A planner's proposal; `bound` is the best objective any plan could reach (equal to `objective` when optimal)."""

    id: int
    campaign_id: int
    status: str = Field(description="optimal | feasible | infeasible")
    objective: int
    bound: int
    assignments: list[PlanAssignment]
    unfilled: list[PlanUnfilled]
    created_at: datetime
    applied_at: datetime | None
