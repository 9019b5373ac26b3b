"""The polycule's record in the web client (its entries, whether it verifies, the export a
member downloads) and the inbox of what awaits a member across polycules."""

from __future__ import annotations

import re
import uuid
from typing import Any

import asyncpg
import orjson

from tests.http.people import Person, person
from tests.http.polycules import polycule_of
from tests.http.support import Client
from tests.http.web import page, text_of
from tests.support import tamper

SECRET = "I have started seeing someone from work."


async def tell(discloser: Person, polycule_id: str, *told: Person) -> dict[str, Any]:
    disclosure: dict[str, Any] = await discloser.json(
        "POST", f"/api/polycules/{polycule_id}/disclosures", 201, json={
            "kind": "new_connection", "text": SECRET,
            "recipients": [str(member.account_id) for member in told],
        },
    )
    return disclosure


async def propose(proposer: Person, polycule_id: str, title: str, *others: Person) -> str:
    proposal = await proposer.json("POST", f"/api/polycules/{polycule_id}/proposals", 201, json={
        "kind": "create", "title": title, "terms": "Tea together on Sundays.",
        "parties": [str(member.account_id) for member in (proposer, *others)],
    })
    return str(proposal["proposal_id"])


def rows_of(html: str) -> list[str]:
    """The words of each entry of the record's table, in the order shown."""
    return [text_of(row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S)[1:]]


async def test_the_record_lists_its_entries_and_says_it_is_intact_until_altered(
    client: Client, pool: asyncpg.Pool
) -> None:
    async with person(client, "ash") as ash, person(client, "bob") as bo, \
            person(client, "cyd") as cy:
        polycule = await polycule_of(ash, bo, cy)
        await tell(ash, polycule, bo)
        record = f"/polycules/{polycule}/audit"

        seen_by_cyd = await page(cy, record)
        # Founded, then Bob and Cyd each invited and joined, then Ash's disclosure to Bob.
        assert "The record is intact. All 7 entries verify." in text_of(seen_by_cyd)
        rows = rows_of(seen_by_cyd)
        assert [row.split()[0] for row in rows] == ["1", "2", "3", "4", "5", "6", "7"]
        assert "Ash founded the polycule" in rows[0]
        assert "Bob joined" in rows[3]
        assert "You joined" in rows[5]
        # The disclosure Cyd was not told: a time and a hash, nothing more.
        assert "Something only some members can read" in rows[6]
        assert "Disclosure" not in rows[6] and "connection" not in seen_by_cyd
        assert SECRET not in seen_by_cyd
        assert "You told something: what was told" in rows_of(await page(ash, record))[6]
        assert f'href="/api/polycules/{polycule}/audit-export"' in seen_by_cyd
        later = await page(cy, f"{record}?after=1")
        assert [row.split()[0] for row in rows_of(later)] == ["2", "3", "4", "5", "6", "7"]
        assert f'href="{record}?before=2"' in later

        # As only the owner could: the service's own role may not (docs/operations.md).
        await tamper(
            pool,
            "UPDATE events SET metadata = metadata || '{\"actor\": \"someone else\"}' "
            "WHERE stream_id = $1 AND stream_version = 3",
            uuid.UUID(polycule),
        )
        altered = text_of(await page(cy, record))
        assert "The record is intact" not in altered
        assert "Entry 3 does not verify" in altered


async def test_the_export_downloads_every_entry_as_the_member_may_see_it(
    client: Client,
) -> None:
    async with person(client, "ash") as ash, person(client, "bob") as bo, \
            person(client, "cyd") as cy:
        polycule = await polycule_of(ash, bo, cy)
        told = await tell(ash, polycule, bo)
        # Proposed, with the proposer's own consent: two more entries, both readable.
        await propose(ash, polycule, "Sundays", bo, cy)

        response = await cy.request("GET", f"/api/polycules/{polycule}/audit-export")

        assert response.status == 200
        assert response.content_type == "application/x-ndjson"
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment; filename=")
        # Sent as it is read from the store, never built whole first.
        assert response.headers["Transfer-Encoding"] == "chunked"
        assert response.headers["Cache-Control"] == "no-store"
        body = await response.read()
        header, *lines, trailer = [orjson.loads(line) for line in body.splitlines()]
        events = await cy.json("GET", f"/api/polycules/{polycule}/events?limit=1000")
        assert lines == events["events"]
        assert header["stream_id"] == polycule
        assert trailer["checkpoint"]["tree_size"] == 9
        assert [line["stream_version"] for line in lines] == list(range(1, 10))
        opaque = lines[6]
        assert opaque["readable"] is False and opaque["event_type"] is None
        assert SECRET.encode() not in body
        assert told["disclosure_id"].encode() not in body
        assert b"new_connection" not in body
        # Bob was told: his copy has it in full.
        theirs = await bo.request("GET", f"/api/polycules/{polycule}/audit-export")
        assert SECRET.encode() in await theirs.read()


async def test_the_inbox_links_to_what_awaits_me_and_not_to_what_i_answered(
    client: Client,
) -> None:
    async with person(client, "ash") as ash, person(client, "bob") as bo:
        polycule = await polycule_of(ash, bo, name="The Orchard")
        answered = await propose(ash, polycule, "Sunday tea", bo)
        waiting = await propose(ash, polycule, "Monday walks", bo)
        await bo.json("POST", f"/api/polycules/{polycule}/proposals/{answered}/consent",
                      json={"revision": 1})

        inbox = await page(bo, "/inbox")

        assert f'href="/polycules/{polycule}/proposals/{waiting}"' in inbox
        assert f"/proposals/{answered}" not in inbox
        words = text_of(inbox)
        assert "Proposals to answer" in words
        assert "The Orchard Monday walks" in words and "Sunday tea" not in words
        assert 'data-live="/api/me/live"' in inbox
        assert re.search(r'<div data-live-region id="inbox-region">', inbox)
        # Ash awaits nothing: the proposals are Ash's own.
        assert "Nothing is waiting for you right now" in text_of(await page(ash, "/inbox"))
