"""The notifiers: the group-robot webhook's message shape and its failures."""

from __future__ import annotations

import json

import httpx
import pytest

from livecommerce.kit.settings import Settings
from schedulers.notify import LogNotifier, Notification, NotificationFailed, Recipient, WebhookNotifier, notifier_from_settings

NOTE = Notification(
    key="reminder:booking-1:30",
    kind="reminder",
    text="Reminder: 「高州荔枝」 goes live at 03-04 10:00",
    recipients=(Recipient(1, "cadre1", "李书记", "13800000000"), Recipient(2, "org1", "王主任")),
)


class TestWebhookNotifier:
    async def test_posts_the_robot_text_message(self) -> None:
        seen: list[httpx.Request] = []

        def robot(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})

        notifier = WebhookNotifier("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", transport=httpx.MockTransport(robot))
        await notifier.send(NOTE)
        await notifier.aclose()
        assert len(seen) == 1
        assert seen[0].url.params["key"] == "k"
        assert json.loads(seen[0].content) == {
            "msgtype": "text",
            "text": {"content": NOTE.text, "mentioned_mobile_list": ["13800000000"]},
        }

    async def test_robot_error_code_raises(self) -> None:
        transport = httpx.MockTransport(lambda _r: httpx.Response(200, json={"errcode": 310000, "errmsg": "sign not match"}))
        notifier = WebhookNotifier("https://oapi.dingtalk.com/robot/send?access_token=t", transport=transport)
        with pytest.raises(NotificationFailed, match="310000"):
            await notifier.send(NOTE)

    async def test_http_error_status_raises(self) -> None:
        notifier = WebhookNotifier("https://example.invalid/hook", transport=httpx.MockTransport(lambda _r: httpx.Response(502)))
        with pytest.raises(NotificationFailed, match="502"):
            await notifier.send(NOTE)

    async def test_unreachable_robot_raises(self) -> None:
        notifier = WebhookNotifier("http://127.0.0.1:9/hook", timeout=1.0)  # discard port: nothing listens
        with pytest.raises(NotificationFailed, match="unreachable"):
            await notifier.send(NOTE)
        await notifier.aclose()


class TestNotifierFromSettings:
    def test_webhook_when_configured_else_log(self) -> None:
        assert isinstance(notifier_from_settings(Settings(notify_webhook_url="https://x.test/hook")), WebhookNotifier)
        assert isinstance(notifier_from_settings(Settings(notify_webhook_url=None)), LogNotifier)
