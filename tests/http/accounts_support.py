"""What the account tests share: the policy they run with, signing up and in, calling from
another client address, and reading the auth tables directly."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient
from argon2.profiles import RFC_9106_LOW_MEMORY

from ledger.auth.throttle import Limit, SignUpPolicy, ThrottlePolicy
from ledger.http.account_routes import AuthPolicy
from tests.http.support import Client

# A client of the app, however its server was built (see the HTTPS test).
AnyClient = TestClient[Any, Any]

PASSWORD = "correct horse battery staple"
WRONG_PASSWORD = "incorrect horse battery staple"

# Cheap hashing keeps the suite fast (the defaults are tested in tests/unit). The throttles
# keep their real thresholds but a short delay, and tests sign up many people from one
# address (tests/http/test_sign_up_rules.py runs with the real sign-up limit).
THROTTLE_DELAY_SECONDS = 0.05
TEST_POLICY = AuthPolicy(
    session_lifetime=timedelta(hours=2),
    throttle=ThrottlePolicy(
        per_address=Limit(slow_after=10, refuse_after=30),
        per_handle_at_address=Limit(slow_after=5, refuse_after=10),
        per_handle_slow_after=5,
        first_delay_seconds=THROTTLE_DELAY_SECONDS, max_delay_seconds=THROTTLE_DELAY_SECONDS,
    ),
    sign_up=SignUpPolicy(per_address=10_000),
    password_hashing=dataclasses.replace(
        RFC_9106_LOW_MEMORY, time_cost=1, memory_cost=1024, parallelism=1
    ),
)


async def sign_up(
    client: AnyClient, handle: str, password: str = PASSWORD, display_name: str | None = None
) -> dict[str, Any]:
    response = await client.post("/api/accounts", json={
        "handle": handle, "display_name": display_name or handle.capitalize(),
        "password": password,
    })
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def sign_in(
    client: AnyClient | aiohttp.ClientSession, handle: str, password: str = PASSWORD,
    **kwargs: Any,
) -> aiohttp.ClientResponse:
    return await client.post(
        "/api/session", json={"handle": handle, "password": password}, **kwargs
    )


async def signed_in(client: Client, handle: str) -> str:
    """Sign up and in with the client's cookie jar; the session's CSRF token."""
    await sign_up(client, handle)
    response = await sign_in(client, handle)
    assert response.status == 200, await response.text()
    csrf_token: str = (await response.json())["csrf_token"]
    return csrf_token


@asynccontextmanager
async def from_address(client: Client, address: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A browser at another client address (any 127.x.y.z reaches the test server)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(
        base_url=str(client.make_url("/")), connector=connector,
        cookie_jar=aiohttp.CookieJar(unsafe=True),
    ) as session:
        yield session


@asynccontextmanager
async def script(client: Client, token: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A member's script: a Bearer token and no cookies at all."""
    async with aiohttp.ClientSession(
        base_url=str(client.make_url("/")),
        headers={"Authorization": f"Bearer {token}"},
        cookie_jar=aiohttp.DummyCookieJar(),
    ) as session:
        yield session


async def query(database_url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetch(sql, *args)
    finally:
        await connection.close()
