"""Structured logs: one JSON object per line (or a console rendering for development).

Everything bound in ``structlog.contextvars`` (the request id, and the polycule and actor
once a request knows them) is merged into every line. Libraries that log through the
standard ``logging`` module (aiohttp, asyncpg) come out in the same format on the same
stream. Logs never carry request bodies, personal text, passwords or tokens: nothing here
logs a body, and as a last guard any field whose name says it holds a secret is masked.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

# Field names that must never reach a log line with their value, whoever logged them.
_SECRET_NAME_PARTS = ("password", "passphrase", "secret", "token", "authorization", "cookie")
_SECRET_NAMES = frozenset({"body", "api_key"})
REDACTED = "[redacted]"


def _is_secret_field(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SECRET_NAMES or any(part in lowered for part in _SECRET_NAME_PARTS)


def mask_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    for name in event_dict:
        if _is_secret_field(name):
            event_dict[name] = REDACTED
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        mask_secrets,
    ]


def _renderer(log_format: str) -> Processor:
    if log_format == "console":
        return structlog.dev.ConsoleRenderer()
    return structlog.processors.JSONRenderer()


def configure_logging(level: str, log_format: str, *, stream: TextIO = sys.stdout) -> None:
    """Configure structlog and the standard library's logging once, at process start.

    ``level`` and ``log_format`` are ``Settings.log_level`` and ``Settings.log_format``.
    """
    numeric_level = logging.getLevelNamesMapping()[level.upper()]
    renderer = _renderer(log_format)
    # Plain-text tracebacks, never dict tracebacks: those can include local variables,
    # which may hold a request's personal text.
    exception_formatting: list[Processor] = (
        [] if log_format == "console" else [structlog.processors.format_exc_info]
    )
    structlog.configure(
        processors=[*_shared_processors(), *exception_formatting, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )

    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *_shared_processors()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *exception_formatting,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric_level)
    # The service writes its own access log line per request (ledger/http/middleware.py).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
