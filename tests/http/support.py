"""What the HTTP tests share: the body limit they run with and the error envelope's shape."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.test_utils import TestClient

# The smallest limit Settings accepts, so a "too large" body stays small in tests.
MAX_REQUEST_BYTES = 1024
# What operators send as X-Operator-Token to see which polycules are parked (/status).
OPERATOR_TOKEN = "an operator's token for the tests"

Client = TestClient[web.Request, web.Application]


def error_of(body: Any) -> dict[str, Any]:
    """The error envelope, checked for its shape: {"error": {code, message, details}}."""
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    return dict(error)


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")
