"""Bad input of every kind an outside probe sent is answered with a clear 4xx JSON error,
and nothing is written: deeply nested JSON, malformed forms, control characters, numbers
beyond what the database stores, a malformed ``between``, bodies that are not JSON."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ledger.auth.policy import ROUTE_RULES
from ledger.config import Settings
from ledger.http.keys import POOL
from tests.http.conftest import TravellingClock
from tests.http.people import Person
from tests.http.scene import Scene, lived_in
from tests.http.support import Client, error_of

# Deep enough that a recursive parser runs out of stack, small enough to send quickly.
NESTING = 100_000


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Room for a deeply nested document (the suite's 1 KiB limit would refuse it as 413).
    return settings.model_copy(update={"max_request_bytes": 1024 * 1024})


@pytest.fixture
async def scene(client: Client, clock: TravellingClock) -> AsyncIterator[Scene]:
    async with lived_in(client, clock) as it:
        yield it


async def written(client: Client) -> tuple[int, ...]:
    """How many events, accounts, sessions and webhook endpoints the database holds."""
    pool = client.app[POOL]
    return tuple([
        await pool.fetchval(f"SELECT count(*) FROM {table}")
        for table in ("events", "accounts", "sessions", "webhook_endpoints")
    ])


async def refused(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status == status, (response.status, await response.text())
    assert response.content_type == "application/json"
    error = error_of(await response.json())
    if code is not None:
        assert error["code"] == code, error
    return error


async def send(someone: Person, method: str, path: str, headers: dict[str, str],
               **kwargs: Any) -> Any:
    """A request by ``someone``'s browser (cookie and CSRF token) with headers of its own."""
    return await someone.session.request(
        method, someone.client.make_url(path),
        headers={"X-CSRF-Token": someone.csrf_token, **headers}, **kwargs,
    )


def fields_named(error: dict[str, Any]) -> set[str]:
    return {str(problem["loc"][-1]) for problem in error["details"]["errors"]}


# --- Deeply nested JSON -----------------------------------------------------------------


@pytest.mark.parametrize("document", [
    "[" * NESTING + "]" * NESTING,
    '{"a":' * NESTING + "1" + "}" * NESTING,
])
async def test_deeply_nested_json_is_a_syntax_error_even_before_signing_in(
    client: Client, scene: Scene, document: str
) -> None:
    before = await written(client)
    headers = {"Content-Type": "application/json"}

    for path in ("/api/accounts", "/api/session"):
        await refused(await client.post(path, data=document, headers=headers), 400,
                      "invalid_input")
    signed_in = await send(scene.robin, "POST", "/api/polycules", headers, data=document)
    await refused(signed_in, 400, "invalid_input")
    proposal = await send(scene.robin, "POST", f"{scene.polycule}/proposals", headers,
                          data=document)
    await refused(proposal, 400, "invalid_input")
    assert await written(client) == before


# --- Malformed forms --------------------------------------------------------------------

MALFORMED_FORMS: dict[str, tuple[str, bytes]] = {
    "multipart without a boundary": ("multipart/form-data", b"name=Pancakes"),
    "multipart without a boundary or a body": ("multipart/form-data", b""),
    "multipart without its boundary in the body": (
        "multipart/form-data; boundary=xyz", b"name=Pancakes"),
    "multipart cut off in a part": (
        "multipart/form-data; boundary=xyz",
        b'--xyz\r\nContent-Disposition: form-data; name="name"\r\n\r\nPanc'),
    "multipart part without a name": (
        "multipart/form-data; boundary=xyz",
        b"--xyz\r\nContent-Disposition: form-data\r\n\r\nPancakes\r\n--xyz--\r\n"),
    "multipart part in an unknown transfer encoding": (
        "multipart/form-data; boundary=xyz",
        b'--xyz\r\nContent-Disposition: form-data; name="name"\r\n'
        b"Content-Transfer-Encoding: rot13\r\n\r\nPancakes\r\n--xyz--\r\n"),
    "multipart part of invalid UTF-8": (
        "multipart/form-data; boundary=xyz",
        b'--xyz\r\nContent-Disposition: form-data; name="name"\r\n\r\n\xff\xfe\r\n--xyz--\r\n'),
    "url-encoded of invalid UTF-8": (
        "application/x-www-form-urlencoded", b"name=Pan\xffcakes"),
    "url-encoded in an unknown charset": (
        "application/x-www-form-urlencoded; charset=klingon", b"name=Pancakes"),
}


