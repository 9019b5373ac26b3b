"""Killing the service between enqueue and delivery loses nothing.

The real service runs as a subprocess (``python -m ledger serve``) against this test's
database. Two members sign up over HTTP and register endpoints whose receiver is down,
then act, so that messages are enqueued (and their first attempts fail at once: the
connection is refused). The process is killed with SIGKILL — one last action was answered
just before, so its event may not even have been fanned out yet. The receiver comes up,
the service starts again, and every message is delivered: once per ``webhook-id``,
signed, marked succeeded, none lost and none enqueued twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import aiohttp
import asyncpg
from aiohttp import web
from standardwebhooks import Webhook
from yarl import URL

from ledger.privacy import MasterKey
from ledger.transparency.signing import new_private_key_text
from tests.http.people import Person, person
from tests.http.polycules import polycule_of
from tests.http.support import Client
from tests.integration.test_cli import PROJECT_ROOT, settings_url

# The whole test stays well under a minute: the first retry comes after 5 s (±20 %).
READY_WITHIN = 30.0
DELIVERED_WITHIN = 30.0
DISCLOSURE = "I got my test results back today; all clear."


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Receipt:
    label: str
    message_id: str
    headers: dict[str, str]
    body: str


class Receiver:
    """Accepts everything, and de-duplicates on webhook-id as receivers are asked to."""

    def __init__(self) -> None:
        self.receipts: list[Receipt] = []
        self.processed: dict[str, Receipt] = {}

    async def handle(self, request: web.Request) -> web.Response:
        receipt = Receipt(
            request.match_info["label"], request.headers["webhook-id"],
            dict(request.headers), await request.text(),
        )
        self.receipts.append(receipt)
        self.processed.setdefault(receipt.message_id, receipt)
        return web.Response(status=200, text="ok")


@asynccontextmanager
async def receiving_on(port: int) -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook/{label}", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield receiver
    finally:
        await runner.cleanup()


class Service:
    """``python -m ledger serve`` in a process of its own; its output goes to files."""

    def __init__(self, environment: dict[str, str], port: int, logs: Path) -> None:
        self.environment = environment
        self.port = port
        self.logs = logs
        self.process: asyncio.subprocess.Process | None = None
        self.runs = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.runs += 1
        with (self.logs / f"serve-{self.runs}.out").open("wb") as out, \
                (self.logs / f"serve-{self.runs}.err").open("wb") as err:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ledger", "serve",
                cwd=PROJECT_ROOT, env=self.environment, stdout=out, stderr=err,
            )
        async with aiohttp.ClientSession() as session:
            deadline = asyncio.get_running_loop().time() + READY_WITHIN
            while True:
                assert self.process.returncode is None, self.output()
                assert asyncio.get_running_loop().time() < deadline, self.output()
                try:
                    async with session.get(f"{self.base}/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass  # not listening yet
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        assert self.process is not None and self.process.returncode is None
        os.kill(self.process.pid, signal.SIGKILL)

    async def wait(self) -> int:
        assert self.process is not None
        return await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    def output(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted(self.logs.glob("serve-*"))
        )


class Remote:
    """What tests.http.people.Person needs of a client: where the service is."""

    def __init__(self, base: str) -> None:
        self.base = base

    def make_url(self, path: str) -> URL:
        return URL(self.base + path)


async def wait_for(
    condition: Callable[[], Any], seconds: float, what: str, service: Service
) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, (
            f"timed out waiting for {what}\n{service.output()}"
        )
        await asyncio.sleep(0.05)


async def test_messages_enqueued_before_a_sigkill_are_all_delivered_after_restart(
    database_url: str, tmp_path: Path
) -> None:
    service_port, receiver_port = free_port(), free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    environment.update({
        "DATABASE_URL": settings_url(database_url),
        # The same key for both runs: the signing secrets are sealed under it.
        "LEDGER_MASTER_KEY": MasterKey.generate().to_base64(),
        "LEDGER_CHECKPOINT_KEY": new_private_key_text(),
        "LEDGER_HOST": "127.0.0.1",
        "LEDGER_PORT": str(service_port),
        "LEDGER_WEBHOOKS_ALLOW_PRIVATE": "true",
        "LEDGER_WEBHOOKS_ALLOW_HTTP": "true",
        "LEDGER_WEBHOOK_TIMEOUT_SECONDS": "2",
        "LEDGER_PROJECTION_POLL_SECONDS": "0.1",
        "LEDGER_LOG_LEVEL": "warning",
    })
    service = Service(environment, service_port, tmp_path)
    database = await asyncpg.connect(database_url)
    try:
        await service.start()
        remote = cast(Client, Remote(service.base))
        async with person(remote) as ash, person(remote) as bo:
            members = {"ash": ash, "bo": bo}
            secrets = {}
            for label, member in members.items():
                # The receiver is down: nothing listens on its port yet.
                created = await member.json("POST", "/api/webhooks/endpoints", 201, json={
                    "url": f"http://127.0.0.1:{receiver_port}/hook/{label}",
                })
                secrets[label] = created["secret"]

            polycule = await polycule_of(ash, bo)  # Ash is told that Bo joined
            base = f"/api/polycules/{polycule}"
            proposal = await ash.json("POST", f"{base}/proposals", 201, json={
                "kind": "create", "title": "Results", "category": "sexual_health",
                "terms": "We share test results within a week of getting them.",
                "parties": [str(ash.account_id), str(bo.account_id)],
            })  # Bo is asked to consent
            await bo.json(
                "POST", f"{base}/proposals/{proposal['proposal_id']}/consent",
                json={"revision": 1},
            )  # Ash is told it was ratified
            await disclose(ash, base, bo)  # Bo is told

            async def four_enqueued() -> bool:
                total = await database.fetchval("SELECT count(*) FROM webhook_messages")
                return bool(total == 4)

            await wait_for(four_enqueued, 10, "4 messages enqueued", service)
            # One more, answered (so its event is committed) and killed at once: the
            # fan-out may or may not have enqueued it.
            await disclose(ash, base, bo)
            service.kill()
            assert await service.wait() == -signal.SIGKILL

            before = await database.fetch(
                "SELECT message_id, status, attempts FROM webhook_messages"
            )
            assert {row["status"] for row in before} == {"pending"}, before
            assert 4 <= len(before) <= 5

            async with receiving_on(receiver_port) as receiver:
                await service.start()

                async def all_delivered() -> bool:
                    rows = await database.fetch("SELECT status FROM webhook_messages")
                    return len(rows) == 5 and all(r["status"] == "succeeded" for r in rows)

                await wait_for(all_delivered, DELIVERED_WITHIN, "every delivery", service)

            messages = await database.fetch(
                "SELECT m.message_id, m.type, m.attempts, m.payload::text AS body,"
                "       a.account_id"
                "  FROM webhook_messages m"
                "  JOIN webhook_endpoints a ON a.endpoint_id = m.endpoint_id"
            )
            label_of = {member.account_id: label for label, member in members.items()}
            assert Counter((label_of[m["account_id"]], m["type"]) for m in messages) == Counter({
                ("ash", "member.joined"): 1,
                ("ash", "agreement.ratified"): 1,
                ("bo", "proposal.awaiting_consent"): 1,
                ("bo", "disclosure.shared_with_you"): 2,
            })
            # Nothing lost: every message arrived, exactly once per webhook-id after
            # de-duplication; and since the receiver was down until the crash was over,
            # no message was accepted twice either.
            assert set(receiver.processed) == {m["message_id"] for m in messages}
            assert len(receiver.processed) == len(messages) == 5
            assert len(receiver.receipts) == 5
            for message in messages:
                receipt = receiver.processed[message["message_id"]]
                assert receipt.label == label_of[message["account_id"]]
                assert json.loads(receipt.body) == json.loads(message["body"])
                verified = Webhook(secrets[receipt.label]).verify(receipt.body, receipt.headers)
                assert verified["type"] == message["type"]
                log = await database.fetch(
                    "SELECT attempt, status_code, error FROM webhook_attempts"
                    " WHERE message_id = $1 ORDER BY attempt", message["message_id"],
                )
                # Every attempt logged: those the first process made were refused.
                assert log[-1]["status_code"] == 200 and log[-1]["attempt"] == message["attempts"]
                assert all(
                    row["status_code"] is None and "could not connect" in row["error"]
                    for row in log[:-1]
                ), log
    finally:
        await service.stop()
        await database.close()


async def disclose(discloser: Person, base: str, to: Person) -> None:
    await discloser.json("POST", f"{base}/disclosures", 201, json={
        "kind": "sexual_health_result", "text": DISCLOSURE, "audience": "chosen",
        "recipients": [str(to.account_id)],
    })
