"""Behind a reverse proxy that ends TLS: X-Forwarded-* is believed from the configured
proxies only (LEDGER_TRUSTED_PROXIES), and then the client's own address is what throttling
counts, and its HTTPS makes the session cookie Secure and brings HSTS. No answer names the
server's software.

The test client connects from 127.0.0.1, which plays the proxy; another loopback address
(127.0.0.2) plays a client that reaches the service directly and forges the headers.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from ipaddress import ip_network

import aiohttp
import pytest

from ledger.auth.sessions import SESSION_COOKIE
from ledger.auth.throttle import ThrottlePolicy
from ledger.config import Settings
from tests.http.accounts_support import (
    WRONG_PASSWORD,
    AnyClient,
    from_address,
    sign_in,
    sign_up,
)
from tests.http.support import Client, error_of

PROXY = "127.0.0.1"
REFUSE_AFTER = ThrottlePolicy().per_handle_at_address.refuse_after


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"trusted_proxies": (ip_network(f"{PROXY}/32"),)})


def forwarded(client_address: str, scheme: str = "https") -> dict[str, str]:
    """What the proxy adds to a request from ``client_address``."""
    return {"X-Forwarded-For": client_address, "X-Forwarded-Proto": scheme}


def session_cookie(response: aiohttp.ClientResponse) -> SimpleCookie:
    [header] = [
        value for value in response.headers.getall("Set-Cookie", [])
        if value.startswith(f"{SESSION_COOKIE}=")
    ]
    return SimpleCookie(header)


async def test_over_https_at_the_proxy_the_cookie_is_secure_and_hsts_is_sent(
    client: Client,
) -> None:
    await sign_up(client, "robin")

    over_https = await sign_in(client, "robin", headers=forwarded("203.0.113.7"))
    over_http = await sign_in(client, "robin", headers=forwarded("203.0.113.7", "http"))
    probe = await client.get("/healthz", headers=forwarded("203.0.113.7"))

    assert over_https.status == 200
    assert session_cookie(over_https)[SESSION_COOKIE]["secure"] is True
    assert over_https.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert probe.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert over_http.status == 200
    assert session_cookie(over_http)[SESSION_COOKIE]["secure"] == ""
    assert "Strict-Transport-Security" not in over_http.headers


async def test_behind_the_proxy_each_client_is_throttled_by_its_own_address(
    client: Client,
) -> None:
    await sign_up(client, "robin")
    for _ in range(REFUSE_AFTER):
        guess = await sign_in(client, "robin", WRONG_PASSWORD, headers=forwarded("203.0.113.7"))
        assert guess.status == 401

    guesser = await sign_in(client, "robin", headers=forwarded("203.0.113.7"))
    owner = await sign_in(client, "robin", headers=forwarded("198.51.100.20"))

    assert guesser.status == 429
    assert owner.status == 200  # through the same proxy, from an address that never failed


async def test_a_proxys_own_chain_is_walked_back_to_the_first_address_it_does_not_trust(
    client: Client,
) -> None:
    await sign_up(client, "robin")
    for _ in range(REFUSE_AFTER):
        # The client put a made-up address first; the proxy appended the real one.
        guess = await sign_in(client, "robin", WRONG_PASSWORD, headers={
            "X-Forwarded-For": "10.9.8.7, 203.0.113.7", "X-Forwarded-Proto": "https",
        })
        assert guess.status == 401

    another_lie = await sign_in(client, "robin", headers={
        "X-Forwarded-For": "10.1.1.1, 203.0.113.7", "X-Forwarded-Proto": "https",
    })

    assert another_lie.status == 429


async def test_anyone_elses_forwarded_headers_are_ignored(client: Client) -> None:
    await sign_up(client, "robin")
    async with from_address(client, "127.0.0.2") as direct:
        for n in range(REFUSE_AFTER):
            guess = await sign_in(
                direct, "robin", WRONG_PASSWORD, headers=forwarded(f"192.0.2.{n + 1}")
            )
            assert guess.status == 401

        forged = await sign_in(direct, "robin", headers=forwarded("192.0.2.200"))
        probe = await direct.get("/healthz", headers=forwarded("192.0.2.200"))

    assert forged.status == 429  # counted as 127.0.0.2, whatever it claimed
    assert "Strict-Transport-Security" not in probe.headers
    assert "Strict-Transport-Security" not in forged.headers


async def test_malformed_forwarded_headers_from_the_proxy_are_a_json_400(
    client: Client,
) -> None:
    response = await client.get("/api/session", headers={"X-Forwarded-For": "not-an-address"})

    assert response.status == 400
    assert error_of(await response.json())["code"] == "bad_request"


@pytest.mark.parametrize(
    "path", ["/healthz", "/api/session", "/sign-in", "/no/such/page", "/api/openapi.json"]
)
async def test_no_answer_names_the_servers_software(client: AnyClient, path: str) -> None:
    response = await client.get(path)

    assert "Server" not in response.headers
    assert "aiohttp" not in str(response.headers) and "Python" not in str(response.headers)


async def test_a_refusal_by_a_redirect_names_no_software_either(client: Client) -> None:
    response = await client.get("/account", allow_redirects=False)

    assert response.status == 303
    assert "Server" not in response.headers
