"""Request and response shapes for accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from livecommerce.accounts.models import Role
from livecommerce.types import MAX_ID

Username = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
Password = Field(min_length=8, max_length=128)


class Token(BaseModel):
    """An OAuth2 bearer token."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int


class RegisterRequest(BaseModel):
    """A new viewer's sign-up."""

    model_config = ConfigDict(extra="forbid")

    username: str = Username
    password: str = Password
    display_name: str = Field(min_length=1, max_length=64)


class UserCreate(BaseModel):
    """A user created by an admin."""

    model_config = ConfigDict(extra="forbid")

    username: str = Username
    password: str = Password
    role: Role
    display_name: str = Field(min_length=1, max_length=64)
    county_ids: list[Annotated[int, Field(gt=0, le=MAX_ID)]] = Field(default_factory=list, max_length=100)
    anchor_id: int | None = Field(default=None, gt=0, le=MAX_ID)


class UserPublic(BaseModel):
    """A user as the API shows them."""

    id: int
    username: str
    role: Role
    display_name: str
    county_ids: list[int]
    anchor_id: int | None
    created_at: datetime
