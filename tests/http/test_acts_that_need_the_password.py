"""What only the account's owner at a signed-in browser may do — erase the account, mint an
API token, change the password — needs the session *and* the password typed again: an API
token alone cannot, nor can a browser someone else finds signed in. And signing out
everywhere ends every session and revokes every token at once."""

from __future__ import annotations

from http.cookies import SimpleCookie

from ledger.auth.sessions import SESSION_COOKIE
from ledger.auth.throttle import ThrottlePolicy
from tests.http.accounts_support import WRONG_PASSWORD, query, script
from tests.http.people import PASSWORD, Person, another_device, person
from tests.http.polycules import polycule_of
from tests.http.streams import ended, open_stream, opening_id
from tests.http.support import Client, error_of

NEW_PASSWORD = "seven lanterns over the quay"


async def make_token(someone: Person, name: str = "phone") -> dict[str, str]:
    made: dict[str, str] = await someone.json(
        "POST", "/api/tokens", 201, json={"name": name, "password": PASSWORD}
    )
    return made


async def accounts_left(database_url: str) -> set[str]:
    rows = await query(database_url, "SELECT handle FROM accounts WHERE erased_at IS NULL")
    return {row["handle"] for row in rows}


async def test_an_api_token_alone_cannot_erase_its_account(
    client: Client, database_url: str
) -> None:
    async with person(client, "robin") as robin:
        token = (await make_token(robin))["token"]

        async with script(client, token) as bot:
            refused = await bot.delete(
                "/api/account", json={"handle": "robin", "password": PASSWORD}
            )

            assert refused.status == 403
            assert error_of(await refused.json())["code"] == "session_required"
            assert (await bot.get("/api/session")).status == 200  # the token still works
        assert await accounts_left(database_url) == {"robin"}


async def test_erasing_needs_the_password_typed_again(client: Client, database_url: str) -> None:
    async with person(client, "robin") as robin:
        wrong = await robin.request(
            "DELETE", "/api/account", json={"handle": "robin", "password": WRONG_PASSWORD}
        )
        missing = await robin.request("DELETE", "/api/account", json={"handle": "robin"})

        assert wrong.status == 403
        error = error_of(await wrong.json())
        assert error["code"] == "password_incorrect"
        assert error["message"] == "the password you typed is not this account's password"
        assert missing.status == 422
        assert await accounts_left(database_url) == {"robin"}
        assert (await robin.request("GET", "/api/session")).status == 200

        erased = await robin.json(
            "DELETE", "/api/account", json={"handle": "robin", "password": PASSWORD}
        )

        assert erased["erased"] is True
        assert await accounts_left(database_url) == set()


async def test_minting_a_token_needs_the_password_typed_again(
    client: Client, database_url: str
) -> None:
    async with person(client, "robin") as robin:
        wrong = await robin.request(
            "POST", "/api/tokens", json={"name": "phone", "password": WRONG_PASSWORD}
        )
        missing = await robin.request("POST", "/api/tokens", json={"name": "phone"})

        assert wrong.status == 403
        assert error_of(await wrong.json())["code"] == "password_incorrect"
        assert missing.status == 422
        assert await query(database_url, "SELECT id FROM api_tokens") == []
        assert (await make_token(robin))["token"].startswith("pal_")


async def test_changing_the_password_signs_out_everyone_else_who_knew_the_old_one(
    client: Client,
) -> None:
    async with person(client, "robin") as robin, another_device(robin) as phone:
        token = (await make_token(robin))["token"]

        changed = await robin.json("POST", "/api/account/password", json={
            "current_password": PASSWORD, "new_password": NEW_PASSWORD,
        })

        assert changed == {"other_sessions_ended": 1}
        assert (await robin.request("GET", "/api/session")).status == 200  # this browser stays
        assert (await phone.request("GET", "/api/session")).status == 401
        old = await client.post("/api/session", json={"handle": "robin", "password": PASSWORD})
        new = await client.post(
            "/api/session", json={"handle": "robin", "password": NEW_PASSWORD}
        )
        assert (old.status, new.status) == (401, 200)
        async with script(client, token) as bot:  # tokens stay: sign out everywhere ends them
            assert (await bot.get("/api/session")).status == 200


