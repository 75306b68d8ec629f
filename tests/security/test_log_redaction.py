"""The one log filter: whatever logger writes a token, a password, a signature or a personal datum, the line holds none."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from livecommerce.kit.logging import REDACTED, configure_logging, redact_text

TOKEN = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI3IiwidmVyIjowfQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
PHONE = "13812345678"
REGISTRATION_NO = "44182119550103421X"


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """configure_logging (JSON) writing into a buffer; the previous root handlers restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    configure_logging("DEBUG", json=True)
    buffer = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        root.handlers = saved_handlers
        root.setLevel(saved_level)
        structlog.reset_defaults()


def _lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


class TestUvicornLoggers:
    def test_websocket_handshake_on_uvicorn_error_loses_its_token(self, json_logs: io.StringIO) -> None:
        # uvicorn's websockets protocol logs exactly this on `uvicorn.error` for every handshake.
        logging.getLogger("uvicorn.error").info(
            '%s - "WebSocket %s" %s', "127.0.0.1:50312", f"/ws/streams/3?since=4&token={TOKEN}", "[accepted]"
        )
        (line,) = _lines(json_logs)
        assert TOKEN not in json.dumps(line)
        assert line["event"] == f'127.0.0.1:50312 - "WebSocket /ws/streams/3?since=4&token={REDACTED}" [accepted]'

    def test_refused_handshake_loses_its_token_too(self, json_logs: io.StringIO) -> None:
        logging.getLogger("uvicorn.error").info('%s - "WebSocket %s" %d', "127.0.0.1:50313", f"/ws/streams/3?token={TOKEN}", 401)
        assert TOKEN not in json.dumps(_lines(json_logs))

    def test_access_log_query_string_loses_its_token_and_phone(self, json_logs: io.StringIO) -> None:
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:50314", "GET", f"/api/anchors/1/schedule.ics?token={TOKEN}&phone={PHONE}", "1.1", 200
        )
        (line,) = _lines(json_logs)
        assert line["path"] == f"/api/anchors/1/schedule.ics?token={REDACTED}&phone={REDACTED}"

    def test_any_library_logger_is_filtered(self, json_logs: io.StringIO) -> None:
        logging.getLogger("apscheduler.executors.default").warning("calling back with Authorization: Bearer %s", TOKEN)
        assert TOKEN not in json.dumps(_lines(json_logs))


class TestStructlogEvents:
    def test_sensitive_fields_are_redacted_whatever_their_value(self, json_logs: io.StringIO) -> None:
        structlog.get_logger("livecommerce.test").info(
            "sign_in", password="hunter2-never", signature="ab" * 32, registration_no="4418", phone="138"
        )
        (line,) = _lines(json_logs)
        assert {line[k] for k in ("password", "signature", "registration_no", "phone")} == {REDACTED}

    def test_personal_data_inside_free_text_is_redacted(self, json_logs: io.StringIO) -> None:
        structlog.get_logger("livecommerce.test").warning("household_import_failed", detail=f"row 3: {REGISTRATION_NO} / {PHONE}")
        text = json.dumps(_lines(json_logs))
        assert REGISTRATION_NO not in text and PHONE not in text

    def test_a_traceback_quoting_a_secret_is_redacted(self, json_logs: io.StringIO) -> None:
        try:
            raise ValueError(f"bad token={TOKEN}")
        except ValueError:
            structlog.get_logger("livecommerce.test").exception("failed")
        assert TOKEN not in json_logs.getvalue()


class TestRedactText:
    @pytest.mark.parametrize(
        "text",
        [
            f"Bearer {TOKEN}",
            f"?access_token={TOKEN}",
            f"&refresh_token={TOKEN}",
            "password=hunter2",
            f"+86 138 1234 5678 {PHONE}",
            REGISTRATION_NO,
            "441821550103421",
            "4418211955000342",
        ],
    )
    def test_secret_is_replaced(self, text: str) -> None:
        assert REDACTED in redact_text(text)
        secrets = (TOKEN, PHONE, REGISTRATION_NO, "hunter2", "441821550103421", "4418211955000342")
        assert not any(secret in redact_text(text) for secret in secrets)

    @pytest.mark.parametrize("text", ["GET /api/streams/12 200", "ms=13.4 status=409", "order 12345 paid 1990 fen"])
    def test_ordinary_lines_are_left_alone(self, text: str) -> None:
        assert redact_text(text) == text
