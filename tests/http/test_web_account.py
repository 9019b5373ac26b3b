"""The account pages, used as a browser without script would: a token made and revoked,
the account erased (and not, when the handle typed is someone else's), webhook endpoints
added, read, sent again and deleted, a supporter accepting their invitation."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from yarl import URL

from ledger.auth.sessions import SESSION_COOKIE
from ledger.config import Settings
from ledger.http.keys import WEBHOOK_DELIVERY, WEBHOOK_FANOUT
from tests.http.conftest import TravellingClock
from tests.http.people import PASSWORD, Person, another_device, person
from tests.http.polycules import polycule_of
from tests.http.support import Client
from tests.http.web import page, shown_after, submit, submitted, text_of


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Test-only: the receiver below is plain http on loopback.
    return settings.model_copy(update={"webhooks_allow_http": True, "webhooks_allow_private": True})


@pytest.fixture
async def receiver_url() -> AsyncIterator[str]:
    """A program of the member's on loopback that accepts every message."""
    app = web.Application()
    app.router.add_post("/hook", _accepted)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/hook"
    finally:
        await runner.cleanup()


async def _accepted(request: web.Request) -> web.Response:
    return web.Response(text="thank you")


def shown_once(page_html: str) -> str:
    """The secret on a shown-once page."""
    found = re.search(r'id="shown" class="secret" readonly value="([^"]+)"', page_html)
    assert found, page_html
    return html.unescape(found.group(1))


async def bearer_status(client: Client, token: str) -> int:
    """How the API answers a program holding ``token`` (and no cookie)."""
    response = await client.get("/api/session", headers={"Authorization": f"Bearer {token}"})
    return response.status


async def test_a_token_made_on_the_account_page_is_shown_once_works_and_can_be_revoked(
    client: Client,
) -> None:
    async with person(client, "robin") as robin:
        before = text_of(await page(robin, "/account"))
        assert "Robin" in before and "robin" in before
        assert "You have no tokens" in before

        shown = await submit(
            robin, "/api/tokens",
            {"name": "calendar bot", "password": PASSWORD, "answer": "shown-once"},
            return_to="/account",
        )
        shown_page = await shown_after(robin, shown)
        assert "shown only once" in text_of(shown_page)
        token = shown_once(shown_page)
        assert await bearer_status(client, token) == 200

        [listed] = (await robin.json("GET", "/api/tokens"))["tokens"]
        account_page = await page(robin, "/account")
        assert "calendar bot" in text_of(account_page) and "Last used" in text_of(account_page)
        assert token not in account_page  # shown once: never again
        revoke = f"/account/tokens/{listed['id']}/revoke"
        assert f'action="{revoke}"' in account_page

        assert await submitted(robin, revoke, {}, return_to="/account") == "/account"
        assert await bearer_status(client, token) == 401
        assert "calendar bot" not in text_of(await page(robin, "/account"))


async def test_erasing_needs_ones_own_handle_then_leaves_and_signs_out_for_good(
    client: Client,
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam:
        polycule = await polycule_of(robin, sam)
        explained = text_of(await page(robin, "/account/erase"))
        assert "cannot be undone" in explained and "every polycule" in explained

        mistaken = await submit(
            robin, "/account/erase", {"handle": "sam", "password": PASSWORD}, return_to="/sign-in"
        )
        assert mistaken.status == 400, await mistaken.text()
        said = text_of(await mistaken.text())
        assert "Nothing was changed" in said and "type your own handle" in said.lower()
        assert (await robin.json("GET", "/api/session"))["account"]["handle"] == "robin"
        await robin.sign_in()
        members = await sam.json("GET", f"/api/polycules/{polycule}/members")
        assert len(members) == 2

        old_cookie = robin.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE]
        live = await client.get("/account", cookies={SESSION_COOKIE: old_cookie.value})
        assert live.status == 200
        erased = await submit(
            robin, "/account/erase", {"handle": "Robin", "password": PASSWORD},
            return_to="/sign-in",
        )
        assert erased.status == 303 and erased.headers["Location"] == "/sign-in"
        assert erased.cookies[SESSION_COOKIE].value == ""
        assert SESSION_COOKIE not in robin.session.cookie_jar.filter_cookies(
            client.make_url("/")
        )
        for cookie in ({}, {SESSION_COOKIE: old_cookie.value}):  # the old one is ended too
            gone = await client.get("/account", cookies=cookie, allow_redirects=False)
            assert gone.status == 303 and URL(gone.headers["Location"]).path == "/sign-in"
        [member] = await sam.json("GET", f"/api/polycules/{polycule}/members")
        assert member["member_id"] == str(sam.account_id)
        refused = await robin.request(
            "POST", "/api/session", json={"handle": "robin", "password": PASSWORD}
        )
        assert refused.status == 401


