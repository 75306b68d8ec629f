"""Telling people things: reminders, no-shows, digests. One small interface, two deliveries.

The webhook notifier speaks the text message of WeCom and DingTalk group robots
(`{"msgtype": "text", "text": {"content": ...}}`); the log notifier writes to the log (dev, tests).
Whether a message was already sent is recorded by the caller (`sent_notifications`), not here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import httpx
import structlog

from livecommerce.kit.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Recipient:
    """A user who should read the message."""

    user_id: int
    username: str
    display_name: str
    phone: str | None = None


@dataclass(frozen=True)
class Notification:
    """One message; `key` is unique per message ever sent (e.g. `reminder:booking-7:30`)."""

    key: str
    kind: str
    text: str
    recipients: tuple[Recipient, ...] = field(default_factory=tuple)


class NotificationFailed(Exception):
    """The channel refused or could not be reached; the caller retries later."""


class Notifier(Protocol):
    """Delivers a notification or raises NotificationFailed."""

    async def send(self, notification: Notification) -> None:
        """Deliver one message."""

    async def aclose(self) -> None:
        """Release connections."""


class LogNotifier:
    """Writes each notification to the log."""

    async def send(self, notification: Notification) -> None:
        """Log the message."""
        log.info(
            "notification",
            key=notification.key,
            kind=notification.kind,
            to=[r.username for r in notification.recipients],
            text=notification.text,
        )

    async def aclose(self) -> None:
        """Nothing to release."""


class WebhookNotifier:
    """Posts to a WeCom or DingTalk group robot."""

    def __init__(self, url: str, *, timeout: float = 5.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = url
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport)

    def payload(self, notification: Notification) -> dict[str, object]:
        """The robot's text message, mentioning recipients by phone where known."""
        text: dict[str, object] = {"content": notification.text}
        phones = [r.phone for r in notification.recipients if r.phone]
        if phones:
            text["mentioned_mobile_list"] = phones
        return {"msgtype": "text", "text": text}

    async def send(self, notification: Notification) -> None:
        """Post the message; NotificationFailed on a transport error, non-2xx, or a robot error code."""
        try:
            response = await self._client.post(self.url, json=self.payload(notification))
        except httpx.HTTPError as exc:
            raise NotificationFailed(f"webhook unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 300:
            raise NotificationFailed(f"webhook answered {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            body = {}
        # Both robots answer 200 with {"errcode": 0, "errmsg": "ok"}; anything else is a refusal.
        if isinstance(body, dict) and body.get("errcode", 0) != 0:
            raise NotificationFailed(f"webhook refused: {body.get('errcode')} {body.get('errmsg', '')}")

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()


def notifier_from_settings(settings: Settings) -> Notifier:
    """The webhook notifier when a URL is configured, else the log notifier."""
    if settings.notify_webhook_url:
        return WebhookNotifier(settings.notify_webhook_url)
    return LogNotifier()
