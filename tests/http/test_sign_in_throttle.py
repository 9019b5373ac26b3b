"""Password guessing is slowed down and refused per address and per handle from an address,
and slowed down per handle from everywhere — but nobody can lock an account.

The policy here (tests/http/accounts_support.py) keeps the real thresholds with a short
delay. Each test sends its attempts from chosen loopback addresses, so that the counts can
be told apart; whether an attempt was slowed down is read from the service's own log line
(``sign_in_slowed``), never from a clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from ledger.auth.throttle import ThrottlePolicy
from tests.http.accounts_support import PASSWORD, WRONG_PASSWORD, from_address, sign_in, sign_up
from tests.http.support import Client, error_of

POLICY = ThrottlePolicy()
WINDOW_SECONDS = 15 * 60


@pytest.fixture
async def client(app: web.Application, aiohttp_client: AiohttpClient) -> Client:
    client = await aiohttp_client(app)
    for handle in ("robin", "sam"):
        await sign_up(client, handle)
    return client


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    with structlog.testing.capture_logs() as captured:
        yield captured


def slowed_down(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The attempts the service slowed down so far, and forget them."""
    found = [entry for entry in logs if entry["event"] == "sign_in_slowed"]
    logs.clear()
    return found


async def attempt(
    client: Client, address: str, handle: str, password: str = WRONG_PASSWORD
) -> aiohttp.ClientResponse:
    """One sign-in from ``address``."""
    async with from_address(client, address) as browser:
        response = await sign_in(browser, handle, password)
        await response.read()
    return response


async def test_five_failures_for_a_handle_from_one_address_slow_it_down_there(
    client: Client, logs: list[dict[str, Any]]
) -> None:
    for _ in range(POLICY.per_handle_at_address.slow_after):
        assert (await attempt(client, "127.0.0.2", "robin")).status == 401
    assert slowed_down(logs) == []

    wrong = await attempt(client, "127.0.0.2", "robin")
    assert wrong.status == 401 and len(slowed_down(logs)) == 1
    right = await attempt(client, "127.0.0.2", "robin", PASSWORD)

    # Slowed down whatever the password: the delay must not tell a right one from a wrong one.
    assert right.status == 200
    [slowed] = slowed_down(logs)
    assert slowed["failures_for_handle_from_address"] == 6


async def test_ten_failures_for_a_handle_from_one_address_refuse_it_there_with_retry_after(
    client: Client,
) -> None:
    for _ in range(POLICY.per_handle_at_address.refuse_after):
        assert (await attempt(client, "127.0.0.2", "robin")).status == 401

    refused = await attempt(client, "127.0.0.2", "robin", PASSWORD)

    assert refused.status == 429
    assert error_of(await refused.json())["code"] == "too_many_requests"
    assert 1 <= int(refused.headers["Retry-After"]) <= WINDOW_SECONDS
    assert "Set-Cookie" not in refused.headers


async def test_guessing_from_many_addresses_never_locks_the_owner_out(
    client: Client, logs: list[dict[str, Any]]
) -> None:
    # Three times what used to lock the account for everyone for a quarter of an hour.
    for n in range(3 * POLICY.per_handle_at_address.refuse_after):
        assert (await attempt(client, f"127.0.1.{n + 1}", "robin")).status == 401
    assert slowed_down(logs)  # the guessing itself was slowed down

    owner = await attempt(client, "127.0.2.1", "robin", PASSWORD)
    sam = await attempt(client, "127.0.2.1", "sam", PASSWORD)

    assert owner.status == 200
    [slowed] = slowed_down(logs)  # the owner only waited, as every attempt at robin does
    assert slowed["failures_for_handle"] >= POLICY.per_handle_slow_after
    assert slowed["failures_from_address"] == slowed["failures_for_handle_from_address"] == 0
    assert sam.status == 200 and slowed_down(logs) == []  # other handles do not wait
    # Guessing goes on, as slowly as before: never refused, never an open door either.
    assert (await attempt(client, "127.0.1.99", "robin")).status == 401


async def test_failures_count_per_address_whichever_handles_they_name(
    client: Client, logs: list[dict[str, Any]]
) -> None:
    for n in range(POLICY.per_address.refuse_after):
        assert (await attempt(client, "127.0.3.1", f"guess-{n}")).status == 401
    assert slowed_down(logs)

    from_there = await attempt(client, "127.0.3.1", "robin", PASSWORD)
    from_elsewhere = await attempt(client, "127.0.3.2", "robin", PASSWORD)

    assert from_there.status == 429
    assert from_elsewhere.status == 200
    assert slowed_down(logs) == []  # robin's handle itself had no failures


async def test_a_success_forgets_the_handles_failures_from_that_address(
    client: Client, logs: list[dict[str, Any]]
) -> None:
    for _ in range(POLICY.per_handle_at_address.refuse_after - 1):
        assert (await attempt(client, "127.0.4.1", "robin")).status == 401
    assert (await attempt(client, "127.0.4.1", "robin", PASSWORD)).status == 200
    logs.clear()

    # Forgotten from the handle's count too: they were the owner's own mistyping.
    elsewhere = await attempt(client, "127.0.4.2", "robin", PASSWORD)
    assert elsewhere.status == 200 and slowed_down(logs) == []
    for _ in range(POLICY.per_handle_at_address.refuse_after - 1):
        assert (await attempt(client, "127.0.4.1", "robin")).status == 401
    # 9 + 9 failures would be refused; 9 since the success are not.
    assert (await attempt(client, "127.0.4.1", "robin", PASSWORD)).status == 200


async def test_signing_in_buys_an_address_no_more_guesses_at_others(client: Client) -> None:
    guesses = POLICY.per_address.refuse_after
    for n in range(guesses - 5):
        assert (await attempt(client, "127.0.5.1", f"guess-{n}")).status == 401
    assert (await attempt(client, "127.0.5.1", "robin", PASSWORD)).status == 200

    for n in range(5):
        assert (await attempt(client, "127.0.5.1", f"more-{n}")).status == 401

    assert (await attempt(client, "127.0.5.1", "sam", PASSWORD)).status == 429


async def test_a_burst_of_parallel_guesses_from_one_address_gets_no_more_than_ten_tries(
    client: Client,
) -> None:
    # Each attempt is written down before its password is checked, so parallel attempts
    # see each other: a burst cannot all slip in under the limit.
    limit = POLICY.per_handle_at_address.refuse_after
    answers = await asyncio.gather(*(
        attempt(client, "127.0.6.1", "robin") for _ in range(2 * limit)
    ))

    statuses = [response.status for response in answers]
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= limit  # the others were refused untried
