"""The real application, built by the factory, against this test's own database."""

from __future__ import annotations

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from ledger.config import Settings
from ledger.http.app import create_app
from ledger.privacy import MasterKey
from tests.http.support import MAX_REQUEST_BYTES, Client


@pytest.fixture
def settings() -> Settings:
    return Settings(
        max_request_bytes=MAX_REQUEST_BYTES,
        pool_min_size=1,
        pool_max_size=4,
        projection_poll_seconds=0.05,
        shutdown_timeout_seconds=2.0,
        master_key=MasterKey.generate().to_base64(),
    )


@pytest.fixture
def app(settings: Settings, database_url: str) -> web.Application:
    return create_app(settings, database_url)


@pytest.fixture
async def client(app: web.Application, aiohttp_client: AiohttpClient) -> Client:
    """A client of the running app.

    Depending on ``app`` (hence on the database) makes pytest stop the app before it drops
    the database. A test that builds its own app must likewise ask for its database
    fixture before ``aiohttp_client``.
    """
    return await aiohttp_client(app)