async def test_a_malformed_form_is_refused_on_every_post_route(
    client: Client, scene: Scene
) -> None:
    post_routes = sorted(path for method, path in ROUTE_RULES if method == "POST"
                         and not path.startswith("/test/"))
    before = await written(client)

    for path in post_routes:
        for what, (content_type, body) in MALFORMED_FORMS.items():
            # As a signed-in browser (its CSRF token in the header) and as anyone at all.
            for response in (
                await send(scene.robin, "POST", scene.path(path),
                           {"Content-Type": content_type}, data=body),
                await client.post(scene.path(path), data=body,
                                  headers={"Content-Type": content_type}),
            ):
                assert response.status == 400, (path, what, await response.text())
                assert error_of(await response.json())["code"] == "malformed_form", (path, what)
    assert await written(client) == before


# --- Control characters -----------------------------------------------------------------


async def test_control_characters_are_refused_in_every_text_naming_the_field(
    client: Client, scene: Scene
) -> None:
    before = await written(client)
    robin = scene.robin

    sign_up = await client.post("/api/accounts", json={
        "handle": "nul", "display_name": "Nul\x00", "password": "correct horse battery staple",
    })
    assert fields_named(await refused(sign_up, 422, "validation_failed")) == {"display_name"}
    sign_in = await client.post("/api/session", json={
        "handle": "rob\x00in", "password": "correct horse battery staple",
    })
    assert fields_named(await refused(sign_in, 422, "validation_failed")) == {"handle"}
    endpoint = await robin.request("POST", "/api/webhooks/endpoints", json={
        "url": "https://hooks.invalid/robin", "description": "mine\x00",
    })
    assert fields_named(await refused(endpoint, 422)) == {"description"}
    # Sealed texts too: they are refused alike, whatever would have kept them.
    named = await robin.request("POST", "/api/polycules", json={"name": "Pan\x1bcakes"})
    assert fields_named(await refused(named, 422)) == {"name"}
    disclosure = await robin.request("POST", f"{scene.polycule}/disclosures", json={
        "kind": "new_connection", "text": "Someone\x07new", "audience": "polycule",
    })
    assert fields_named(await refused(disclosure, 422)) == {"text"}
    nested = await robin.request("POST", f"{scene.polycule}/proposals", json={
        "kind": "create", "title": "Tell", "terms": "We tell.",
        "definitions": [{"word": "tell", "meaning": "a call\x7f"}],
        "parties": [str(robin.account_id)],
    })
    assert fields_named(await refused(nested, 422)) == {"meaning"}
    # A form's value, encoded or not, is refused alike.
    form = await send(robin, "POST", "/api/polycules", {"Accept": "application/json"},
                      data={"name": "Pan\x00cakes"})
    assert form.status == 422
    answered = await form.json()
    # The page's script is told the same refusal, and beside it what to say to the person.
    assert set(answered) == {"error", "plain"}
    assert fields_named(error_of({"error": answered["error"]})) == {"name"}
    assert set(answered["plain"]["fields"]) == {"name"}
    query = await robin.request("GET", f"{scene.polycule}/agreements",
                                params={"as_of": "2030-01-01T00:00:00\x00Z"})
    assert fields_named(await refused(query, 422)) == {"as_of"}
    assert await written(client) == before


async def test_tabs_and_line_breaks_are_text_not_control(client: Client, scene: Scene) -> None:
    terms = "We tell each other first.\r\n\tOn the phone, not by text.\n"

    proposed = await scene.robin.json("POST", f"{scene.polycule}/proposals", 201, json={
        "kind": "create", "title": "Tell first", "terms": terms,
        "parties": [str(scene.robin.account_id)], "binds_only_me": True,
    })

    assert proposed["text"]["terms"] == terms.strip()


# --- Numbers beyond what the database stores ---------------------------------------------


