"""What the fleet's clients do: people over HTTP, a steady write load whose every command
carries an Idempotency-Key and is sent again until it is answered, live streams that
reconnect with Last-Event-ID, and a webhook receiver on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from tests.http.people import Person
from tests.http.streams import next_message

# A client's patience with one request: far longer than any answer takes, shorter than a
# test (a request sent to an instance as it is killed may otherwise wait for ever).
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=5)


@dataclass(frozen=True)
class Site:
    """Where the clients send requests: a load balancer, or one instance."""

    base: str

    def make_url(self, path: str) -> URL:
        return URL(self.base + path)


@asynccontextmanager
async def signed_up(site: Site, handle: str) -> AsyncIterator[Person]:
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=REQUEST_TIMEOUT
    ) as session:
        someone = Person(site, session, f"{handle}{uuid.uuid4().hex[:6]}")  # type: ignore[arg-type]
        yield await someone.sign_up_and_in()


@dataclass
class Answer:
    """One attempt of a command: when, its status (0: no answer, the connection failed),
    and the Retry-After of a 503."""

    at: float
    status: int
    retry_after: str | None = None


@dataclass
class Command:
    key: str
    attempts: list[Answer] = field(default_factory=list)
    result: dict[str, Any] | None = None  # the body of the answer that acknowledged it
    # Sent once more after it was acknowledged, as by a client that missed the answer:
    # what that answer said.
    repeated: dict[str, Any] | None = None


@dataclass
class WriteLoad:
    """Members disclosing to a witness in their polycule without pause, each command under
    an Idempotency-Key, sent again (same key, same body) until it is acknowledged — what a
    well-behaved client does when an instance or the database goes away under it."""

    polycule_id: str
    witness: Person
    commands: list[Command] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    pause: float = 0.02
    # Every so many commands, one is sent again once it is acknowledged.
    repeat_every: int = 5

    async def keep_writing(self, member: Person) -> None:
        path = f"/api/polycules/{self.polycule_id}/disclosures"
        for n in itertools.count():
            if self.stopping.is_set():
                return
            command = Command(key=str(uuid.uuid4()))
            self.commands.append(command)
            body = {
                "kind": "feelings", "text": f"Note {n} from {member.handle}.",
                "recipients": [str(self.witness.account_id)],
            }
            command.result = await self._until_answered(member, path, body, command)
            if command.result is None:
                return
            if n % self.repeat_every == 0:
                command.repeated = await self._until_answered(member, path, body, command)
            await asyncio.sleep(self.pause)

    async def _until_answered(
        self, member: Person, path: str, body: dict[str, Any], command: Command
    ) -> dict[str, Any] | None:
        while True:
            status, retry_after, result = await self._send(member, path, body, command.key)
            command.attempts.append(Answer(time.monotonic(), status, retry_after))
            if status == 201:
                return result
            if status not in (0, 502, 503):
                # Anything else is a failure of the fleet: kept, and the load stops.
                self.stopping.set()
                return None
            await asyncio.sleep(0.2)

    @staticmethod
    async def _send(
        member: Person, path: str, body: dict[str, Any], key: str
    ) -> tuple[int, str | None, dict[str, Any] | None]:
        headers = {"Idempotency-Key": key}
        if member.csrf_token:
            headers["X-CSRF-Token"] = member.csrf_token
        try:
            async with member.session.post(
                member.client.make_url(path), json=body, headers=headers
            ) as response:
                result = await response.json() if response.status == 201 else None
                return response.status, response.headers.get("Retry-After"), result
        except (TimeoutError, aiohttp.ClientError):
            return 0, None, None

    @property
    def acknowledged(self) -> list[Command]:
        return [command for command in self.commands if command.result is not None]

    def answers(self) -> list[Answer]:
        return [answer for command in self.commands for answer in command.attempts]

    def acknowledged_since(self, moment: float) -> int:
        return sum(1 for a in self.answers() if a.status == 201 and a.at > moment)


@asynccontextmanager
async def running(load: WriteLoad, *members: Person) -> AsyncIterator[WriteLoad]:
    tasks = [asyncio.create_task(load.keep_writing(member)) for member in members]
    try:
        yield load
    finally:
        load.stopping.set()
        await asyncio.gather(*tasks)


@dataclass
class Change:
    id: int
    types: list[str]
    after: int  # the id the stream had reached before this change: heard from here on


@dataclass
class LiveFollower:
    """A page following a polycule's live stream: when the stream breaks (its instance
    killed), it reconnects with the last id it heard as Last-Event-ID, as EventSource does."""

    member: Person
    polycule_id: str
    changes: list[Change] = field(default_factory=list)
    # Each (re)connection: the Last-Event-ID sent and the id the stream said it opened at.
    openings: list[tuple[str | None, str]] = field(default_factory=list)
    # Which instance served each connection (as the load balancer names it), the last last.
    instances: list[str] = field(default_factory=list)
    reached: int = 0
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def follow(self) -> None:
        path = f"/api/polycules/{self.polycule_id}/live?after=0"
        last: str | None = None
        while not self.stopping.is_set():
            headers = {} if last is None else {"Last-Event-ID": last}
            try:
                async with self.member.session.get(
                    self.member.client.make_url(path), headers=headers,
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
                ) as stream:
                    if stream.status != 200:
                        await asyncio.sleep(0.2)
                        continue
                    self.instances.append(stream.headers.get("X-Ledger-Instance", ""))
                    while not self.stopping.is_set():
                        message = await next_message(stream, within=60)
                        if message is None:
                            break
                        if "retry" in message.fields:
                            self.openings.append((last, message.fields["id"]))
                            last = message.fields["id"]
                            self.reached = int(last)
                        elif message.is_change:
                            self.changes.append(
                                Change(int(message.fields["id"]), message.types, self.reached)
                            )
                            last = message.fields["id"]
                            self.reached = int(last)
            except (TimeoutError, aiohttp.ClientError):
                pass
            await asyncio.sleep(0.1)  # EventSource's retry, shortened


@asynccontextmanager
async def following(follower: LiveFollower) -> AsyncIterator[LiveFollower]:
    task = asyncio.create_task(follower.follow())
    try:
        yield follower
    finally:
        follower.stopping.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@dataclass
class Receiver:
    """A webhook endpoint on loopback: every message kept by its webhook-id."""

    received: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: int = 0
    url: str = ""

    async def _accept(self, request: web.Request) -> web.Response:
        self.deliveries += 1
        self.received.setdefault(request.headers["webhook-id"], await request.json())
        return web.Response(status=204)

    def disclosure_ids(self) -> set[str]:
        return {
            message["data"]["disclosure_id"] for message in self.received.values()
            if message["type"] == "disclosure.shared_with_you"
        }


@asynccontextmanager
async def receiving(port: int) -> AsyncIterator[Receiver]:
    receiver = Receiver(url=f"http://127.0.0.1:{port}/hooks")
    app = web.Application()
    app.router.add_post("/hooks", receiver._accept)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield receiver
    finally:
        await runner.cleanup()
