"""Roles, as a fleet runs them: ``python -m ledger serve --role web`` and ``--role worker``
started as real processes over one database, with a webhook receiver on loopback.

A command sent to the web instance is answered there; its webhook is fanned out and
delivered by the worker. The web instance alone delivers nothing, and the worker serves
nothing but its probes.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from standardwebhooks import Webhook
from yarl import URL

from ledger.privacy import MasterKey
from ledger.transparency.signing import new_private_key_text
from tests.http.people import person
from tests.http.polycules import polycule_of

REPOSITORY = Path(__file__).resolve().parents[2]
# Both instances look for work this often when nothing wakes them.
POLL_SECONDS = 0.05
STARTING_SECONDS = 60.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Instance:
    """One ``python -m ledger serve`` process; what ``people.Person`` needs of a client."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.base = URL(f"http://127.0.0.1:{port}")

    def make_url(self, path: str) -> URL:
        return self.base.join(URL(path))


@pytest.fixture
def environment(database_url: str, service_database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": service_database_url,
        "LEDGER_DATABASE_OWNER_URL": database_url,
        "LEDGER_MASTER_KEY": MasterKey.generate().to_base64(),
        "LEDGER_CHECKPOINT_KEY": new_private_key_text(),
        "LEDGER_WEBHOOKS_ALLOW_PRIVATE": "true",  # the receiver is on loopback
        "LEDGER_WEBHOOKS_ALLOW_HTTP": "true",
        "LEDGER_PROJECTION_POLL_SECONDS": str(POLL_SECONDS),
        "LEDGER_POOL_MIN_SIZE": "1",
        "LEDGER_POOL_MAX_SIZE": "4",
        "LEDGER_LOG_LEVEL": "warning",
    }


@contextmanager
def _serving(role: str, environment: dict[str, str]) -> Iterator[Instance]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ledger", "serve", "--role", role, "--port", str(port)],
        cwd=REPOSITORY, env=environment, stdout=subprocess.DEVNULL,
    )
    try:
        yield Instance(process, port)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@asynccontextmanager
async def serving(role: str, environment: dict[str, str]) -> AsyncIterator[Instance]:
    """The instance, once its /readyz says ready."""
    with _serving(role, environment) as instance:
        async with aiohttp.ClientSession() as session:
            async with asyncio.timeout(STARTING_SECONDS):
                while True:
                    assert instance.process.poll() is None, f"the {role} instance exited"
                    try:
                        async with session.get(instance.make_url("/readyz")) as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientConnectionError:
                        pass  # not listening yet
                    await asyncio.sleep(0.1)
        yield instance
        # Stopped as an orchestrator stops it: SIGTERM, then a clean exit.
        instance.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(instance.process.wait, 30) == 0


class Receiver:
    """A webhook receiver on loopback answering 204, noting what arrived."""

    def __init__(self) -> None:
        self.url = ""
        self.arrived: list[tuple[dict[str, str], bytes]] = []
        self.something_arrived = asyncio.Event()

    async def receive(self, request: web.Request) -> web.Response:
        self.arrived.append((dict(request.headers), await request.read()))
        self.something_arrived.set()
        return web.Response(status=204)


@asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()


async def test_a_command_answered_by_the_web_instance_is_delivered_by_the_worker(
    environment: dict[str, str], pool: asyncpg.Pool
) -> None:
    async with receiving() as receiver, serving("web", environment) as web_one:
        async with person(web_one) as ash, person(web_one) as bo:  # type: ignore[arg-type]
            hook = await ash.json(
                "POST", "/api/webhooks/endpoints", 201, json={"url": receiver.url}
            )
            # Bo founds it and lets Ash in; Ash is told of the proposal Bo makes there.
            polycule_id = await polycule_of(bo, ash)
            await bo.json("POST", f"/api/polycules/{polycule_id}/proposals", 201, json={
                "kind": "create", "title": "Sundays", "terms": "Sunday mornings are ours.",
                "category": "time", "parties": [str(bo.account_id), str(ash.account_id)],
            })

            # The web instance alone: many of its polls' worth of time pass, and nothing
            # is fanned out or delivered.
            await asyncio.sleep(40 * POLL_SECONDS)
            assert receiver.arrived == []
            assert await pool.fetchval("SELECT count(*) FROM webhook_messages") == 0

            async with serving("worker", environment) as worker:
                async with aiohttp.ClientSession() as session:
                    for path, status in (
                        ("/healthz", 200), ("/readyz", 200), ("/api/polycules", 404),
                        ("/", 404), ("/api/openapi.json", 404),
                    ):
                        async with session.get(worker.make_url(path)) as response:
                            assert response.status == status, path
                async with asyncio.timeout(STARTING_SECONDS):
                    await receiver.something_arrived.wait()

            [(headers, body)] = receiver.arrived
            assert json.loads(body)["type"] == "proposal.awaiting_consent"
            # Signed as Standard Webhooks asks, with the endpoint's own secret.
            Webhook(hook["secret"]).verify(body, headers)
            assert await pool.fetchval(
                "SELECT status FROM webhook_messages WHERE message_id = $1",
                headers["webhook-id"],
            ) == "succeeded"
