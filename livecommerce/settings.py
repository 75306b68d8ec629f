"""The one configuration object, read from `LIVECOMMERCE_*` environment variables."""

from __future__ import annotations

from functools import cached_property
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_KEY = "dev-insecure-secret-key-change-me"


class Settings(BaseSettings):
    """Everything the app reads from its environment; defaults suit the embedded mode."""

    model_config = SettingsConfigDict(env_prefix="LIVECOMMERCE_", extra="ignore")

    env: Literal["dev", "prod"] = "dev"
    database_url: str = "sqlite:///./livecommerce.db"
    redis_url: str | None = None
    timezone: str = "Asia/Shanghai"
    secret_key: str = DEFAULT_SECRET_KEY
    admin_password: str | None = None
    access_token_ttl_seconds: int = Field(default=3600, gt=0)
    reservation_ttl_seconds: int = Field(default=900, gt=0)
    max_quantity_per_buyer: int = Field(default=20, gt=0)
    payment_webhook_secret: str = "dev-webhook-secret"
    sandbox_payments_enabled: bool = True
    rate_limits_enabled: bool = True
    # Scheduling
    booking_buffer_minutes: int = Field(default=15, ge=0)
    run_scheduler: bool = True
    # Database pool (per app instance)
    db_pool_size: int = Field(default=10, gt=0)
    db_max_overflow: int = Field(default=20, ge=0)
    db_statement_timeout_ms: int = Field(default=15000, gt=0)
    redis_prefix: str = Field(default="lc", pattern=r"^[A-Za-z0-9_:\-]+$")
    log_json: bool | None = None
    log_level: str = "INFO"

    @field_validator("redis_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @cached_property
    def tz(self) -> ZoneInfo:
        """The zone used for display and scheduling."""
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        """True when the database is a SQLite file (the embedded mode)."""
        return self.database_url.startswith("sqlite")
