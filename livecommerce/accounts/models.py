"""Users, their roles and the counties they act for."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from livecommerce.kit.clock import utcnow
from livecommerce.kit.principal import Role
from livecommerce.kit.types import UTCDateTime

__all__ = ["RefreshTokenUse", "Role", "User", "UserCounty"]


class User(SQLModel, table=True):
    """A person who signs in."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=16, index=True)
    display_name: str = Field(max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    anchor_id: int | None = Field(default=None, foreign_key="anchors.id", index=True)
    is_active: bool = Field(default=True)
    # Bumped on logout-everywhere, role or password change: older tokens stop working.
    token_version: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UserCounty(SQLModel, table=True):
    """A county an organizer or cadre acts within."""

    __tablename__ = "user_counties"

    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    county_id: int = Field(foreign_key="counties.id", primary_key=True, index=True)


class RefreshTokenUse(SQLModel, table=True):
    """A refresh token that was exchanged once; a second exchange means it was stolen."""

    __tablename__ = "refresh_token_uses"

    jti: str = Field(primary_key=True, max_length=32)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    used_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
