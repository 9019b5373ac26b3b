"""How long a live stream lasts and how many one account holds: a cap per account, and a
stream ends with the session or token that opened it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import BaseRunner, TestServer
from pytest_aiohttp import AiohttpClient

from ledger.config import Settings
from tests.http.accounts_support import query, script
from tests.http.people import PASSWORD, Person, another_device, person
from tests.http.polycules import polycule_of
from tests.http.streams import ended, next_change, open_stream, opening_id, propose
from tests.http.support import Client, error_of

# Long: a stream that ends did not end because it asked again at a keep-alive.
QUIET_FOR_AN_HOUR = {"live_keepalive_seconds": 3600.0}
# Short: what a stream notices only when it looks again, it notices now.
LOOKS_AGAIN_OFTEN = {"live_keepalive_seconds": 0.2}


@pytest.fixture
def live_settings() -> dict[str, Any]:
    return QUIET_FOR_AN_HOUR


@pytest.fixture
def settings(settings: Settings, live_settings: dict[str, Any]) -> Settings:
    return settings.model_copy(update=live_settings)


looking_again_often = pytest.mark.parametrize(
    "live_settings", [LOOKS_AGAIN_OFTEN], ids=["keep-alive 0.2 s"]
)
STREAMS_PER_ACCOUNT = 2
capped = pytest.mark.parametrize(
    "live_settings",
    [{**QUIET_FOR_AN_HOUR, "live_streams_per_account": STREAMS_PER_ACCOUNT}],
    ids=[f"{STREAMS_PER_ACCOUNT} streams an account"],
)


class ServedAsInProduction(TestServer):
    """The app served as ``python -m ledger serve`` serves it: a view goes on running when
    its client goes away (aiohttp's test server would cancel it)."""

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return await super()._make_runner(**{**kwargs, "handler_cancellation": False})


@pytest.fixture
async def served_as_in_production(app: web.Application, aiohttp_client: AiohttpClient) -> Client:
    return await aiohttp_client(ServedAsInProduction(app))


@capped
async def test_an_account_holds_at_most_so_many_streams_open(client: Client) -> None:
    async with person(client) as ana, person(client) as ben:
        polycule_id = await polycule_of(ana, ben)
        live = f"/api/polycules/{polycule_id}/live"
        first = await open_stream(ben, live)
        await open_stream(ben, "/api/me/live")

        refused = await ben.session.get(client.make_url(live))

        assert refused.status == 429
        error = error_of(await refused.json())
        assert error["code"] == "too_many_live_streams"
        assert error["details"] == {"limit": STREAMS_PER_ACCOUNT}
        # Another account's streams are its own.
        await open_stream(ana, live)
        # A stream closed gives its place back.
        first.close()
        assert await reopens_once_a_place_is_free(ben, live)


async def reopens_once_a_place_is_free(someone: Person, path: str) -> bool:
    """Whether ``path`` opens again, refused (429) at most until the server has seen a
    closed connection."""
    for _ in range(100):
        reopened = await someone.session.get(someone.client.make_url(path))
        reopened.close()
        if reopened.status == 200:
            return True
        assert reopened.status == 429
        await asyncio.sleep(0.05)
    return False


@capped
async def test_a_page_that_went_away_gives_its_place_back_at_once(
    served_as_in_production: Client,
) -> None:
    """Its view is still waiting for a wake-up (an hour away): the place is free anyway."""
    async with person(served_as_in_production) as ben:
        first = await open_stream(ben, "/api/me/live")
        await opening_id(first)
        await opening_id(await open_stream(ben, "/api/me/live"))

        first.close()

        assert await reopens_once_a_place_is_free(ben, "/api/me/live")


async def test_signing_out_ends_that_sessions_streams_at_once(client: Client) -> None:
    async with person(client) as ana, person(client) as ben, another_device(ben) as phone:
        polycule_id = await polycule_of(ana, ben)
        stream = await open_stream(ben, f"/api/polycules/{polycule_id}/live")
        mine = await open_stream(ben, "/api/me/live")
        on_the_phone = await open_stream(phone, f"/api/polycules/{polycule_id}/live")
        await opening_id(on_the_phone)

        signed_out = await ben.request("DELETE", "/api/session")
        assert signed_out.status == 204

        assert await ended(stream)
        assert await ended(mine)
        # The phone's own session is still signed in, and still hears.
        await propose(ana, polycule_id, ben)
        assert await next_change(on_the_phone) == ["AgreementProposed", "ConsentGiven"]


async def test_revoking_a_token_ends_its_streams_at_once(client: Client) -> None:
    async with person(client) as ana, person(client) as ben:
        polycule_id = await polycule_of(ana, ben)
        token = await ben.json(
            "POST", "/api/tokens", 201, json={"name": "phone", "password": PASSWORD}
        )
        in_the_browser = await open_stream(ben, f"/api/polycules/{polycule_id}/live")
        await opening_id(in_the_browser)
        async with script(client, token["token"]) as bot:
            stream = await bot.get(f"/api/polycules/{polycule_id}/live")
            assert stream.status == 200

            revoked = await ben.request("DELETE", f"/api/tokens/{token['id']}")
            assert revoked.status == 204

            assert await ended(stream)
        # The browser's session has nothing to do with that token.
        await propose(ana, polycule_id, ben)
        assert await next_change(in_the_browser) == ["AgreementProposed", "ConsentGiven"]


@looking_again_often
async def test_a_session_ended_elsewhere_ends_the_stream_when_it_next_looks(
    client: Client, database_url: str
) -> None:
    """Signed out through another instance: nothing in this process hears of it, the
    stream asks again at its keep-alive."""
    async with person(client) as ana, person(client) as ben:
        polycule_id = await polycule_of(ana, ben)
        stream = await open_stream(ben, f"/api/polycules/{polycule_id}/live")
        await opening_id(stream)

        await query(
            database_url, "UPDATE sessions SET ended_at = now() WHERE account_id = $1",
            ben.account_id,
        )

        assert await ended(stream)


async def test_a_stream_signed_out_elsewhere_tells_nothing_more(
    client: Client, database_url: str
) -> None:
    """Long before its keep-alive: the credential is asked again before any message."""
    async with person(client) as ana, person(client) as ben:
        polycule_id = await polycule_of(ana, ben)
        stream = await open_stream(ben, f"/api/polycules/{polycule_id}/live")
        await opening_id(stream)
        await query(
            database_url, "UPDATE sessions SET ended_at = now() WHERE account_id = $1",
            ben.account_id,
        )

        await propose(ana, polycule_id, ben)

        assert await ended(stream)


@looking_again_often
async def test_my_stream_finds_a_polycule_i_joined_when_it_next_looks(client: Client) -> None:
    async with person(client) as ana, person(client) as ben:
        await polycule_of(ana, ben, name="First")
        mine = await open_stream(ben, "/api/me/live")
        second = await polycule_of(ana, ben, name="Second")

        assert await next_change(mine) == ["MemberJoined"]
        await propose(ana, second, ben)
        assert await next_change(mine) == ["AgreementProposed", "ConsentGiven"]
