"""The health probes never look at credentials: with the database gone, /healthz stays 200
and /readyz answers 503 whether or not the probe carries a session cookie or an API token
(looking either up would need the database)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ledger.auth.sessions import SESSION_COOKIE
from tests.http.people import PASSWORD, person
from tests.http.support import Client, database_cut_off, error_of


@pytest.fixture
async def credentials(client: Client) -> dict[str, dict[str, str]]:
    """Ways a probe may come: bare, with a live cookie, with a live token, with junk."""
    async with person(client, "robin") as robin:
        token = (await robin.json(
            "POST", "/api/tokens", 201, json={"name": "probe", "password": PASSWORD}
        ))["token"]
        cookie = robin.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE]
    return {
        "nothing": {},
        "cookie": {"Cookie": f"{SESSION_COOKIE}={cookie.value}"},
        "token": {"Authorization": f"Bearer {token}"},
        "stale token": {"Authorization": "Bearer pal_no-such-token"},
    }


@pytest.fixture
async def database_gone(
    client: Client, database_url: str, postgres_admin_url: str
) -> AsyncIterator[None]:
    """The app's database refuses new connections and its existing ones are cut."""
    async with database_cut_off(database_url, postgres_admin_url):
        yield


async def test_with_the_database_up_credentials_change_nothing_for_the_probes(
    client: Client, credentials: dict[str, dict[str, str]]
) -> None:
    for headers in credentials.values():
        assert (await client.get("/healthz", headers=headers)).status == 200
        assert (await client.get("/readyz", headers=headers)).status == 200


async def test_with_the_database_gone_liveness_holds_and_readiness_says_so_whoever_asks(
    client: Client, credentials: dict[str, dict[str, str]], database_gone: None
) -> None:
    for way, headers in credentials.items():
        alive = await client.get("/healthz", headers=headers)
        ready = await client.get("/readyz", headers=headers)

        assert alive.status == 200, way
        assert await alive.json() == {"status": "alive"}
        assert ready.status == 503, way
        assert error_of(await ready.json())["code"] == "not_ready", way
