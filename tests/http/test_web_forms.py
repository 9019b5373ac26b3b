"""The web client's forms post to the API itself: what a browser without script gets back,
what a browser with script gets back, and what neither can be made to do."""

from __future__ import annotations

import re
from urllib.parse import unquote

from tests.http.people import person
from tests.http.polycules import polycule_of
from tests.http.support import Client
from tests.http.web import page, submit, submitted, text_of


async def test_a_form_with_its_csrf_field_acts_and_redirects_to_the_new_thing(
    client: Client,
) -> None:
    async with person(client) as sam:
        location = await submitted(
            sam, "/api/polycules", {"name": "Willow Flat"}, return_to="/polycules/{id}"
        )

        mine = await sam.json("GET", "/api/polycules")
        assert [polycule["name"] for polycule in mine] == ["Willow Flat"]
        assert location == f"/polycules/{mine[0]['id']}"
        assert "Willow Flat" in text_of(await page(sam, location))


async def test_a_form_without_the_csrf_field_changes_nothing(client: Client) -> None:
    async with person(client) as sam:
        response = await sam.session.post(
            client.make_url("/api/polycules"),
            data={"name": "Willow Flat", "return_to": "/polycules"},
            allow_redirects=False,
        )

        assert response.status == 403
        said = text_of(await response.text())
        assert "That did not go through" in said and "Nothing was changed" in said
        assert await sam.json("GET", "/api/polycules") == []


async def test_a_form_the_api_refuses_says_why_and_changes_nothing(client: Client) -> None:
    async with person(client) as sam:
        response = await submit(sam, "/api/polycules", {"name": ""})

        assert response.status == 422
        said = text_of(await response.text())
        assert re.search(r"The name\s*: Please fill this in\.", said), said
        assert "expected shape" not in said and "Field required" not in said
        assert await sam.json("GET", "/api/polycules") == []


async def test_a_form_never_sends_the_browser_to_another_site(client: Client) -> None:
    async with person(client) as sam:
        for elsewhere in ("https://elsewhere.example/", "//elsewhere.example/", "/\\elsewhere"):
            location = await submitted(
                sam, "/api/polycules", {"name": "Somewhere"}, return_to=elsewhere
            )
            assert location == "/polycules", elsewhere


async def test_with_script_a_form_gets_where_to_go_or_the_apis_error(client: Client) -> None:
    async with person(client) as sam:
        went = await sam.session.post(
            client.make_url("/api/polycules"),
            data={"name": "Fern Court", "csrf_token": sam.csrf_token,
                  "return_to": "/polycules/{id}"},
            headers={"Accept": "application/json"},
        )
        refused = await sam.session.post(
            client.make_url("/api/polycules"),
            data={"name": "", "csrf_token": sam.csrf_token, "return_to": "/polycules"},
            headers={"Accept": "application/json"},
        )

        (polycule,) = await sam.json("GET", "/api/polycules")
        assert (went.status, await went.json()) == (
            200, {"location": f"/polycules/{polycule['id']}"}
        )
        assert refused.status == 422
        answered = await refused.json()
        assert answered["error"]["code"] == "validation_failed"
        # The same refusal in plain words, a sentence for the field it is about.
        assert answered["plain"]["fields"] == {"name": "Please fill this in."}
        assert "expected shape" not in answered["plain"]["message"]


async def test_signing_in_through_the_form_sets_the_session_and_goes_on(client: Client) -> None:
    async with person(client) as sam:
        await submitted(sam, "/sign-out", {}, return_to="/sign-in")
        await page(sam, "/polycules", status=303)
        # The sign-in form carries no CSRF token: nobody is signed in to take it from.
        response = await sam.session.post(
            client.make_url("/api/session"),
            data={"handle": sam.handle, "password": "correct horse battery staple",
                  "return_to": "/inbox"},
            allow_redirects=False,
        )

        assert (response.status, response.headers["Location"]) == (303, "/inbox")
        assert "My polycules" in await page(sam, "/polycules")


async def test_a_page_asks_whoever_is_not_signed_in_to_sign_in_and_comes_back(
    client: Client,
) -> None:
    response = await client.get("/polycules?x=1", allow_redirects=False)

    assert response.status == 303
    location = response.headers["Location"]
    assert location.startswith("/sign-in?next=")
    assert unquote(location.removeprefix("/sign-in?next=")) == "/polycules?x=1"


