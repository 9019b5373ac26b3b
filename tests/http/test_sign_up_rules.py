"""Signing up: throttled per client address (each one costs an Argon2id hash), and a
password that a guesser would try first is refused, saying why."""

from __future__ import annotations

import dataclasses

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from ledger.auth.throttle import SignUpPolicy
from ledger.http.account_routes import AUTH_POLICY
from tests.http.accounts_support import PASSWORD, TEST_POLICY, from_address, query
from tests.http.support import Client, error_of

HOUR = 60 * 60


@pytest.fixture
async def client(app: web.Application, aiohttp_client: AiohttpClient) -> Client:
    # The real limit: the other tests sign up as many people as they need.
    app[AUTH_POLICY] = dataclasses.replace(TEST_POLICY, sign_up=SignUpPolicy())
    return await aiohttp_client(app)


def account(handle: str, password: str = PASSWORD) -> dict[str, str]:
    return {"handle": handle, "display_name": handle.capitalize(), "password": password}


async def test_an_address_may_sign_up_ten_times_an_hour_then_is_told_when_to_come_back(
    client: Client, database_url: str
) -> None:
    allowed = SignUpPolicy().per_address
    async with from_address(client, "127.0.7.1") as browser:
        for n in range(allowed):
            made = await browser.post("/api/accounts", json=account(f"person{n}"))
            assert made.status == 201, await made.text()

        refused = await browser.post("/api/accounts", json=account("one-too-many"))

    assert refused.status == 429
    assert error_of(await refused.json())["code"] == "too_many_requests"
    assert 1 <= int(refused.headers["Retry-After"]) <= HOUR
    handles = {row["handle"] for row in await query(database_url, "SELECT handle FROM accounts")}
    assert "one-too-many" not in handles and len(handles) == allowed
    async with from_address(client, "127.0.7.2") as neighbour:
        elsewhere = await neighbour.post("/api/accounts", json=account("one-too-many"))
    assert elsewhere.status == 201  # another address has its own share


async def test_a_taken_handle_costs_a_sign_up_too(client: Client) -> None:
    # Each attempt that reaches the hashing costs the same, whatever its outcome.
    async with from_address(client, "127.0.7.3") as browser:
        assert (await browser.post("/api/accounts", json=account("robin"))).status == 201
        for _ in range(SignUpPolicy().per_address - 1):
            taken = await browser.post("/api/accounts", json=account("robin"))
            assert taken.status == 409

        refused = await browser.post("/api/accounts", json=account("sam"))

    assert refused.status == 429


async def test_an_invalid_sign_up_costs_nothing(client: Client) -> None:
    async with from_address(client, "127.0.7.4") as browser:
        for _ in range(2 * SignUpPolicy().per_address):
            invalid = await browser.post("/api/accounts", json=account("robin", "short"))
            assert invalid.status == 422

        made = await browser.post("/api/accounts", json=account("robin"))

    assert made.status == 201


@pytest.mark.parametrize(
    ("password", "kind", "why"),
    [
        ("password123", "password_common", "one of the most common"),
        ("Qwertyuiop!", "password_common", "one of the most common"),
        ("zzzzzzzzzzzz", "password_repetitive", "repeats the same few characters"),
        ("Rosalind-Franklin", "password_context", "your handle or your name"),
        ("rosalind_f2024", "password_context", "your handle or your name"),
    ],
)
async def test_a_guessable_password_is_refused_saying_why_and_nothing_is_written(
    client: Client, database_url: str, password: str, kind: str, why: str
) -> None:
    response = await client.post("/api/accounts", json={
        "handle": "rosalind_f", "display_name": "Rosalind Franklin", "password": password,
    })

    assert response.status == 422
    [problem] = error_of(await response.json())["details"]["errors"]
    assert (problem["loc"], problem["type"]) == (["password"], kind)
    assert why in problem["msg"]
    assert password not in await response.text()
    assert await query(database_url, "SELECT id FROM accounts") == []
