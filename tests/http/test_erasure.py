"""Erasing an account: sessions and tokens end, the member leaves every polycule, their
words read as erased everywhere, no plaintext of theirs is left in any table, and every
stream's hash chain still verifies."""

from __future__ import annotations

import asyncpg

from ledger.http.keys import POOL
from ledger.store.verify import verify
from tests.http.people import PASSWORD, person
from tests.http.support import Client, error_of

SAMS_NAME = "Samwise-b7e1c9"
ROBINS_NOTE = "Robin-note-4f2d8a: bring the good syrup"


async def tables_containing(pool: asyncpg.Pool, text: str) -> list[str]:
    """Every table (of this database's public schema) in which ``text`` appears anywhere."""
    tables = await pool.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    )
    found = []
    for row in tables:
        table = row["tablename"]
        hits = await pool.fetchval(
            f'SELECT count(*) FROM "{table}" AS t WHERE t::text LIKE $1', f"%{text}%"
        )
        if hits:
            found.append(table)
    return found


async def test_erasing_an_account_makes_their_words_unreadable_and_history_still_verifies(
    client: Client,
) -> None:
    pool = client.app[POOL]
    async with person(client, "robin") as robin, person(client, "samwise") as sam:
        polycule_id = (await robin.json("POST", "/api/polycules", 201,
                                        json={"name": "Pancakes"}))["id"]
        other_id = (await sam.json("POST", "/api/polycules", 201,
                                   json={"name": "Book club", "display_name": SAMS_NAME}))["id"]
        invitation = await robin.json("POST", f"/api/polycules/{polycule_id}/invitations", 201,
                                      json={"note": ROBINS_NOTE})
        await sam.json("POST", f"/api/invitations/{invitation['token']}/accept",
                       json={"display_name": SAMS_NAME})
        token = (await sam.json(
            "POST", "/api/tokens", 201, json={"name": "phone", "password": PASSWORD}
        ))["token"]
        assert await tables_containing(pool, SAMS_NAME) == []  # sealed from the start

        refused = await sam.request(
            "DELETE", "/api/account", json={"handle": "someone", "password": PASSWORD}
        )
        assert refused.status == 400
        assert error_of(await refused.json())["code"] == "invalid_input"

        erased = await sam.json(
            "DELETE", "/api/account", json={"handle": "samwise", "password": PASSWORD}
        )

        assert erased == {"erased": True, "polycules_left": 2}
        # Sessions and tokens are over.
        assert (await sam.request("GET", "/api/session")).status == 401
        by_token = await client.get("/api/session", headers={"Authorization": f"Bearer {token}"})
        assert by_token.status == 401
        # Robin sees Sam gone, and Sam's name as erased in the polycule's history.
        members = await robin.json("GET", f"/api/polycules/{polycule_id}/members?former=true")
        assert [(m["display_name"], m["current"]) for m in members] == [
            ("Robin", True), ("[erased]", False),
        ]
        # No table holds Sam's name in the clear any more (the account's copy is dropped);
        # Robin's note was sealed under Robin's key all along.
        assert await tables_containing(pool, "Samwise") == []
        assert await tables_containing(pool, ROBINS_NOTE) == []
        # The handle cannot be signed into, nor taken by someone else.
        again = await client.post("/api/session",
                                  json={"handle": "samwise", "password": "whatever-it-was"})
        assert again.status == 401
        assert other_id  # the book club Sam founded remains, with nobody left in it

        async with pool.acquire() as connection:
            report = await verify(connection)
        assert report.ok, [b.describe() for b in report.breaks]
        assert report.streams_checked == 2
