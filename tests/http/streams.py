"""Live streams read the way a page's EventSource reads them: message by message."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.http.people import Person


@dataclass(frozen=True)
class Message:
    """One block of the stream, up to its blank line: its fields (the last value of each)
    and whether it held a comment (a keep-alive)."""

    fields: dict[str, str]
    comment: bool

    @property
    def is_change(self) -> bool:
        return self.fields.get("event") == "change"

    @property
    def types(self) -> list[str]:
        types: list[str] = json.loads(self.fields["data"])["types"]
        return types


async def open_stream(
    someone: Person, path: str, *, last_event_id: str | None = None
) -> aiohttp.ClientResponse:
    """The stream, opened as ``someone``; ``last_event_id`` as a reconnecting browser."""
    headers = {} if last_event_id is None else {"Last-Event-ID": last_event_id}
    response = await someone.session.get(someone.client.make_url(path), headers=headers)
    assert response.status == 200, await response.text()
    assert response.content_type == "text/event-stream"
    return response


async def next_message(stream: aiohttp.ClientResponse, within: float = 5.0) -> Message | None:
    """The stream's next block; None if the stream ended."""
    fields: dict[str, str] = {}
    comment = False
    async with asyncio.timeout(within):
        while True:
            line = (await stream.content.readline()).decode()
            if not line:
                return None
            line = line.rstrip("\n")
            if not line:
                if fields or comment:
                    return Message(fields, comment)
                continue
            if line.startswith(":"):
                comment = True
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


async def opening_id(stream: aiohttp.ClientResponse) -> str:
    """Where the stream says it starts: the id of its first block (retry and id, no data)."""
    opening = await next_message(stream)
    assert opening is not None and "retry" in opening.fields, opening
    assert "data" not in opening.fields
    return opening.fields["id"]


async def ended(stream: aiohttp.ClientResponse, within: float = 5.0) -> bool:
    """Whether the stream ends within ``within`` seconds, telling no change first (its
    opening and keep-alives may come before the end)."""
    async with asyncio.timeout(within):
        while True:
            message = await next_message(stream, within)
            if message is None:
                return True
            assert not message.is_change, message


async def next_change_message(
    stream: aiohttp.ClientResponse, within: float = 5.0
) -> Message | None:
    """The stream's next change message (past its opening and keep-alives); None if the
    stream ended."""
    async with asyncio.timeout(within):
        while True:
            message = await next_message(stream, within)
            if message is None or message.is_change:
                return message


async def next_change(stream: aiohttp.ClientResponse, within: float = 5.0) -> list[str] | None:
    """The event types of the stream's next change message; None if the stream ended."""
    message = await next_change_message(stream, within)
    return None if message is None else message.types


async def anything_within(stream: aiohttp.ClientResponse, seconds: float) -> Message | None:
    """Whatever the stream sends next (past its opening), or None if quiet that long."""
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = await next_message(stream, seconds)
                if message is None or "retry" not in message.fields:
                    return message
    except TimeoutError:
        return None


async def disclose(by: Person, polycule_id: str, to: Person) -> Any:
    return await by.json("POST", f"/api/polycules/{polycule_id}/disclosures", 201, json={
        "kind": "feelings", "text": "I have feelings for someone new.",
        "recipients": [str(to.account_id)],
    })


async def propose(by: Person, polycule_id: str, *parties: Person) -> Any:
    return await by.json("POST", f"/api/polycules/{polycule_id}/proposals", 201, json={
        "kind": "create", "title": "Sundays", "terms": "Pancakes together.",
        "parties": [str(party.account_id) for party in (by, *parties)],
        # An agreement with oneself alone must say so (it is in force at once).
        "binds_only_me": not parties,
    })
