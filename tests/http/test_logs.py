"""The log format the service runs with: JSON lines, request context merged, secrets masked."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from ledger.logs import REDACTED, configure_logging


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Configure logging into a buffer for one test, then put the defaults back."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    try:
        yield stream
    finally:
        structlog.reset_defaults()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def lines_of(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_bound_request_context(log_stream: io.StringIO) -> None:
    configure_logging("info", "json", stream=log_stream)

    with structlog.contextvars.bound_contextvars(request_id="r-1", polycule_id="p-1"):
        structlog.get_logger("test").info("proposal_made", actor="member-1")

    [line] = lines_of(log_stream)
    assert line["event"] == "proposal_made"
    assert (line["request_id"], line["polycule_id"], line["actor"]) == ("r-1", "p-1", "member-1")
    assert line["level"] == "info"
    assert line["timestamp"].endswith("Z")


def test_fields_named_like_secrets_are_masked(log_stream: io.StringIO) -> None:
    configure_logging("info", "json", stream=log_stream)

    structlog.get_logger("test").info(
        "signed_in", password="hunter2", api_token="tok_123", Authorization="Bearer x", body="hi"
    )

    [line] = lines_of(log_stream)
    for name in ("password", "api_token", "Authorization", "body"):
        assert line[name] == REDACTED
    assert "hunter2" not in log_stream.getvalue() and "tok_123" not in log_stream.getvalue()


def test_level_filters_and_library_logs_share_the_format(log_stream: io.StringIO) -> None:
    configure_logging("warning", "json", stream=log_stream)

    structlog.get_logger("test").info("too_chatty")
    logging.getLogger("aiohttp.server").info("also too chatty")
    logging.getLogger("aiohttp.server").warning("Error handling request")

    [line] = lines_of(log_stream)
    assert line["event"] == "Error handling request"
    assert line["logger"] == "aiohttp.server"
    assert line["level"] == "warning"


def test_console_format_is_for_people(log_stream: io.StringIO) -> None:
    configure_logging("debug", "console", stream=log_stream)

    structlog.get_logger("test").debug("projection_caught_up", projection="stream_summaries")

    output = log_stream.getvalue()
    assert "projection_caught_up" in output and "stream_summaries" in output
    with pytest.raises(json.JSONDecodeError):
        json.loads(output)
