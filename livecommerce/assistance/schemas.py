"""Request and response shapes for purchasing units and their quotas."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from livecommerce.kit.types import MAX_ID

DEFAULT_RESERVED_SHARE_BP = 1000


class UnitCreate(BaseModel):
    """A purchasing unit; a union names its parent unit."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=128)
    unit_type: Literal["party", "government", "enterprise", "school", "union"]
    annual_food_budget_fen: int = Field(ge=0, le=10**15)
    reserved_share_bp: int = Field(default=DEFAULT_RESERVED_SHARE_BP, ge=0, le=10000, description="Default 1000 (10%).")
    parent_unit_id: int | None = Field(default=None, gt=0, le=MAX_ID)
    county_id: int | None = Field(
        default=None, gt=0, le=MAX_ID, description="The county whose office follows the unit (admins may omit it)."
    )


class UnitPublic(BaseModel):
    """A purchasing unit."""

    id: int
    name: str
    unit_type: str
    annual_food_budget_fen: int
    reserved_share_bp: int
    parent_unit_id: int | None
    county_id: int | None
    created_at: datetime


class Quota(BaseModel):
    """A unit's reserved share for a year and how much of it is done (`completion_bp` may pass 10000)."""

    unit_id: int
    year: int
    quota_fen: int
    completed_fen: int
    completion_bp: int