async def test_changing_the_password_needs_a_session_the_current_one_and_a_good_new_one(
    client: Client,
) -> None:
    async with person(client, "quillfeather") as quill:
        token = (await make_token(quill))["token"]
        async with script(client, token) as bot:
            by_token = await bot.post("/api/account/password", json={
                "current_password": PASSWORD, "new_password": NEW_PASSWORD,
            })
        wrong = await quill.request("POST", "/api/account/password", json={
            "current_password": WRONG_PASSWORD, "new_password": NEW_PASSWORD,
        })
        common = await quill.request("POST", "/api/account/password", json={
            "current_password": PASSWORD, "new_password": "password1234",
        })
        own_handle = await quill.request("POST", "/api/account/password", json={
            "current_password": PASSWORD, "new_password": "Quillfeather-2024!",
        })

        assert by_token.status == 403
        assert error_of(await by_token.json())["code"] == "session_required"
        assert wrong.status == 403
        assert error_of(await wrong.json())["code"] == "password_incorrect"
        for refused, kind in ((common, "password_common"), (own_handle, "password_context")):
            assert refused.status == 422
            [problem] = error_of(await refused.json())["details"]["errors"]
            assert (problem["loc"], problem["type"]) == (["new_password"], kind)
        # Nothing changed: the old password still signs in.
        again = await client.post(
            "/api/session", json={"handle": "quillfeather", "password": PASSWORD}
        )
        assert again.status == 200


async def test_a_signed_in_browser_is_no_way_to_guess_the_password(client: Client) -> None:
    # Typing the password again is counted like signing in, from the same address.
    async with person(client, "robin") as robin:
        for _ in range(ThrottlePolicy().per_handle_at_address.refuse_after):
            wrong = await robin.request(
                "POST", "/api/tokens", json={"name": "x", "password": WRONG_PASSWORD}
            )
            assert wrong.status == 403

        refused = await robin.request(
            "POST", "/api/tokens", json={"name": "x", "password": PASSWORD}
        )

        assert refused.status == 429
        assert int(refused.headers["Retry-After"]) >= 1


async def test_signing_out_everywhere_ends_every_session_and_token_and_their_streams(
    client: Client,
) -> None:
    async with (
        person(client, "robin") as robin, person(client, "sam") as sam,
        another_device(robin) as phone,
    ):
        polycule_id = await polycule_of(robin, sam)
        tokens = [(await make_token(robin, name))["token"] for name in ("phone", "calendar")]
        sams_token = (await make_token(sam))["token"]
        on_the_phone = await open_stream(phone, f"/api/polycules/{polycule_id}/live")
        await opening_id(on_the_phone)
        async with script(client, tokens[0]) as bot:
            by_token = await bot.post("/api/account/sign-out-everywhere")
            assert by_token.status == 403  # a token is no way to sign its owner out
            bots_stream = await bot.get(f"/api/polycules/{polycule_id}/live")
            assert bots_stream.status == 200

            response = await robin.request("POST", "/api/account/sign-out-everywhere")

            assert response.status == 200
            assert await response.json() == {"sessions_ended": 2, "tokens_revoked": 2}
            cookie = SimpleCookie(response.headers["Set-Cookie"])[SESSION_COOKIE]
            assert cookie.value == "" and cookie["max-age"] == "0"
            # Streams held open by either end at once, wherever they are.
            assert await ended(on_the_phone)
            assert await ended(bots_stream)
        for device in (robin, phone):
            assert (await device.request("GET", "/api/session")).status == 401
        for token in tokens:
            async with script(client, token) as bot:
                assert (await bot.get("/api/session")).status == 401
        # Nobody else's.
        assert (await sam.request("GET", "/api/session")).status == 200
        async with script(client, sams_token) as bot:
            assert (await bot.get("/api/session")).status == 200
        # And the password still signs in.
        await robin.sign_in()
        assert (await robin.request("GET", "/api/session")).status == 200
