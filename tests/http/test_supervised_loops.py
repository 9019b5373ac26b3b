"""Every background loop of a running instance is supervised: a loop that meets an
exception nobody expected is logged with its name and started again, and one that keeps
failing is named to operators by /readyz — while the service goes on answering."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import structlog
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from ledger.http.keys import SUPERVISOR
from ledger.scheduler import Scheduler
from ledger.supervisor import Supervisor
from ledger.webhooks.delivery import DeliveryWorker
from ledger.webhooks.fanout import WebhookFanout
from projections.read_side import ReadSide
from tests.http.people import person
from tests.http.polycules import polycule_of
from tests.http.support import OPERATOR_TOKEN

EVERY_LOOP = [
    "append-announcer", "append-listener", "read-side-keeper", "scheduler",
    "webhook-delivery", "webhook-listener", "webhook_fanout",
]

# For each loop, something it calls on every round, made to fail as a bug would.
BROKEN_BY = {
    "scheduler": (Scheduler, "tick"),
    "read-side-keeper": (ReadSide, "retry_due"),
    "webhook_fanout": (WebhookFanout, "apply"),
    "webhook-delivery": (DeliveryWorker, "_claim"),
}


@pytest.fixture
def quick_to_restart(app: web.Application) -> Supervisor:
    app[SUPERVISOR] = Supervisor(first_pause=0.01, longest_pause=0.05, failing_after=3)
    return app[SUPERVISOR]


async def test_every_background_loop_runs_under_the_supervisor(
    app: web.Application, aiohttp_client: AiohttpClient
) -> None:
    await aiohttp_client(app)
    assert app[SUPERVISOR].names == EVERY_LOOP
    assert app[SUPERVISOR].failing == []


@pytest.mark.parametrize("loop", sorted(BROKEN_BY))
async def test_a_loop_that_fails_is_logged_restarted_and_named_by_readyz(
    app: web.Application, aiohttp_client: AiohttpClient, monkeypatch: pytest.MonkeyPatch,
    quick_to_restart: Supervisor, loop: str,
) -> None:
    owner, method = BROKEN_BY[loop]
    third = asyncio.Event()

    async def broken(*_: Any, **__: Any) -> Any:
        if quick_to_restart.failures(loop) >= 3:
            third.set()
        raise RuntimeError("a fault in this code")

    monkeypatch.setattr(owner, method, broken)
    with structlog.testing.capture_logs() as logs:
        client = await aiohttp_client(app)
        async with person(client) as ana:
            await polycule_of(ana)  # events for the fan-out to read
            await asyncio.wait_for(third.wait(), timeout=120)

            ready = await client.get("/readyz", headers={"X-Operator-Token": OPERATOR_TOKEN})
            anyone = await client.get("/readyz")
            # The service goes on answering beside the failing loop.
            await ana.json("GET", "/api/polycules")

    failed = [line for line in logs if line["event"] == "background_loop_failed"]
    assert {line["loop"] for line in failed} == {loop}
    assert [line["failures_in_a_row"] for line in failed][:3] == [1, 2, 3]
    assert ready.status == 200
    assert (await ready.json())["degraded"]["failing_loops"] == [loop]
    assert await anyone.json() == {"status": "ready"}  # nothing of it for anyone else
