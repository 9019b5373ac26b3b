"""People using the API in tests: each with an account and a cookie jar of their own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from tests.http.support import Client

PASSWORD = "correct horse battery staple"


class Person:
    """Signs up, signs in, and sends requests the way a browser would (cookie + CSRF)."""

    def __init__(self, client: Client, session: aiohttp.ClientSession, handle: str) -> None:
        self.client = client
        self.session = session
        self.handle = handle
        self.display_name = handle.capitalize()
        self.account_id: uuid.UUID | None = None
        self.csrf_token = ""

    async def sign_up_and_in(self) -> Person:
        created = await self.request("POST", "/api/accounts", json={
            "handle": self.handle, "display_name": self.display_name, "password": PASSWORD,
        })
        assert created.status == 201, await created.text()
        self.account_id = uuid.UUID((await created.json())["id"])
        await self.sign_in()
        return self

    async def sign_in(self) -> None:
        # Sends the current CSRF token too: a browser still signed in must show it.
        signed_in = await self.request("POST", "/api/session", json={
            "handle": self.handle, "password": PASSWORD,
        })
        assert signed_in.status == 200, await signed_in.text()
        self.csrf_token = (await signed_in.json())["csrf_token"]

    async def request(self, method: str, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        headers = {"X-CSRF-Token": self.csrf_token} if self.csrf_token else {}
        return await self.session.request(
            method, self.client.make_url(path), headers=headers, **kwargs
        )

    async def json(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = await self.request(method, path, **kwargs)
        assert response.status == status, (response.status, await response.text())
        return await response.json()


@asynccontextmanager
async def person(client: Client, handle: str | None = None) -> AsyncIterator[Person]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        someone = Person(client, session, handle or f"p{uuid.uuid4().hex[:10]}")
        yield await someone.sign_up_and_in()


@asynccontextmanager
async def another_device(someone: Person) -> AsyncIterator[Person]:
    """``someone`` signed in a second time, with a session (and cookie jar) of its own."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        device = Person(someone.client, session, someone.handle)
        device.account_id = someone.account_id
        await device.sign_in()
        yield device
