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
_SECRET_QUERY = re.compile(r"((?:^|[?&])(?:token|access_token|refresh_token|signature)=)[^&#]*", re.IGNORECASE)
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
        path = _SECRET_QUERY.sub(r"\1[redacted]", str(path))
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
    final.append(_renderer(json))
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _uvicorn_access_fields],
        processors=final,
        pass_foreign_args=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric_level)
    # uvicorn configures its own handlers unless told not to; make sure its records reach ours.
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    for name in PARAMETER_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric_level, logging.WARNING))