@pytest.mark.parametrize(("path", "field"), [
    ("/events?after=9223372036854775808", "after"),
    ("/events?after=99999999999999999999999999", "after"),
    ("/agreements/{agreement_id}/diff?from=99999999999999999999&to=1", "from"),
    # Versions are kept as PostgreSQL integers.
    ("/agreements/{agreement_id}/diff?from=1&to=2147483648", "to"),
])
async def test_a_number_beyond_the_database_is_refused_naming_it(
    client: Client, scene: Scene, path: str, field: str
) -> None:
    response = await scene.robin.request("GET", scene.path(scene.polycule + path))

    assert fields_named(await refused(response, 422, "validation_failed")) == {field}


@pytest.mark.parametrize("occurrence", ["99999999999999999999", "2147483648", "-1", "1_0"])
async def test_an_occurrence_beyond_any_is_not_found(
    client: Client, scene: Scene, occurrence: str
) -> None:
    before = await written(client)
    path = scene.path(f"{scene.polycule}/breaches/{{breach_id}}/repair/commitments/"
                      f"{{commitment_id}}/occurrences/{occurrence}")

    response = await scene.robin.request("POST", path, json={"mark": "kept"})

    await refused(response, 404, "not_found")
    assert await written(client) == before


@pytest.mark.parametrize("message_id", ["msg_%00", "msg_" + "f" * 31 + "%C2%85", "x" * 300])
async def test_a_message_id_that_cannot_be_one_names_no_message(
    client: Client, scene: Scene, message_id: str
) -> None:
    path = scene.path(f"/api/webhooks/endpoints/{{endpoint_id}}/messages/{message_id}/send-again")

    response = await scene.robin.request("POST", path, json={})

    await refused(response, 404, "not_found")


# --- between ----------------------------------------------------------------------------


@pytest.mark.parametrize("query", [
    {"between": "not-an-id"},
    {"between": "not-an-id", "as_of": "2030-01-01T00:00:00Z"},
    {"between": f"{uuid.uuid4()},,x", "as_of": "2030-01-01T00:00:00Z"},
])
async def test_a_malformed_between_is_refused_naming_it(
    client: Client, scene: Scene, query: dict[str, str]
) -> None:
    response = await scene.robin.request("GET", f"{scene.polycule}/agreements", params=query)

    assert fields_named(await refused(response, 422, "validation_failed")) == {"between"}


async def test_between_without_as_of_names_the_agreements_in_force_now_binding_them(
    client: Client, scene: Scene
) -> None:
    agreements = f"{scene.polycule}/agreements"
    both = f"{scene.robin.account_id},{scene.sam.account_id}"

    binding_both = await scene.robin.json("GET", agreements, params={"between": both})
    binding_a_stranger = await scene.robin.json(
        "GET", agreements, params={"between": str(uuid.uuid4())}
    )

    assert [a["agreement_id"] for a in binding_both] == [scene.ids["agreement_id"]]
    assert binding_a_stranger == []


# --- Bodies that are not JSON -----------------------------------------------------------


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/xml", "application/octet-stream", "text/json",
])
async def test_a_body_that_is_not_json_is_refused_as_unsupported(
    client: Client, scene: Scene, content_type: str
) -> None:
    before = await written(client)
    body = b'{"name": "Pancakes"}'

    for method, path in (("POST", "/api/polycules"), ("POST", f"{scene.polycule}/leave"),
                         ("POST", "/api/accounts"), ("DELETE", "/api/session")):
        response = await send(scene.robin, method, path, {"Content-Type": content_type},
                              data=body)
        await refused(response, 415, "unsupported_media_type")
    assert await written(client) == before


async def test_json_is_read_as_utf8_whatever_charset_it_claims(
    client: Client, scene: Scene
) -> None:
    claimed = await send(scene.robin, "POST", "/api/polycules",
                         {"Content-Type": "application/json; charset=klingon"},
                         data=b'{"name": "Pancakes"}')
    assert claimed.status == 201, await claimed.text()
    before = await written(client)

    json_type = {"Content-Type": "application/json"}
    latin1 = await send(scene.robin, "POST", "/api/polycules", json_type,
                        data='{"name": "Crêpes"}'.encode("latin-1"))
    surrogate = await send(scene.robin, "POST", "/api/polycules", json_type,
                           data=b'{"name": "\\ud800"}')

    await refused(latin1, 400, "invalid_input")
    await refused(surrogate, 400, "invalid_input")
    assert await written(client) == before
