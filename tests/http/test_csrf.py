"""Cross-site request forgery: a browser's cookie alone never changes anything.

A change made with the session cookie must carry the session's X-CSRF-Token and must not
come from another site's page; a script's Bearer token needs neither.
"""

from __future__ import annotations

import pytest

from tests.http.accounts_support import (
    PASSWORD,
    query,
    script,
    sign_in,
    sign_up,
    signed_in,
)
from tests.http.people import person
from tests.http.support import Client, error_of


def own_origin(client: Client) -> str:
    return str(client.make_url("/")).rstrip("/")


async def test_a_cookie_change_without_the_csrf_token_is_refused(
    client: Client, database_url: str
) -> None:
    await signed_in(client, "robin")

    response = await client.post("/api/tokens", json={"name": "forged", "password": PASSWORD})

    assert response.status == 403
    assert error_of(await response.json())["code"] == "csrf_failed"
    assert await query(database_url, "SELECT id FROM api_tokens") == []


async def test_a_cookie_change_with_a_wrong_csrf_token_is_refused(
    client: Client, database_url: str
) -> None:
    csrf_token = await signed_in(client, "robin")
    wrong = csrf_token[:-1] + ("A" if csrf_token[-1] != "A" else "B")

    response = await client.post(
        "/api/tokens", json={"name": "forged", "password": PASSWORD},
        headers={"X-CSRF-Token": wrong},
    )

    assert response.status == 403
    assert error_of(await response.json())["code"] == "csrf_failed"
    assert await query(database_url, "SELECT id FROM api_tokens") == []


async def test_another_sessions_csrf_token_does_not_fit(client: Client) -> None:
    await sign_up(client, "sam")
    sams_token = (await (await sign_in(client, "sam")).json())["csrf_token"]
    client.session.cookie_jar.clear()
    await signed_in(client, "robin")  # the cookie jar holds Robin's session only

    response = await client.post(
        "/api/tokens", json={"name": "forged", "password": PASSWORD},
        headers={"X-CSRF-Token": sams_token},
    )

    assert response.status == 403


async def test_a_cookie_change_with_the_right_csrf_token_is_made(client: Client) -> None:
    csrf_token = await signed_in(client, "robin")

    response = await client.post(
        "/api/tokens", json={"name": "phone", "password": PASSWORD},
        headers={"X-CSRF-Token": csrf_token},
    )

    assert response.status == 201


async def test_signing_out_needs_the_csrf_token_too(client: Client) -> None:
    csrf_token = await signed_in(client, "robin")

    forged = await client.delete("/api/session")

    assert forged.status == 403
    assert (await client.get("/api/session")).status == 200  # still signed in
    assert (await client.delete("/api/session", headers={"X-CSRF-Token": csrf_token})).status \
        == 204


async def test_a_bearer_token_needs_no_csrf_token(client: Client) -> None:
    csrf_token = await signed_in(client, "robin")
    tokens = []
    for name in ("script", "old script"):
        made = await client.post(
            "/api/tokens", json={"name": name, "password": PASSWORD},
            headers={"X-CSRF-Token": csrf_token},
        )
        tokens.append(await made.json())

    async with script(client, tokens[0]["token"]) as bot:
        response = await bot.delete(
            f"/api/tokens/{tokens[1]['id']}", headers={"Origin": "https://elsewhere.example"}
        )

    assert response.status == 204


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1"])
async def test_a_change_from_another_sites_page_is_refused_even_with_the_token(
    client: Client, database_url: str, origin: str
) -> None:
    csrf_token = await signed_in(client, "robin")

    response = await client.post(
        "/api/tokens",
        json={"name": "forged", "password": PASSWORD},
        headers={"X-CSRF-Token": csrf_token, "Origin": origin},
    )

    assert response.status == 403
    assert error_of(await response.json())["code"] == "csrf_failed"
    assert await query(database_url, "SELECT id FROM api_tokens") == []


async def test_a_change_from_the_services_own_page_is_made(client: Client) -> None:
    csrf_token = await signed_in(client, "robin")

    response = await client.post(
        "/api/tokens",
        json={"name": "phone", "password": PASSWORD},
        headers={"X-CSRF-Token": csrf_token, "Origin": own_origin(client)},
    )

    assert response.status == 201


async def test_another_site_cannot_sign_a_browser_in(client: Client, database_url: str) -> None:
    # "Login CSRF": a foreign page signing the victim in to the attacker's account.
    await sign_up(client, "mallory")

    response = await client.post(
        "/api/session",
        json={"handle": "mallory", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )

    assert response.status == 403
    assert "Set-Cookie" not in response.headers
    assert await query(database_url, "SELECT id FROM sessions") == []



async def test_a_same_origin_form_with_a_null_origin_is_accepted_and_a_cross_site_one_refused(
    client: Client,
) -> None:
    """The web client's pages send no Referer, so Chromium posts their forms with
    ``Origin: null``; Fetch Metadata (Sec-Fetch-Site, set by the browser) tells ours apart."""
    async with person(client) as sam:
        async def post(name: str, **headers: str) -> int:
            response = await sam.session.post(
                client.make_url("/api/polycules"), json={"name": name},
                headers={"X-CSRF-Token": sam.csrf_token, **headers},
            )
            return response.status

        ours = await post("Ours", Origin="null", **{"Sec-Fetch-Site": "same-origin"})
        framed = await post("Framed", Origin="null", **{"Sec-Fetch-Site": "cross-site"})
        sibling = await post("Sibling", **{"Sec-Fetch-Site": "same-site"})
        bare_null = await post("Unsure", Origin="null")

        assert (ours, framed, sibling, bare_null) == (201, 403, 403, 403)
        assert [p["name"] for p in await sam.json("GET", "/api/polycules")] == ["Ours"]
