"""Repeated failed sign-ins are slowed down, then refused, per handle and per address.

The policy here (tests/http/accounts_support.py) keeps the real thresholds — slowed after 5
failures in 15 minutes, refused after 10 — with a short fixed delay. Each test sends its
attempts from chosen loopback addresses, so that the handle's count and the address's
count can be told apart.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from tests.http.accounts_support import (
    THROTTLE_DELAY_SECONDS,
    WRONG_PASSWORD,
    from_address,
    sign_in,
    sign_up,
)
from tests.http.support import Client, error_of

SLOW_AFTER, REFUSE_AFTER = 5, 10
WINDOW_SECONDS = 15 * 60


@pytest.fixture
async def client(app: web.Application, aiohttp_client: AiohttpClient) -> Client:
    client = await aiohttp_client(app)
    for handle in ("robin", "sam"):
        await sign_up(client, handle)
    return client


async def attempt(
    client: Client, address: str, handle: str, password: str = WRONG_PASSWORD
) -> tuple[aiohttp.ClientResponse, float]:
    """One sign-in from ``address``; the answer and how long it took."""
    async with from_address(client, address) as browser:
        started = time.perf_counter()
        response = await sign_in(browser, handle, password)
        elapsed = time.perf_counter() - started
        await response.read()
    return response, elapsed


async def test_after_five_failures_each_attempt_is_slowed_down(client: Client) -> None:
    for _ in range(SLOW_AFTER):
        response, elapsed = await attempt(client, "127.0.0.2", "robin")
        assert response.status == 401
        assert elapsed < THROTTLE_DELAY_SECONDS

    wrong, wrong_took = await attempt(client, "127.0.0.2", "robin")
    right, right_took = await attempt(client, "127.0.0.2", "robin", "correct horse battery staple")

    assert wrong.status == 401 and wrong_took >= THROTTLE_DELAY_SECONDS
    # Slowed down whatever the password: the delay must not tell a right one from a wrong one.
    assert right.status == 200 and right_took >= THROTTLE_DELAY_SECONDS


async def test_after_ten_failures_attempts_are_refused_with_retry_after(client: Client) -> None:
    for _ in range(REFUSE_AFTER):
        response, _took = await attempt(client, "127.0.0.2", "robin")
        assert response.status == 401

    refused, _took = await attempt(client, "127.0.0.2", "robin", "correct horse battery staple")

    assert refused.status == 429
    assert error_of(await refused.json())["code"] == "too_many_requests"
    assert 1 <= int(refused.headers["Retry-After"]) <= WINDOW_SECONDS
    assert "Set-Cookie" not in refused.headers


async def test_failures_count_per_handle_whichever_address_they_come_from(
    client: Client,
) -> None:
    for n in range(REFUSE_AFTER):
        response, _took = await attempt(client, f"127.0.1.{n + 1}", "robin")
        assert response.status == 401

    robin, _took = await attempt(client, "127.0.2.1", "robin", "correct horse battery staple")
    sam, _took = await attempt(client, "127.0.2.1", "sam", "correct horse battery staple")

    assert robin.status == 429
    assert sam.status == 200  # the address itself had no failures


async def test_failures_count_per_address_whichever_handles_they_name(client: Client) -> None:
    for n in range(REFUSE_AFTER):
        response, _took = await attempt(client, "127.0.3.1", f"guess-{n}")
        assert response.status == 401

    from_there, _took = await attempt(client, "127.0.3.1", "robin", "correct horse battery staple")
    from_elsewhere, _took = await attempt(
        client, "127.0.3.2", "robin", "correct horse battery staple"
    )

    assert from_there.status == 429
    assert from_elsewhere.status == 200  # robin's handle itself had no failures


async def test_a_successful_sign_in_clears_the_handles_failures(client: Client) -> None:
    addresses = (f"127.0.4.{n}" for n in range(1, 100))  # one attempt each: no address counts
    for _ in range(REFUSE_AFTER - 1):
        response, _took = await attempt(client, next(addresses), "robin")
        assert response.status == 401
    signed_in, _took = await attempt(
        client, next(addresses), "robin", "correct horse battery staple"
    )
    assert signed_in.status == 200

    for _ in range(SLOW_AFTER):
        response, _took = await attempt(client, next(addresses), "robin")
        assert response.status == 401
    # 9 + 5 failures would be refused; 5 since the success are only slowed down.
    again, took = await attempt(client, next(addresses), "robin", "correct horse battery staple")

    assert again.status == 200
    assert took >= THROTTLE_DELAY_SECONDS


async def test_a_burst_of_parallel_guesses_gets_no_more_than_ten_tries(client: Client) -> None:
    # Each attempt is written down before its password is checked, so parallel attempts
    # see each other: a burst cannot all slip in under the limit.
    answers = await asyncio.gather(*(
        attempt(client, f"127.0.5.{n}", "robin") for n in range(1, 2 * REFUSE_AFTER + 1)
    ))

    statuses = [response.status for response, _took in answers]
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= REFUSE_AFTER  # the others were refused untried
