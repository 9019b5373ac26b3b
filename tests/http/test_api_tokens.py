"""Personal API tokens: shown once, kept hashed, listed, used as Bearer, revoked."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from tests.http.accounts_support import PASSWORD, query, script, signed_in
from tests.http.support import Client, error_of


async def make_token(client: Client, csrf_token: str, name: str = "phone") -> dict[str, str]:
    response = await client.post(
        "/api/tokens", json={"name": name, "password": PASSWORD},
        headers={"X-CSRF-Token": csrf_token},
    )
    assert response.status == 201, await response.text()
    made: dict[str, str] = await response.json()
    return made


async def test_a_token_is_shown_once_kept_hashed_and_listed_without_its_secret(
    client: Client, database_url: str
) -> None:
    csrf_token = await signed_in(client, "robin")

    made = await make_token(client, csrf_token, "  home assistant  ")

    assert set(made) == {"id", "name", "token", "created_at"}
    assert made["name"] == "home assistant"
    assert made["token"].startswith("pal_") and len(made["token"]) > 40
    listing = await client.get("/api/tokens")
    assert await listing.json() == {"tokens": [{
        "id": made["id"], "name": "home assistant",
        "created_at": made["created_at"], "last_used_at": None,
    }]}
    assert made["token"] not in await listing.text()
    [row] = await query(database_url, "SELECT t::text AS everything, token_hash FROM api_tokens t")
    assert bytes(row["token_hash"]) == hashlib.sha256(made["token"].encode()).digest()
    assert made["token"] not in row["everything"]


async def test_a_token_speaks_for_its_member_and_its_use_is_recorded(client: Client) -> None:
    csrf_token = await signed_in(client, "robin")
    made = await make_token(client, csrf_token)

    async with script(client, made["token"]) as bot:
        who = await bot.get("/api/session")

    assert who.status == 200
    body = await who.json()
    assert body["account"]["handle"] == "robin"
    assert body["csrf_token"] is None
    [listed] = (await (await client.get("/api/tokens")).json())["tokens"]
    assert listed["last_used_at"] is not None


async def test_the_last_use_is_written_at_most_once_a_minute(
    client: Client, database_url: str
) -> None:
    made = await make_token(client, await signed_in(client, "robin"))

    async def last_used() -> datetime | None:
        [row] = await query(database_url, "SELECT last_used_at FROM api_tokens")
        used: datetime | None = row["last_used_at"]
        return used

    async with script(client, made["token"]) as bot:
        await bot.get("/api/session")
        first = await last_used()
        await bot.get("/api/session")
        assert await last_used() == first  # a second use within the minute writes nothing
        await query(
            database_url, "UPDATE api_tokens SET last_used_at = now() - interval '2 minutes'"
        )
        await bot.get("/api/session")
        refreshed = await last_used()

    assert refreshed is not None and first is not None and refreshed >= first


async def test_a_revoked_token_opens_nothing(client: Client) -> None:
    made = await make_token(client, csrf_token := await signed_in(client, "robin"))

    revoked = await client.delete(
        f"/api/tokens/{made['id']}", headers={"X-CSRF-Token": csrf_token}
    )

    assert revoked.status == 204
    async with script(client, made["token"]) as bot:
        response = await bot.get("/api/session")
    assert response.status == 401
    assert (await (await client.get("/api/tokens")).json()) == {"tokens": []}
    again = await client.delete(f"/api/tokens/{made['id']}", headers={"X-CSRF-Token": csrf_token})
    assert again.status == 404


async def test_someone_elses_token_is_not_found_and_keeps_working(client: Client) -> None:
    robins = await make_token(client, await signed_in(client, "robin"))
    client.session.cookie_jar.clear()
    sams_csrf_token = await signed_in(client, "sam")

    response = await client.delete(
        f"/api/tokens/{robins['id']}", headers={"X-CSRF-Token": sams_csrf_token}
    )

    assert response.status == 404
    assert error_of(await response.json())["code"] == "not_found"
    async with script(client, robins["token"]) as bot:
        assert (await bot.get("/api/session")).status == 200


async def test_a_malformed_token_id_is_not_found(client: Client) -> None:
    csrf_token = await signed_in(client, "robin")

    for token_id in ("not-a-uuid", str(uuid.uuid4())):
        response = await client.delete(
            f"/api/tokens/{token_id}", headers={"X-CSRF-Token": csrf_token}
        )
        assert response.status == 404


async def test_a_token_cannot_make_more_tokens(client: Client, database_url: str) -> None:
    made = await make_token(client, await signed_in(client, "robin"))

    async with script(client, made["token"]) as bot:
        response = await bot.post(
            "/api/tokens", json={"name": "persistence", "password": PASSWORD}
        )

    assert response.status == 403
    assert error_of(await response.json())["code"] == "session_required"
    assert len(await query(database_url, "SELECT id FROM api_tokens")) == 1


async def test_a_bad_bearer_token_is_not_rescued_by_the_cookie(client: Client) -> None:
    await signed_in(client, "robin")

    for authorization in ("Bearer pal_not-a-real-token", "Bearer nonsense", "Basic cm9iaW4="):
        response = await client.get("/api/session", headers={"Authorization": authorization})
        assert response.status == 401


async def test_a_token_name_is_required_and_unknown_fields_are_refused(client: Client) -> None:
    csrf_token = await signed_in(client, "robin")

    for body, field in (
        ({"name": " ", "password": PASSWORD}, "name"),
        ({"name": "x", "password": PASSWORD, "scope": "all"}, "scope"),
        ({"name": "x"}, "password"),
    ):
        response = await client.post(
            "/api/tokens", json=body, headers={"X-CSRF-Token": csrf_token}
        )
        assert response.status == 422
        assert [p["loc"] for p in error_of(await response.json())["details"]["errors"]] == [
            [field]
        ]
