"""Purchasing units: the budget units whose canteens reserve a share of their food buying for assistance."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint
from sqlmodel import Field, SQLModel

from livecommerce.kit.clock import utcnow
from livecommerce.kit.types import UTCDateTime


class UnitType(StrEnum):
    """Kinds of purchasing unit; a trade union belongs to its parent unit."""

    party = "party"
    government = "government"
    enterprise = "enterprise"
    school = "school"
    union = "union"


class PurchasingUnit(SQLModel, table=True):
    """A unit with its yearly canteen food budget and the share of it reserved for assistance."""

    __tablename__ = "purchasing_units"
    __table_args__ = (
        CheckConstraint("annual_food_budget_fen >= 0", name="budget_nonneg"),
        CheckConstraint("reserved_share_bp >= 0 AND reserved_share_bp <= 10000", name="share_bp"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128)
    unit_type: str = Field(max_length=32)
    # 64-bit: a large unit's canteen budget runs past 21 million yuan.
    annual_food_budget_fen: int = Field(sa_type=BigInteger)
    reserved_share_bp: int = Field(default=1000)
    parent_unit_id: int | None = Field(default=None, foreign_key="purchasing_units.id", index=True)
    # The county whose office follows the unit; None for units followed by the province.
    county_id: int | None = Field(default=None, foreign_key="counties.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
