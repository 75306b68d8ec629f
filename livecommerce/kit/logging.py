"""structlog set-up: readable on a terminal, JSON elsewhere, for our logs and every library's alike.

structlog events and standard-library records (uvicorn's access and error logs, SQLAlchemy,
APScheduler) end in the same handler and the same renderer, so a JSON deployment writes one
JSON object per line whoever logged it. Context bound with `structlog.contextvars`
(`request_id`, `stream_id`, `job_id`) is merged into both.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog
from structlog.types import EventDict, Processor

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
REDACTED = "[redacted]"
# Fields whose value is a secret or a personal datum whatever it looks like.
SENSITIVE_KEYS = frozenset(
    {
        "password",
        "current_password",
        "new_password",
        "admin_password",
        "token",
        "access_token",
        "refresh_token",
        "authorization",
        "cookie",
        "set-cookie",
        "signature",
        "x-signature",
        "secret",
        "secret_key",
        "webhook_secret",
        "phone",
        "registration_no",
        "id_card",
    }
)
_SECRET_NAMES = r"(?:token|access_token|refresh_token|password|signature|sig|secret|registration_no|phone)"
# Patterns that give a secret away wherever it appears in a line: a query string or form field
# (`?token=`, uvicorn logs websocket handshakes with theirs), a bearer token, a JWT, a mobile
# number, a resident identity number or any 15-18 digit run (households' registration numbers).
_TEXT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"((?:^|[?&;\s\"'(])(?:{_SECRET_NAMES})=)[^&#\s\\\"',)]*", re.IGNORECASE), rf"\1{REDACTED}"),
    (re.compile(rf"((?:\"|')(?:{_SECRET_NAMES})(?:\"|')\s*:\s*(?:\"|'))[^\\\"']*", re.IGNORECASE), rf"\1{REDACTED}"),
    (re.compile(r"(\bBearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE), rf"\1{REDACTED}"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(r"(?<![0-9A-Za-z])\d{14,17}[\dXx](?![0-9A-Za-z])"), REDACTED),
    (re.compile(r"(?<![0-9A-Za-z])(?:\+?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?![0-9A-Za-z])"), REDACTED),
)


def redact_text(text: str) -> str:
    """`text` with every token, password, signature, phone or identity number in it replaced."""
    for pattern, replacement in _TEXT_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(key: object, value: Any) -> Any:
    if value is not None and isinstance(key, str) and key.lower() in SENSITIVE_KEYS:
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(None, v) for v in value]
    return value


class RedactSecrets(logging.Filter):
    """The one log filter: redacts secrets and personal data from every record that reaches our handler.

    It sits on the root handler, so every logger that propagates (uvicorn's `uvicorn.error` and
    `uvicorn.access` included) passes it; structlog events are redacted field by field, standard
    records in their message and arguments; the rendered line is redacted once more (tracebacks).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact `record` in place; never drops it."""
        if isinstance(record.msg, dict):
            record.msg = {k: v if str(k).startswith("_") else _redact_value(k, v) for k, v in record.msg.items()}
        elif isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_text(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redact_value(k, v) for k, v in record.args.items()}
        return True


def redact_event(_logger: Any, _name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: sensitive fields and secrets inside any text field become `[redacted]`."""
    for key, value in list(event_dict.items()):
        if not key.startswith("_"):
            event_dict[key] = _redact_value(key, value)
    return event_dict


class _RedactingRenderer:
    """Renders with `inner`, then redacts the finished line (a formatted traceback may quote a secret)."""

    def __init__(self, inner: Processor) -> None:
        self.inner = inner

    def __call__(self, logger: Any, name: str, event_dict: EventDict) -> str:
        rendered = self.inner(logger, name, event_dict)
        return redact_text(rendered if isinstance(rendered, str) else str(rendered))


# Drivers that log every statement with its parameters at DEBUG (password hashes, household
# names, registration numbers; SQLAlchemy even at INFO): kept at WARNING or above whatever the app's level.
PARAMETER_LOGGERS = ("aiosqlite", "asyncpg", "sqlalchemy.engine", "sqlalchemy.pool", "psycopg")


def _uvicorn_access_fields(_logger: Any, _name: str, event_dict: EventDict) -> EventDict:
    """Turn uvicorn's access record (`client - "METHOD path HTTP/x" status`) into fields."""
    args = event_dict.pop("positional_args", None)
    event_dict.pop("color_message", None)  # uvicorn's copy of the message with terminal colours
    record = event_dict.get("_record")
    if record is not None and record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
        client, method, path, http_version, status = args
        # Calendar feeds and websockets carry credentials in `?token=`: never log them.
        path = redact_text(str(path))
        event_dict.update(event="access", client=client, method=method, path=path, http_version=http_version, status=status)
    return event_dict


def _renderer(json: bool) -> Processor:
    if json:
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())


def configure_logging(level: str = "INFO", json: bool | None = None) -> None:
    """Route structlog and the standard library's logging through one structlog renderer on stderr."""
    if json is None:
        json = not sys.stderr.isatty()
    numeric_level = logging.getLevelName(level.upper())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    final: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if json:
        # Tracebacks as data, without local variables (they may hold tokens or passwords).
        final.append(structlog.processors.ExceptionRenderer(structlog.tracebacks.ExceptionDictTransformer(show_locals=False)))
    final.append(redact_event)
    final.append(_RedactingRenderer(_renderer(json)))
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _uvicorn_access_fields],
        processors=final,
        pass_foreign_args=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric_level)
    # uvicorn configures its own handlers unless told not to; make sure its records reach ours.
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        # A `logging.config` call elsewhere (Alembic's fileConfig, run in-process by an embedded
        # start) disables the loggers that existed before it; uvicorn's must keep logging.
        logger.disabled = False
        # uvicorn.Config(log_level=...) sets its loggers' own levels; the configured level governs.
        logger.setLevel(logging.NOTSET)
    for name in PARAMETER_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric_level, logging.WARNING))
