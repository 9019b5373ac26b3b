"""The webhook fan-out on real PostgreSQL: events become messages for the endpoints of the
members they concern — not the one who acted, not anyone outside an audience — thin, with
no words in them, and never twice."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from ledger.domain.agreements import AgreementText, Consent, ProposeAgreement
from ledger.domain.disclosures import Disclose
from ledger.domain.polycules import (
    AcceptInvitation,
    FoundPolycule,
    InviteMember,
    PolyculeCommand,
    polycule_decider,
)
from ledger.privacy import KeyRing
from ledger.service import ApplicationService
from ledger.store.wakeups import WakeupHub
from ledger.webhooks import endpoints
from ledger.webhooks.fanout import WebhookFanout
from ledger.webhooks.fanout_runner import FanoutRunner

START = datetime.now(UTC) - timedelta(hours=1)


class Scene:
    def __init__(self, service: ApplicationService) -> None:
        self.service = service
        self.polycule = uuid.uuid4()
        self.at = START

    async def do(self, actor: uuid.UUID, build: Any) -> None:
        self.at += timedelta(minutes=1)
        command: PolyculeCommand = build(
            {"actor": actor, "at": self.at, "command_id": uuid.uuid4()}
        )
        await self.service.handle(self.polycule, polycule_decider, command)


async def account(pool: asyncpg.Pool, handle: str) -> uuid.UUID:
    account_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO accounts (id, handle, display_name, password_hash) VALUES ($1, $2, $2, 'x')",
        account_id, handle,
    )
    return account_id


async def test_events_become_thin_messages_for_those_they_concern_and_no_one_else(
    pool: asyncpg.Pool, keyring: KeyRing, service: ApplicationService
) -> None:
    ash, bo, cy = await account(pool, "ash"), await account(pool, "bob"), await account(pool, "cyd")
    hooks = {}
    for member, types in ((ash, []), (bo, []), (cy, ["agreement.ratified"])):
        endpoint, _ = await endpoints.create(
            pool, keyring, account_id=member, url="https://hooks.invalid/hook",
            description="", event_types=types, enabled=True, now=START,
        )
        hooks[member] = endpoint.endpoint_id
    scene = Scene(service)
    await scene.do(ash, lambda s: FoundPolycule(
        **s, polycule_id=scene.polycule, name="Pancakes", display_name="Ash"))
    for index, member in enumerate((bo, cy)):
        await scene.do(ash, lambda s, i=index: InviteMember(
            **s, invitation_id=uuid.uuid4(), secret_hash=f"s{i}",
            expires_at=START + timedelta(days=1)))
        await scene.do(member, lambda s, i=index: AcceptInvitation(
            **s, secret_hash=f"s{i}", display_name="M"))
    proposal, agreement = uuid.uuid4(), uuid.uuid4()
    await scene.do(ash, lambda s: ProposeAgreement(
        **s, proposal_id=proposal, agreement_id=agreement, parties=(ash, bo),
        text=AgreementText(title="Sundays", terms="Sunday mornings are ours, secretly.")))
    await scene.do(bo, lambda s: Consent(**s, proposal_id=proposal, revision=1))
    await scene.do(ash, lambda s: Disclose(
        **s, disclosure_id=uuid.uuid4(), kind="feelings", text="I miss you terribly",
        audience="chosen", recipients=(bo,)))

    runner = FanoutRunner(
        pool, WebhookFanout(service, lambda: datetime.now(UTC)), WakeupHub(),
        events_per_polycule=7,
    )
    await fanned_out(runner, scene.polycule)
    again = await fanned_out(runner, scene.polycule)
    # Even read again from the start (a position lost), nothing is enqueued twice.
    enqueued = await pool.fetchval("SELECT count(*) FROM webhook_messages")
    await pool.execute("DELETE FROM webhook_fanout_positions WHERE polycule_id = $1",
                       scene.polycule)
    await fanned_out(FanoutRunner(
        pool, WebhookFanout(service, lambda: datetime.now(UTC)), WakeupHub(),
    ), scene.polycule)
    assert await pool.fetchval("SELECT count(*) FROM webhook_messages") == enqueued

    rows = await pool.fetch(
        "SELECT endpoint_id, type, payload::text AS body FROM webhook_messages ORDER BY created_at"
    )
    got = sorted((row["endpoint_id"], row["type"]) for row in rows)
    assert got == sorted([
        (hooks[ash], "member.joined"), (hooks[ash], "member.joined"),  # bo, then cy joined
        (hooks[bo], "member.joined"),  # cy joined (bo's own joining is not news to bo)
        (hooks[bo], "proposal.awaiting_consent"),
        # bo's consent ratified it: bo learns that from the answer, ash by webhook.
        (hooks[ash], "agreement.ratified"),
        (hooks[bo], "disclosure.shared_with_you"),
    ])
    # cy wanted ratifications only, and is no party to this agreement; nor told the
    # disclosure. ash proposed, so is not asked to consent to their own proposal.
    assert again == 0
    bodies = " ".join(row["body"] for row in rows)
    for words in ("Sundays", "secretly", "miss you", "Pancakes", "feelings"):
        assert words not in bodies


async def fanned_out(runner: FanoutRunner, polycule: uuid.UUID) -> int:
    """Pass after pass over the polycule until it is caught up; how many events were read."""
    read, waiting = 0, {polycule}
    while waiting:
        waiting, count = await runner.fan_out(waiting)
        read += count
    return read