async def test_the_password_is_changed_from_the_account_page(client: Client) -> None:
    async with person(client, "robin") as robin, another_device(robin) as phone:
        account_page = await page(robin, "/account")
        assert 'action="/api/account/password"' in account_page
        assert 'autocomplete="new-password"' in account_page

        mistaken = await submit(robin, "/api/account/password", {
            "current_password": "not the password", "new_password": "seven lanterns quay",
        }, return_to="/account?password=changed")
        assert mistaken.status == 403
        assert "That is not your password" in text_of(await mistaken.text())
        common = await submit(robin, "/api/account/password", {
            "current_password": PASSWORD, "new_password": "password1234",
        }, return_to="/account?password=changed")
        assert common.status == 422
        assert "most common" in text_of(await common.text())

        changed = await submitted(robin, "/api/account/password", {
            "current_password": PASSWORD, "new_password": "seven lanterns quay",
        }, return_to="/account?password=changed")

        assert changed == "/account?password=changed"
        assert "Your password is changed" in text_of(await page(robin, changed))
        assert (await phone.request("GET", "/api/session")).status == 401


async def test_signing_out_everywhere_from_the_account_page(client: Client) -> None:
    async with person(client, "robin") as robin, another_device(robin) as phone:
        token = (await robin.json(
            "POST", "/api/tokens", 201, json={"name": "bot", "password": PASSWORD}
        ))["token"]
        account_page = await page(robin, "/account")
        assert 'action="/api/account/sign-out-everywhere"' in account_page

        response = await submit(
            robin, "/api/account/sign-out-everywhere", {}, return_to="/sign-in?everywhere=1"
        )

        assert response.status == 303
        assert response.headers["Location"] == "/sign-in?everywhere=1"
        assert response.cookies[SESSION_COOKIE].value == ""
        said = text_of(await (await client.get("/sign-in?everywhere=1")).text())
        assert "You are signed out everywhere" in said
        for device in (robin, phone):
            gone = await device.session.get(client.make_url("/account"), allow_redirects=False)
            assert gone.status == 303
        assert await bearer_status(client, token) == 401


