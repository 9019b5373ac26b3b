"""PostgreSQL stops under load, then comes back: an outage, not a bug.

A PostgreSQL of this test's own (never the server the rest of the suite shares) is
stopped while members keep reading and writing. Every answer meanwhile is 503 with
Retry-After in the JSON error shape, /readyz says not ready, /healthz stays alive, the
outage is logged once (not once per request), and writes succeed again once PostgreSQL is
back — without restarting the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pgserver
import psutil
import pytest
import structlog
from aiohttp import web
from pgserver import _commands as postgres_commands
from pytest_aiohttp import AiohttpClient

from ledger.app import create_app
from ledger.auth.tokens import TOKEN_PREFIX
from ledger.config import Settings
from ledger.http.account_routes import AUTH_POLICY
from tests.http.accounts_support import TEST_POLICY
from tests.http.people import Person, person
from tests.http.support import Client, error_of

# Generous: only a machine far slower than any we run on would need as long.
PATIENCE_SECONDS = 90


class DisposablePostgres:
    """A PostgreSQL in a temporary directory, which a test may stop (as abruptly as a
    crash) and start again on the same data and socket."""

    def __init__(self, directory: Path) -> None:
        self._server = pgserver.get_server(directory, cleanup_mode="delete")
        self._data = directory
        info = self._server.get_postmaster_info()
        self.url = str(self._server.get_uri())
        self._socket_dir = str(info.socket_dir)
        self.running = True

    def _pg_ctl(self, *arguments: str) -> None:
        postgres_commands.pg_ctl(
            list(arguments), pgdata=self._data, user=self._server.system_user, timeout=60
        )

    async def stop(self) -> None:
        # Immediate: no checkpoint, connections cut, as if the server had died.
        await asyncio.to_thread(self._pg_ctl, "-w", "-m", "immediate", "stop")
        self.running = False

    async def start(self) -> None:
        await asyncio.to_thread(
            self._pg_ctl, "-w", "-o", '-h ""', "-o", f"-k {self._socket_dir}",
            "-l", str(self._data / "log"), "start",
        )
        self.running = True

    def remove(self) -> None:
        if self.running:
            self._pg_ctl("-w", "-m", "fast", "stop")
        # The server this test started again has stopped already; cleaning up may still
        # find the first server's last process on its way out, and find it gone when it
        # sends the signal. The directory goes with the fixture's temporary directory.
        with contextlib.suppress(ProcessLookupError, psutil.NoSuchProcess):
            self._server.cleanup()


@pytest.fixture
def own_postgres() -> Iterator[DisposablePostgres]:
    # A directory of its own, not pytest's tmp_path: other sessions of the same user
    # clear old pytest directories, which a server's data must not be in.
    with tempfile.TemporaryDirectory(prefix="ledger-outage-pg-") as directory:
        server = DisposablePostgres(Path(directory) / "pg")
        yield server
        server.remove()


@pytest.fixture
def outage_app(settings: Settings, own_postgres: DisposablePostgres) -> web.Application:
    app = create_app(settings, own_postgres.url)
    app[AUTH_POLICY] = TEST_POLICY
    return app


@dataclass
class Load:
    """Members reading and writing without pause; every answer kept."""

    answers: list[tuple[str, int, dict[str, str], Any]] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    answered: asyncio.Event = field(default_factory=asyncio.Event)

    async def keep_going(self, member: Person, kind: str) -> None:
        names = itertools.count()
        while not self.stopping.is_set():
            if kind == "write":
                response = await member.request(
                    "POST", "/api/polycules", json={"name": f"Load {next(names)}"}
                )
            else:
                response = await member.request("GET", "/api/polycules")
            body = await response.json() if response.content_type == "application/json" else None
            self.answers.append((kind, response.status, dict(response.headers), body))
            self.answered.set()
            await asyncio.sleep(0.01)

    def seen(self, kind: str, status: int, since: int = 0) -> bool:
        return any(a[0] == kind and a[1] == status for a in self.answers[since:])

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait, answer by answer, until ``condition`` holds (a generous bound)."""
        async with asyncio.timeout(PATIENCE_SECONDS):
            while not condition():
                self.answered.clear()
                await self.answered.wait()


@pytest.fixture
async def outage_client(
    outage_app: web.Application, aiohttp_client: AiohttpClient
) -> AsyncIterator[Client]:
    yield await aiohttp_client(outage_app)


async def test_postgresql_stopping_under_load_is_answered_503_and_healed_without_a_restart(
    outage_client: Client, own_postgres: DisposablePostgres
) -> None:
    client = outage_client
    load = Load()
    with structlog.testing.capture_logs() as logged:
        async with person(client) as writer, person(client) as reader:
            workers = [
                asyncio.create_task(load.keep_going(writer, "write")),
                asyncio.create_task(load.keep_going(writer, "write")),
                asyncio.create_task(load.keep_going(reader, "read")),
                asyncio.create_task(load.keep_going(reader, "read")),
            ]
            try:
                await load.until(lambda: load.seen("write", 201))

                await own_postgres.stop()
                stopped_at = len(load.answers)
                await load.until(lambda: load.seen("write", 503, stopped_at)
                             and load.seen("read", 503, stopped_at))
                ready = await client.get("/readyz")
                alive = await client.get("/healthz")
                # A probe that carries a credential is not a request to look it up.
                alive_with_token = await client.get(
                    "/healthz", headers={"Authorization": f"Bearer {TOKEN_PREFIX}never-looked-up"}
                )
                alive_with_cookie = await writer.session.get(client.make_url("/healthz"))
                page = await writer.session.get(client.make_url("/"))
                await asyncio.sleep(0.5)  # the outage goes on a while, under load

                await own_postgres.start()
                started_at = len(load.answers)
                await load.until(lambda: load.seen("write", 201, started_at))
            finally:
                load.stopping.set()
                await asyncio.gather(*workers)

    assert ready.status == 503
    assert error_of(await ready.json())["code"] == "not_ready"
    assert alive.status == alive_with_token.status == alive_with_cookie.status == 200
    # A person in a browser is told the same, on a page.
    assert page.status == 503 and int(page.headers["Retry-After"]) >= 1
    assert page.content_type == "text/html"
    # Nothing but successes and 503s, before, during and after.
    assert {status for _, status, _, _ in load.answers} <= {200, 201, 503}
    unavailable = [answer for answer in load.answers if answer[1] == 503]
    for _, _, headers, body in unavailable:
        assert int(headers["Retry-After"]) >= 1
        assert error_of(body)["code"] == "database_unavailable"
    events = [line["event"] for line in logged]
    assert "unhandled_error" not in events
    # Once for the outage, and once for its end: not once per refused request. A server on
    # its way down may still let one connection in (an attempt it accepted before it
    # stopped): the service then sees the database answer, and the outage go on after.
    assert len(unavailable) > 2
    outage_lines = [
        event for event in events
        if event in ("database_unavailable", "database_available_again")
    ]
    assert outage_lines in (
        ["database_unavailable", "database_available_again"],
        ["database_unavailable", "database_available_again"] * 2,
    ), [line for line in logged if line["log_level"] in ("warning", "error")]

