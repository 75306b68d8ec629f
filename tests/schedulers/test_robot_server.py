"""Staff reminders through a fake WeCom group robot on a real socket, speaking the webhook's HTTP JSON protocol."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from livecommerce.kit.clock import Clock
from livecommerce.kit.db import Database
from livecommerce.kit.settings import Settings
from schedulers.jobs import JobContext, run_due
from schedulers.notify import Notification, NotificationFailed, Recipient, WebhookNotifier
from tests.schedulers.conftest import World, at

KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"


class RobotServer(ThreadingHTTPServer):
    """What a WeCom robot does with `POST /cgi-bin/webhook/send?key=...`: JSON in, `{"errcode", "errmsg"}` out."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), RobotHandler)
        self.messages: list[dict[str, Any]] = []
        self.answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/cgi-bin/webhook/send?key={KEY}"

    def texts(self) -> list[str]:
        return [m["text"]["content"] for m in self.messages]


class RobotHandler(BaseHTTPRequestHandler):
    server: RobotServer

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if parts.path != "/cgi-bin/webhook/send" or parse_qs(parts.query).get("key") != [KEY]:
            self._reply({"errcode": 93000, "errmsg": "invalid webhook url"})
            return
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            self._reply({"errcode": 40008, "errmsg": "invalid message type"})
            return
        message = json.loads(body)
        if message.get("msgtype") != "text" or not isinstance(message.get("text", {}).get("content"), str):
            self._reply({"errcode": 40008, "errmsg": "invalid message type"})
            return
        if self.server.answer["errcode"] == 0:
            self.server.messages.append(message)
        self._reply(self.server.answer)

    def _reply(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # the test output stays quiet
        return


@pytest.fixture
def robot() -> Iterator[RobotServer]:
    server = RobotServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def ctx(db: Database, settings: Settings, clock: Clock, robot: RobotServer) -> JobContext:
    settings.digest_hour = 23  # no digest in these tests
    return JobContext(db=db, settings=settings, clock=clock, notifier=WebhookNotifier(robot.url))


class TestWebhookNotifier:
    async def test_a_text_message_mentioning_the_recipients_by_phone(self, robot: RobotServer) -> None:
        notifier = WebhookNotifier(robot.url)
        try:
            people = (Recipient(1, "cadre_huang", "黄县长", phone="13800000001"), Recipient(2, "viewer", "李", phone=None))
            await notifier.send(Notification(key="k1", kind="reminder", text="提醒：直播将在30分钟后开始", recipients=people))
        finally:
            await notifier.aclose()
        assert robot.messages == [
            {"msgtype": "text", "text": {"content": "提醒：直播将在30分钟后开始", "mentioned_mobile_list": ["13800000001"]}}
        ]

    async def test_a_refusal_is_a_failure(self, robot: RobotServer) -> None:
        notifier = WebhookNotifier(robot.url.replace(KEY, "wrong-key"))
        try:
            with pytest.raises(NotificationFailed, match="93000"):
                await notifier.send(Notification(key="k2", kind="reminder", text="x"))
        finally:
            await notifier.aclose()


class TestRemindersThroughTheRobot:
    async def test_each_reminder_reaches_the_robot_once_however_often_the_sweep_runs(
        self, world: World, ctx: JobContext, robot: RobotServer
    ) -> None:
        await world.booked(at(2), 60)
        for minutes in (0, 1, 2):
            await run_due(ctx, at(1, 30 + minutes))
        assert len([t for t in robot.texts() if t.startswith("Reminder")]) == 1

    async def test_a_refusing_robot_is_tried_again_and_then_told_once(self, world: World, ctx: JobContext, robot: RobotServer) -> None:
        await world.booked(at(2), 60)
        robot.answer = {"errcode": 45009, "errmsg": "api freq out of limit"}
        report = await run_due(ctx, at(1, 30))
        assert report.failures >= 1 and robot.messages == []
        robot.answer = {"errcode": 0, "errmsg": "ok"}
        await run_due(ctx, at(1, 31))
        await run_due(ctx, at(1, 32))
        assert len([t for t in robot.texts() if t.startswith("Reminder")]) == 1
