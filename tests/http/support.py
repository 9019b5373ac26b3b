"""What the HTTP tests share: the body limit they run with and the error envelope's shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import asyncpg
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


@asynccontextmanager
async def database_cut_off(database_url: str, admin_url: str) -> AsyncIterator[None]:
    """While the block runs, the app's database refuses new connections and its existing
    ones are cut: the database is gone for the app. Open again afterwards."""
    name = database_name(database_url)
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        yield
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        await admin.close()
