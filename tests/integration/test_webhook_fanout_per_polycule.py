"""The webhook fan-out as the service runs it, polycule by polycule, on real PostgreSQL:
no transaction elsewhere holds it back, workers sharing it fan each event out once, and a
polycule nobody woke it for is found all the same."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg
import pytest

from ledger.domain.agreements import AgreementText, Consent, ProposeAgreement
from ledger.domain.polycules import AcceptInvitation, FoundPolycule, InviteMember
from ledger.privacy import KeyRing
from ledger.service import ApplicationService
from ledger.store.events import EventStore
from ledger.store.records import RecordedEvent
from ledger.store.wakeups import WakeupHub
from ledger.webhooks import endpoints
from ledger.webhooks.fanout import WebhookFanout
from ledger.webhooks.fanout_runner import FanoutRunner
from projections import read_side
from projections.runner import polycules_behind
from tests.integration.test_webhook_fanout import START, Scene, account

if TYPE_CHECKING:
    from ledger.database import Connection


@pytest.fixture
def commands(store: EventStore, keyring: KeyRing, pool: asyncpg.Pool) -> ApplicationService:
    """The service as it handles commands, its read side included (which lists the
    polycules the fan-out sweeps)."""
    return ApplicationService(store, keyring, read_side=read_side(pool))


def runner_of(
    pool: asyncpg.Pool, service: ApplicationService, hub: WakeupHub | None = None,
    **options: float,
) -> FanoutRunner:
    return FanoutRunner(
        pool, WebhookFanout(service, lambda: datetime.now(UTC)), hub or WakeupHub(), **options
    )


async def a_polycule_of_three(
    pool: asyncpg.Pool, keyring: KeyRing, service: ApplicationService
) -> Scene:
    """Ash founds it, Bo and Cy join, Ash proposes to Bo, Bo consents: every member has an
    endpoint."""
    ash, bo, cy = [await account(pool, f"m{uuid.uuid4().hex[:8]}") for _ in range(3)]
    for member in (ash, bo, cy):
        await endpoints.create(
            pool, keyring, account_id=member, url="https://hooks.invalid/hook",
            description="", event_types=[], enabled=True, now=START,
        )
    scene = Scene(service)
    await scene.do(ash, lambda s: FoundPolycule(
        **s, polycule_id=scene.polycule, name="Pancakes", display_name="Ash"))
    for index, member in enumerate((bo, cy)):
        await scene.do(ash, lambda s, i=index: InviteMember(
            **s, invitation_id=uuid.uuid4(), secret_hash=f"s{i}",
            expires_at=START + timedelta(days=1)))
        await scene.do(member, lambda s, i=index: AcceptInvitation(
            **s, secret_hash=f"s{i}", display_name="M"))
    proposal = uuid.uuid4()
    await scene.do(ash, lambda s: ProposeAgreement(
        **s, proposal_id=proposal, agreement_id=uuid.uuid4(), parties=(ash, bo),
        text=AgreementText(title="Sundays", terms="Sunday mornings are ours.")))
    await scene.do(bo, lambda s: Consent(**s, proposal_id=proposal, revision=1))
    return scene


async def messages(pool: asyncpg.Pool) -> list[tuple[uuid.UUID, str]]:
    rows = await pool.fetch("SELECT endpoint_id, type FROM webhook_messages")
    return sorted((row["endpoint_id"], row["type"]) for row in rows)


async def test_a_transaction_left_open_elsewhere_holds_no_polycule_back(
    pool: asyncpg.Pool, keyring: KeyRing, commands: ApplicationService, database_url: str
) -> None:
    forgotten = await asyncpg.connect(database_url)
    try:
        # A psql session someone left in a transaction that has written (it has an id).
        await forgotten.execute("BEGIN")
        await forgotten.fetchval("SELECT pg_current_xact_id()")
        scene = await a_polycule_of_three(pool, keyring, commands)

        fanned = await runner_of(pool, commands).catch_up_now()

        assert fanned == await pool.fetchval(  # every event of the polycule
            "SELECT count(*) FROM events WHERE stream_id = $1", scene.polycule
        )
        made = [kind for _, kind in await messages(pool)]
        assert sorted(set(made)) == [
            "agreement.ratified", "member.joined", "proposal.awaiting_consent"
        ]
        assert await polycules_behind(pool, WebhookFanout.name) == 0
    finally:
        await forgotten.close()


async def test_workers_sharing_the_fanout_read_each_event_once(
    pool: asyncpg.Pool, keyring: KeyRing, commands: ApplicationService
) -> None:
    scenes = [await a_polycule_of_three(pool, keyring, commands) for _ in range(6)]
    events = await pool.fetchval(
        "SELECT count(*) FROM events WHERE stream_id = ANY($1::uuid[])",
        [scene.polycule for scene in scenes],
    )
    # Small passes, so that the two take turns over the polycules many times.
    first, second = (
        runner_of(pool, commands, polycules_per_pass=2, events_per_polycule=3)
        for _ in range(2)
    )

    fanned = await asyncio.gather(first.catch_up_now(), second.catch_up_now())

    assert sum(fanned) == events
    assert await polycules_behind(pool, WebhookFanout.name) == 0
    assert await pool.fetchval(
        "SELECT count(*) FROM webhook_messages"
    ) == 6 * len(await messages_of_one(pool, scenes[0].polycule))


async def messages_of_one(pool: asyncpg.Pool, polycule: uuid.UUID) -> list[asyncpg.Record]:
    return list(await pool.fetch(
        "SELECT message_id FROM webhook_messages WHERE polycule_id = $1", polycule
    ))


async def test_a_polycule_nobody_woke_the_fanout_for_is_found_by_its_sweep(
    pool: asyncpg.Pool, keyring: KeyRing, commands: ApplicationService
) -> None:
    hub = WakeupHub()  # the commands below never wake it: as if a NOTIFY were lost
    runner = runner_of(pool, commands, hub, poll_seconds=0.05)
    runner.start()
    try:
        await asyncio.sleep(0.2)  # started, swept, found nothing, waiting
        scene = await a_polycule_of_three(pool, keyring, commands)

        async with asyncio.timeout(30):
            while True:
                found = await messages_of_one(pool, scene.polycule)
                if found and not await polycules_behind(pool, WebhookFanout.name):
                    break
                await asyncio.sleep(0.05)
    finally:
        await runner.stop()


class PausedFanout(WebhookFanout):
    """The webhook fan-out, stopping inside its pass (its polycules locked) until let go."""

    def __init__(self, service: ApplicationService) -> None:
        super().__init__(service, lambda: datetime.now(UTC))
        self.inside = asyncio.Event()
        self.let_go = asyncio.Event()

    async def apply(self, connection: Connection, events: Sequence[RecordedEvent]) -> None:
        self.inside.set()
        await self.let_go.wait()
        await super().apply(connection, events)


async def test_a_polycule_another_worker_is_fanning_out_is_left_to_it(
    pool: asyncpg.Pool, keyring: KeyRing, commands: ApplicationService
) -> None:
    scene = await a_polycule_of_three(pool, keyring, commands)
    paused = PausedFanout(commands)
    first = FanoutRunner(pool, paused, WakeupHub())
    second = runner_of(pool, commands)
    passing = asyncio.create_task(first.fan_out([scene.polycule]))
    await paused.inside.wait()

    # While the first worker is inside its pass, the second leaves the polycule to it
    # (rather than fanning it out too, or waiting for the first).
    async with asyncio.timeout(60):
        assert await second.fan_out([scene.polycule]) == ({scene.polycule}, 0)
    paused.let_go.set()
    _, fanned = await passing

    # And once the first has moved its position on, the second finds nothing after it.
    assert fanned > 0
    assert await second.fan_out([scene.polycule]) == (set(), 0)
    assert await messages_of_one(pool, scene.polycule) != []
    assert await polycules_behind(pool, WebhookFanout.name) == 0