async def test_every_answer_carries_the_protective_headers(client: Client) -> None:
    for path in ("/sign-in", "/api/openapi.json", "/static/app.css", "/nowhere"):
        response = await client.get(path)
        headers = response.headers
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy, path
        assert "frame-ancestors 'none'" in policy, path
        assert headers["X-Frame-Options"] == "DENY", path
        assert headers["Referrer-Policy"] == "no-referrer", path
        assert headers["X-Content-Type-Options"] == "nosniff", path


async def test_pages_hold_no_inline_script(client: Client) -> None:
    async with person(client) as sam:
        location = await submitted(
            sam, "/api/polycules", {"name": "Oak Row"}, return_to="/polycules/{id}"
        )
        for path in ("/sign-in", "/sign-up", "/polycules", location, f"{location}/propose"):
            html = await page(sam, path)
            assert "<script>" not in html and " style=" not in html, path
            assert html.count("<script") == html.count('<script src="/static/'), path


async def test_what_a_member_wrote_is_shown_as_text_never_as_markup(client: Client) -> None:
    async with person(client) as sam:
        location = await submitted(
            sam, "/api/polycules", {"name": "<script>alert(1)</script>"},
            return_to="/polycules/{id}",
        )

        html = await page(sam, location)
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_an_address_that_is_nothing_is_a_page_to_a_browser_and_json_to_a_program(
    client: Client,
) -> None:
    browser = await client.get("/nowhere", headers={"Accept": "text/html,*/*;q=0.8"})
    program = await client.get("/nowhere")

    assert (browser.status, browser.content_type) == (404, "text/html")
    assert "There is nothing here" in text_of(await browser.text())
    assert (program.status, program.content_type) == (404, "application/json")


async def test_leaving_through_the_form_takes_the_member_out_and_back_to_their_polycules(
    client: Client,
) -> None:
    async with person(client) as sam, person(client) as kit:
        polycule_id = await polycule_of(sam, kit, name="Birch Lane")
        home = f"/polycules/{polycule_id}"
        assert "Leave this polycule" in await page(kit, home)

        location = await submitted(kit, f"/api{home}/leave", {}, return_to="/polycules")

        assert location == "/polycules"
        assert "Birch Lane" not in await page(kit, "/polycules")
        await page(kit, home, status=404)
        members = await sam.json("GET", f"/api{home}/members")
        assert [member["member_id"] for member in members] == [str(sam.account_id)]


async def test_where_a_form_goes_next_carries_ids_never_words_or_secrets(client: Client) -> None:
    async with person(client) as sam, person(client) as kit:
        polycule_id = await polycule_of(sam, kit)

        location = await submitted(
            sam, f"/api/polycules/{polycule_id}/disclosures",
            {"kind": "feelings", "text": "Something very private.",
             "recipients[]": str(kit.account_id)},
            return_to="/polycules?id={disclosure_id}&words={text}&who={recipients}",
        )
        signed_in = await sam.session.post(
            client.make_url("/api/session"),
            data={"handle": sam.handle, "password": "correct horse battery staple",
                  "csrf_token": sam.csrf_token, "return_to": "/inbox?t={csrf_token}"},
            allow_redirects=False,
        )

        (disclosure,) = await sam.json("GET", f"/api/polycules/{polycule_id}/disclosures")
        assert location == (
            f"/polycules?id={disclosure['disclosure_id']}&words={{text}}&who={{recipients}}"
        )
        assert "private" not in location
        assert signed_in.headers["Location"] == "/inbox?t={csrf_token}"


async def test_a_wrong_password_is_said_plainly_and_nothing_changes(client: Client) -> None:
    async with person(client) as sam:
        await submitted(sam, "/sign-out", {}, return_to="/sign-in")

        response = await sam.session.post(
            client.make_url("/api/session"),
            data={"handle": sam.handle, "password": "not the password", "return_to": "/inbox"},
            allow_redirects=False,
        )

        assert response.status == 401
        assert "do not match an account" in text_of(await response.text())
        await page(sam, "/inbox", status=303)


async def test_signing_in_again_from_an_old_tab_while_signed_in_works(client: Client) -> None:
    async with person(client) as sam:
        sign_in = await page(sam, "/sign-in")
        assert f'name="csrf_token" value="{sam.csrf_token}"' in sign_in

        location = await submitted(
            sam, "/api/session",
            {"handle": sam.handle, "password": "correct horse battery staple"},
            return_to="/inbox",
        )

        assert location == "/inbox"
