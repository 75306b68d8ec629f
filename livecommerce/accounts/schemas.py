"""Request and response shapes for accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, Strict, model_validator

from livecommerce.accounts.models import Role
from livecommerce.kit.types import MAX_ID, StrictInput

Username = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
Password = Field(min_length=8, max_length=128)


class Token(BaseModel):
    """An OAuth2 bearer token, with the single-use refresh token that renews it."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str | None = None
    refresh_expires_in: int | None = None


class RefreshRequest(StrictInput):
    """A refresh token to exchange for a new pair."""

    refresh_token: str = Field(min_length=1, max_length=2048)


class PasswordChange(StrictInput):
    """The caller's current password and the new one."""

    current_password: str = Field(min_length=1, max_length=128)
    new_password: str = Password


class UserUpdate(StrictInput):
    """An admin's change to a user: role, counties, anchor, name or whether they may sign in."""

    role: Annotated[Role, Strict(False)] | None = None
    display_name: str | None = Field(default=None, min_length=1, max_length=64)
    county_ids: list[Annotated[int, Field(gt=0, le=MAX_ID)]] | None = Field(default=None, max_length=100)
    anchor_id: int | None = Field(default=None, gt=0, le=MAX_ID)
    is_active: bool | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> UserUpdate:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        nulled = sorted(f for f in self.model_fields_set & {"role", "display_name", "county_ids", "is_active"} if getattr(self, f) is None)
        if nulled:
            raise ValueError(f"{', '.join(nulled)} cannot be null")
        return self


class RegisterRequest(StrictInput):
    """A new viewer's sign-up."""

    username: str = Username
    password: str = Password
    display_name: str = Field(min_length=1, max_length=64)


class UserCreate(StrictInput):
    """A user created by an admin."""

    username: str = Username
    password: str = Password
    role: Annotated[Role, Strict(False)]
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
    is_active: bool = True
    created_at: datetime
