"""The one configuration object, read from `LIVECOMMERCE_*` environment variables."""

from __future__ import annotations

import json
from functools import cached_property
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SECRET_KEY = "dev-insecure-secret-key-change-me"
DEFAULT_RATE_LIMITS = {
    "sign_in_user": "10/minute",
    "sign_in_address": "60/minute",
    "register_address": "20/hour",
    "orders_buyer": "30/minute",
    "orders_stream": "200/second",
}


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
    refresh_token_ttl_seconds: int = Field(default=14 * 24 * 3600, gt=0)
    reservation_ttl_seconds: int = Field(default=900, gt=0)
    max_quantity_per_buyer: int = Field(default=20, gt=0)
    # How many payment notices the cashier settles in one transaction; 1 settles each alone
    # (no group commit, as `python -m bench.payments --baseline` measures).
    payment_batch_max: int = Field(default=64, ge=1, le=1000)
    # How long an instance trusts what it learned of a product's or deal's units before it
    # says "sold out" from memory (events through the bus refresh it sooner).
    # How often the scheduler opens and closes flash deals (orders check a deal's window themselves).
    flash_deal_interval_seconds: float = Field(default=1.0, gt=0)
    # How long an instance may answer from its cached principal (revocations reach every instance
    # at once through the notices; this bounds the time when they cannot be heard). 0 turns it off.
    principal_cache_seconds: float = Field(default=30.0, ge=0)
    availability_ttl_seconds: float = Field(default=1.0, ge=0)
    payment_webhook_secret: str = "dev-webhook-secret"
    sandbox_payments_enabled: bool = True
    # Payment providers (README, "Payment configuration"): a comma-separated list or a JSON array.
    payment_providers: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["sandbox"])
    # Trade numbers are this prefix and the order id: give each deployment sharing a merchant account its own.
    payment_trade_prefix: str = Field(default="LC", pattern=r"^[A-Za-z][A-Za-z0-9]{0,11}$")
    payment_notify_max_age_seconds: int = Field(default=300, gt=0)
    payment_http_timeout_seconds: float = Field(default=10.0, gt=0)
    # Yesterday's bills are reconciled at this local hour (half past); WeChat Pay publishes them after 10:00.
    payment_reconciliation_hour: int = Field(default=11, ge=0, le=23)
    wechatpay_mchid: str | None = None
    wechatpay_appid: str | None = None
    wechatpay_merchant_serial_no: str | None = None
    wechatpay_private_key_file: str | None = None
    wechatpay_apiv3_key: SecretStr | None = None
    wechatpay_platform_cert_files: Annotated[list[str], NoDecode] = Field(default_factory=list)
    wechatpay_api_base: str = "https://api.mch.weixin.qq.com"
    wechatpay_notify_url: str | None = None
    alipay_app_id: str | None = None
    alipay_app_private_key_file: str | None = None
    alipay_public_key_file: str | None = None
    alipay_seller_id: str | None = None
    alipay_gateway: str = "https://openapi.alipay.com/gateway.do"
    alipay_notify_url: str | None = None
    alipay_return_url: str | None = None
    rate_limits_enabled: bool = True
    # Rules in the `limits` notation; override one with e.g. LIVECOMMERCE_RATE_LIMITS='{"orders_buyer": "60/minute"}'.
    rate_limits: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS))
    # Scheduling
    booking_buffer_minutes: int = Field(default=15, ge=0)
    run_scheduler: bool = True
    # embedded: the app process runs the jobs (behind the leader lock); worker: `livecommerce scheduler` does; off: nobody.
    scheduler_mode: Literal["embedded", "worker", "off"] = "embedded"
    # The scheduler worker has no web server; set a port to serve its /metrics for Prometheus.
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    worker_metrics_host: str = "127.0.0.1"
    booking_min_notice_minutes: int = Field(default=60, ge=0)
    # A confirmed booking's stream may be started by hand this long before its slot (a warm-up).
    warmup_minutes: int = Field(default=30, ge=0)
    # Followers and viewers who asked to be reminded hear of a broadcast this long before it starts.
    reminder_minutes: int = Field(default=10, gt=0)
    # CP-SAT search workers for the campaign planner: the machine's cores, not more.
    planner_workers: int = Field(default=2, ge=1, le=64)
    anchor_max_broadcasts_per_week: int = Field(default=7, gt=0)
    anchor_max_air_minutes_per_day: int = Field(default=240, gt=0)
    reminder_offsets_minutes: list[int] = Field(default_factory=lambda: [1440, 30])
    no_show_after_minutes: int = Field(default=15, gt=0)
    close_grace_minutes: int = Field(default=10, ge=0)
    sweep_interval_seconds: int = Field(default=30, gt=0)
    order_expiry_interval_seconds: int = Field(default=30, gt=0)
    # Fulfillment: the carriers staff may ship with, and when a shipped order counts as received.
    carriers: list[str] = Field(default_factory=lambda: ["SF", "JD", "EMS", "China Post", "YTO", "ZTO", "STO", "Yunda"])
    auto_receive_days: int = Field(default=10, gt=0)
    auto_receive_interval_seconds: int = Field(default=600, gt=0)
    # Settlement: a delivered order's credits stay pending this many days (the buyer's window to
    # ask for a refund), then the settlement job moves them to settled.
    settlement_days: int = Field(default=7, ge=0)
    settlement_interval_seconds: int = Field(default=600, gt=0)
    digest_hour: int = Field(default=21, ge=0, le=23)
    misfire_grace_seconds: int = Field(default=300, gt=0)
    scheduler_lease_seconds: int = Field(default=15, ge=3)
    scheduler_retry_seconds: float = Field(default=5.0, gt=0)
    notify_webhook_url: str | None = None
    # Database pool (per app instance)
    db_pool_size: int = Field(default=10, gt=0)
    db_max_overflow: int = Field(default=20, ge=0)
    db_statement_timeout_ms: int = Field(default=15000, gt=0)
    # How long opening a PostgreSQL connection may take before the request is answered 503.
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    redis_prefix: str = Field(default="lc", pattern=r"^[A-Za-z0-9_:\-]+$")
    # Real-time relay
    relay_viewer_buffer: int = Field(default=512, gt=0)  # messages queued per viewer before it is cut off (4008)
    relay_viewer_buffer_bytes: int = Field(default=256 * 1024, gt=0)  # unsent bytes per fast-path viewer before it reads from history
    relay_fast_path: bool = True  # write pre-encoded frames straight to uvicorn's websocket transports
    relay_poll_interval_seconds: float = Field(default=1.0, gt=0)  # outbox safety-net poll
    relay_coalesce_interval_seconds: float = Field(default=0.4, gt=0)  # sales.updated / viewers.updated at most this often
    # Stream orders that need no more than memory to authenticate skip the framework's dependency solving (orders/fast_path.py).
    order_fast_path: bool = True
    max_body_bytes: int = Field(default=256 * 1024, gt=0)
    # Household and product spreadsheets: a few thousand rows fit in well under this.
    import_max_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    import_max_rows: int = Field(default=5000, gt=0)
    # Websockets: viewers only listen, so what they send is kept small and rare.
    ws_max_message_bytes: int = Field(default=4096, gt=0)
    ws_max_messages_per_minute: int = Field(default=60, gt=0)
    # In-stream chat: each signed-in user sends at most chat_messages_per_window per chat_window_seconds in a stream.
    chat_messages_per_window: int = Field(default=5, gt=0)
    chat_window_seconds: float = Field(default=10.0, gt=0)
    # Messages containing any of these (case-insensitive) are refused; e.g. LIVECOMMERCE_CHAT_BLOCKED_WORDS='["spam"]'.
    chat_blocked_words: list[str] = Field(default_factory=list)
    # Households often share one carrier-grade NAT address, so this bound is generous.
    ws_max_connections_per_address: int = Field(default=200, gt=0)
    cors_origins: list[str] = Field(default_factory=list)
    # The proxies whose X-Forwarded-For/-Proto uvicorn believes (comma-separated addresses or
    # networks; empty: none). Only the proxy's own address: with "*" any client names its own address.
    forwarded_allow_ips: str = "127.0.0.1,::1"
    # Slow clients: the whole request head must arrive within this, and an idle keep-alive
    # connection is closed after the other.
    http_header_timeout_seconds: float = Field(default=10.0, gt=0)
    http_keep_alive_timeout_seconds: int = Field(default=5, gt=0)
    log_json: bool | None = None
    log_level: str = "INFO"

    @field_validator("rate_limits", mode="after")
    @classmethod
    def _merge_rate_limits(cls, value: dict[str, str]) -> dict[str, str]:
        from limits import parse

        merged = {**DEFAULT_RATE_LIMITS, **value}
        for rule in merged.values():
            parse(rule)  # fail at start-up on a typo, not at the first request
        return merged

    @field_validator("payment_providers", "wechatpay_platform_cert_files", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("payment_providers", mode="after")
    @classmethod
    def _known_providers(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - {"sandbox", "wechatpay", "alipay"})
        if unknown:
            raise ValueError(f"unknown payment providers {unknown}; choose from sandbox, wechatpay, alipay")
        return list(dict.fromkeys(value))

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