async def test_a_page_visited_signed_out_leads_to_signing_in_and_back(client: Client) -> None:
    for path in ("/account", "/account/webhooks", "/account/erase"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 303, path
        location = URL(response.headers["Location"])
        assert (location.path, location.query["next"]) == ("/sign-in", path)


async def settle(client: Client, done: Callable[[], Awaitable[bool]]) -> None:
    """Deliver what is due (beside the app's own worker) until ``done``."""
    for _ in range(200):
        if await done():
            return
        await client.app[WEBHOOK_DELIVERY].deliver_due()
        await asyncio.sleep(0.05)
    raise AssertionError("the messages were not delivered in time")


async def delivery_log(member: Person, endpoint_id: str) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = await member.json(
        "GET", f"/api/webhooks/endpoints/{endpoint_id}/messages"
    )
    return log


async def test_webhook_pages_add_show_send_again_and_delete_an_endpoint(
    client: Client, receiver_url: str
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam:
        assert "You have no endpoints yet" in text_of(await page(robin, "/account/webhooks"))
        shown = await submit(robin, "/api/webhooks/endpoints", [
            ("url", receiver_url), ("description", "Kitchen tablet"),
            ("event_types[]", "member.joined"), ("answer", "shown-once"),
        ], return_to="/account/webhooks")
        assert shown_once(await shown_after(robin, shown)).startswith("whsec_")
        [endpoint] = await robin.json("GET", "/api/webhooks/endpoints")
        assert endpoint["event_types"] == ["member.joined"]
        endpoint_path = f"/account/webhooks/{endpoint['endpoint_id']}"
        listed = await page(robin, "/account/webhooks")
        assert f'href="{endpoint_path}"' in listed and "Kitchen tablet" in text_of(listed)

        await polycule_of(robin, sam)  # Sam joins: Robin's tablet is told
        await client.app[WEBHOOK_FANOUT].catch_up_now()

        async def attempts(count: int) -> bool:
            log = await delivery_log(robin, endpoint["endpoint_id"])
            return [(m["status"], len(m["log"])) for m in log] == [("succeeded", count)]

        await settle(client, lambda: attempts(1))
        shown_endpoint = text_of(await page(robin, endpoint_path))
        assert receiver_url in shown_endpoint
        assert "On: the ledger sends it messages" in shown_endpoint
        assert "Someone joined your polycule" in shown_endpoint
        assert "Delivered" in shown_endpoint and "200: thank you" in shown_endpoint

        [message] = await delivery_log(robin, endpoint["endpoint_id"])
        send_again = f"/api/webhooks/endpoints/{endpoint['endpoint_id']}/messages/" \
                     f"{message['message_id']}/send-again"
        endpoint_page = await page(robin, endpoint_path)
        assert f'action="{send_again}"' in endpoint_page
        assert await submitted(robin, send_again, {}, return_to=endpoint_path) == endpoint_path
        await settle(client, lambda: attempts(2))
        again = await page(robin, endpoint_path)
        assert re.search(r'<th scope="row">2</th>', again)

        # Sam may not even learn that it exists.
        hidden = text_of(await page(sam, endpoint_path, 404))
        assert "There is nothing here" in hidden and receiver_url not in hidden
        assert "Kitchen tablet" not in text_of(await page(sam, "/account/webhooks"))
        refused = await submit(sam, f"{endpoint_path}/delete", {})
        assert refused.status == 404

        deleted = await submitted(
            robin, f"{endpoint_path}/delete", {}, return_to="/account/webhooks"
        )
        assert deleted == "/account/webhooks"
        assert await robin.json("GET", "/api/webhooks/endpoints") == []
        assert "You have no endpoints yet" in text_of(await page(robin, "/account/webhooks"))
        await page(robin, endpoint_path, 404)


async def test_a_supporter_accepts_from_the_invitation_page_and_reads_that_repair(
    client: Client, clock: TravellingClock
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam, \
            person(client, "coach") as coach:
        polycule = await polycule_of(robin, sam)
        base = f"/api/polycules/{polycule}"
        proposal = await robin.json("POST", f"{base}/proposals", 201, json={
            "kind": "create", "title": "Before a first date",
            "terms": "We tell each other before a first date with someone new.",
            "category": "disclosure",
            "parties": [str(robin.account_id), str(sam.account_id)],
        })
        await sam.json("POST", f"{base}/proposals/{proposal['proposal_id']}/consent",
                       json={"revision": 1})
        clock.advance(days=2)
        breach = await robin.json("POST", f"{base}/breaches", 201, json={
            "agreement_id": proposal["agreement_id"], "breached_by": str(sam.account_id),
            "happened_at": (clock.now() - timedelta(days=1)).isoformat(),
            "what_happened": "You went on a date and I heard it from a friend.",
        })
        breach_id = breach["breach_id"]
        repair = f"{base}/breaches/{breach_id}/repair"
        invitation = await robin.json("POST", f"{repair}/supporters", 201, json={})
        assert (await coach.request("GET", repair)).status == 404

        invited = f"/supporter-invitations/{invitation['token']}"
        explained = text_of(await page(coach, invited))
        assert "read that one repair" in explained and "nothing else" in explained
        accepted = await submitted(
            coach, f"/api{invited}/accept", {},
            return_to="/polycules/{polycule_id}/breaches/{breach_id}",
        )
        assert accepted == f"/polycules/{polycule}/breaches/{breach_id}"
        assert (await coach.json("GET", repair))["names"]
        assert (await coach.request("GET", f"{base}/agreements")).status == 404


async def test_a_paused_endpoint_is_turned_back_on_from_its_page(client: Client) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam:
        made = await robin.json("POST", "/api/webhooks/endpoints", 201, json={
            "url": "https://hooks.invalid/robin",
        })
        endpoint = f"/api/webhooks/endpoints/{made['endpoint_id']}"
        await robin.json("PATCH", endpoint, json={"enabled": False})
        its_page = f"/account/webhooks/{made['endpoint_id']}"
        assert "Turn it back on" in await page(robin, its_page)

        await submit(sam, f"{its_page}/change", {"enabled": "true"}, return_to=its_page)
        assert (await robin.json("GET", endpoint))["enabled"] is False  # not theirs to touch
        went_to = await submitted(
            robin, f"{its_page}/change", {"enabled": "true"}, return_to=its_page
        )

        assert went_to == its_page
        assert (await robin.json("GET", endpoint))["enabled"] is True
        assert "Turn it back on" not in await page(robin, its_page)
