"""The read side per polycule, over HTTP: a write waits for nothing outside its polycule.

An idle transaction elsewhere on the server, a crowd of writers on the default pool, a
rebuild of every read model, a polycule whose read models are stuck on an event: each write
is still answered at once from read models that already show it — or, in the stuck
polycule alone, recorded and answered 202 with its views behind — and nothing of it
reaches another polycule.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack
from typing import Any

import asyncpg
import pytest
import structlog
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from ledger.app import create_app
from ledger.config import Settings
from ledger.http.account_routes import AUTH_POLICY
from ledger.http.keys import EVENT_STORE, POOL, READ_SIDE
from ledger.store.records import NewEvent
from projections.rebuild import rebuild
from tests.http.accounts_support import TEST_POLICY
from tests.http.people import Person, person
from tests.http.polycules import caught_up, polycule_of
from tests.http.support import OPERATOR_TOKEN, Client, error_of
from tests.http.web import submit, text_of

# Generous bounds that only turn a write waiting forever (on a lock, on a pool, on a
# transaction it should not care about) into a failure instead of a hung suite; nothing
# here measures speed.
NO_DEADLOCK_SECONDS = 90.0

# Commands sent together to one polycule take turns in the instance (ledger/service.py,
# Turns): however many arrive at once, none is refused for losing a race.
WRITERS_PER_POLYCULE = 8

# Every member-facing read model's tables, as a rebuild writes them again.
READ_MODEL_TABLES = (
    "stream_summaries", "polycule_directory", "memberships", "agreement_proposals",
    "proposal_revisions", "proposal_responses", "agreements", "agreement_versions",
    "agreement_timeline",
)


# --- Scenes ------------------------------------------------------------------------------


async def people(stack: AsyncExitStack, client: Client, how_many: int) -> list[Person]:
    return [await stack.enter_async_context(person(client)) for _ in range(how_many)]


def member_ids(*members: Person) -> list[str]:
    return [str(member.account_id) for member in members]


def new_agreement(title: str, *parties: Person) -> dict[str, Any]:
    return {
        "kind": "create", "title": title, "terms": "We keep Sunday mornings for each other.",
        "category": "time", "parties": member_ids(*parties),
    }


async def propose(proposer: Person, polycule: str, title: str, *others: Person) -> Any:
    """A new agreement between the proposer and ``others``, answered 201 with its proposal."""
    return await proposer.json(
        "POST", f"/api/polycules/{polycule}/proposals", 201,
        json=new_agreement(title, proposer, *others),
    )


async def consent(member: Person, polycule: str, proposal_id: str, revision: int = 1) -> Any:
    return await member.json(
        "POST", f"/api/polycules/{polycule}/proposals/{proposal_id}/consent",
        json={"revision": revision},
    )


async def agreements_in_force(member: Person, polycule: str) -> list[Any]:
    in_force: list[Any] = await member.json("GET", f"/api/polycules/{polycule}/agreements")
    return in_force


async def read_model_rows(pool: asyncpg.Pool) -> dict[str, list[dict[str, Any]]]:
    """Every row of the member-facing read models, in a stable order."""
    return {
        table: [dict(row) for row in await pool.fetch(
            f"SELECT * FROM {table} ORDER BY row_to_json({table})::text"
        )]
        for table in READ_MODEL_TABLES
    }


async def read_versions_and_heads(pool: asyncpg.Pool) -> tuple[dict[Any, int], dict[Any, int]]:
    """Each polycule's read-model version, and its stream's head."""
    versions = await pool.fetch("SELECT polycule_id, version FROM polycule_read_models")
    heads = await pool.fetch(
        "SELECT stream_id, max(stream_version) AS head FROM events GROUP BY stream_id"
    )
    return (
        {row["polycule_id"]: row["version"] for row in versions},
        {row["stream_id"]: row["head"] for row in heads},
    )


async def plant_timeline_row(pool: asyncpg.Pool, polycule: str, stream_version: int) -> None:
    """A row standing where the agreements read model will put the polycule's event at
    ``stream_version``: applying that event, however valid, then fails."""
    await pool.execute(
        "INSERT INTO agreement_timeline (polycule_id, stream_version, agreement_id, at, what) "
        "VALUES ($1, $2, $3, now(), 'Planted')",
        uuid.UUID(polycule), stream_version, uuid.uuid4(),
    )


async def remove_planted_rows(pool: asyncpg.Pool) -> None:
    await pool.execute("DELETE FROM agreement_timeline WHERE what = 'Planted'")


async def stream_version(client: Client, polycule: str) -> int:
    return await client.app[EVENT_STORE].stream_version(uuid.UUID(polycule))


async def parked_on_status(client: Client) -> dict[str, Any]:
    """What an operator sees of the read side in /status; nobody else sees /status."""
    assert (await client.get("/status")).status == 403
    response = await client.get("/status", headers={"X-Operator-Token": OPERATOR_TOKEN})
    assert response.status == 200, await response.text()
    read_side: dict[str, Any] = (await response.json())["read_side"]
    return read_side


async def readiness(client: Client) -> Any:
    """What an operator reads in /readyz; a probe without the token reads "ready" only."""
    anyone = await client.get("/readyz")
    assert await anyone.json() == {"status": "ready"}
    response = await client.get("/readyz", headers={"X-Operator-Token": OPERATOR_TOKEN})
    assert response.status == 200, await response.text()
    return await response.json()


# --- An idle transaction elsewhere --------------------------------------------------------


async def test_an_idle_transaction_elsewhere_delays_no_write(
    client: Client, database_url: str
) -> None:
    async with AsyncExitStack() as stack:
        ash, bo, cy, di = await people(stack, client, 4)
        ours, theirs = await polycule_of(ash, bo), await polycule_of(cy, di)
        # Someone else's session (a report, a psql prompt) holds a transaction id, and so
        # the horizon below which the whole log is settled, and then does nothing.
        idle = await asyncpg.connect(database_url)
        try:
            await idle.execute("BEGIN")
            held = await idle.fetchval("SELECT txid_current()")
            writes = 0
            async with asyncio.timeout(NO_DEADLOCK_SECONDS):
                for round_ in range(5):
                    for proposer, partner, polycule in ((ash, bo, ours), (cy, di, theirs)):
                        made = await propose(proposer, polycule, f"Sundays {round_}", partner)
                        pid = made["proposal_id"]
                        assert made["awaiting"] == member_ids(partner)
                        shown = await partner.json(
                            "GET", f"/api/polycules/{polycule}/proposals/{pid}"
                        )
                        assert shown["status"] == "open" and shown["revision"] == 1

                        ratified = await consent(partner, polycule, pid)
                        assert ratified["status"] == "ratified" and ratified["awaiting"] == []
                        in_force = await agreements_in_force(proposer, polycule)
                        assert made["agreement_id"] in [a["agreement_id"] for a in in_force]
                        assert len(in_force) == round_ + 1
                        writes += 2
            assert writes == 20
            # The same transaction was open, idle, through every one of those writes.
            assert await idle.fetchval("SELECT txid_current()") == held
        finally:
            await idle.execute("ROLLBACK")
            await idle.close()


# --- Many writers, the default pool -------------------------------------------------------


@pytest.fixture
async def client_on_the_default_pool(
    settings: Settings, database_url: str, aiohttp_client: AiohttpClient
) -> Client:
    """The app as it runs by default: the pool sizes the service starts with."""
    defaults = {
        name: Settings.model_fields[name].default for name in ("pool_min_size", "pool_max_size")
    }
    app: web.Application = create_app(settings.model_copy(update=defaults), database_url)
    app[AUTH_POLICY] = TEST_POLICY
    return await aiohttp_client(app)


async def test_sixty_four_writers_at_once_on_the_default_pool_are_all_answered(
    client_on_the_default_pool: Client,
) -> None:
    client = client_on_the_default_pool
    assert client.app[POOL].get_max_size() == Settings.model_fields["pool_max_size"].default
    async with AsyncExitStack() as stack:
        members = await people(stack, client, 16)
        couples = [(members[i], members[i + 1]) for i in range(0, 16, 2)]
        polycules = [await polycule_of(one, other) for one, other in couples]

        async def write(proposer: Person, partner: Person, polycule: str, title: str) -> Any:
            response = await proposer.request(
                "POST", f"/api/polycules/{polycule}/proposals",
                json=new_agreement(title, proposer, partner),
            )
            return response.status, await response.json(), polycule

        # 8 polycules, 8 writers each (both members, four proposals apiece), all at once.
        writes = [
            write(proposer, partner, polycule, f"Rule {n}")
            for (one, other), polycule in zip(couples, polycules, strict=True)
            for proposer, partner in ((one, other), (other, one))
            for n in range(WRITERS_PER_POLYCULE // 2)
        ]
        assert len(writes) == 64
        async with asyncio.timeout(NO_DEADLOCK_SECONDS):
            answers = await asyncio.gather(*writes)

        statuses = [status for status, _, _ in answers]
        assert statuses == [201] * 64, [
            (status, body) for status, body, _ in answers if status != 201
        ]
        for _, made, polycule in answers:
            assert made["polycule_id"] == polycule
        for (one, _), polycule in zip(couples, polycules, strict=True):
            made_here = sorted(made["proposal_id"] for _, made, p in answers if p == polycule)
            open_here = await one.json("GET", f"/api/polycules/{polycule}/proposals")
            assert sorted(p["proposal_id"] for p in open_here) == made_here
            for pid in made_here:
                shown = await one.json("GET", f"/api/polycules/{polycule}/proposals/{pid}")
                assert shown["status"] == "open"
            await caught_up(client, polycule)


# --- A rebuild under writes ---------------------------------------------------------------


async def test_a_rebuild_while_twelve_clients_write_loses_nothing_and_hides_nothing(
    client: Client,
) -> None:
    read_side, pool = client.app[READ_SIDE], client.app[POOL]
    async with AsyncExitStack() as stack:
        # Twelve clients, each writing in a polycule of its own (with a partner who
        # consents), so that nothing but the rebuild stands in a write's way.
        members = await people(stack, client, 24)
        couples = [(members[i], members[i + 1]) for i in range(0, 24, 2)]
        polycules = [await polycule_of(one, other) for one, other in couples]
        # The polycule a member keeps reading: three agreements in force before anything.
        watched, (ash, bo) = polycules[0], couples[0]
        for title in ("Dates", "Sleep", "Phones"):
            made = await propose(ash, watched, title, bo)
            assert (await consent(bo, watched, made["proposal_id"]))["status"] == "ratified"
        before = len(await agreements_in_force(ash, watched))
        assert before == 3

        stop, everyone_wrote = asyncio.Event(), asyncio.Event()
        written: list[str] = []
        seen: list[int] = []

        async def writer(me: Person, partner: Person, polycule: str) -> None:
            n = 0
            while not stop.is_set():
                made = await propose(me, polycule, f"Rule {n}", partner)
                answered = await consent(partner, polycule, made["proposal_id"])
                assert answered["status"] == "ratified" and answered["awaiting"] == []
                written.append(polycule)
                if len(written) >= 12:
                    everyone_wrote.set()
                n += 1

        async def reader() -> None:
            while not stop.is_set():
                seen.append(len(await agreements_in_force(bo, watched)))
                # Never an empty polycule, never one half rebuilt.
                assert seen[-1] >= before
                await asyncio.sleep(0)

        writers = [
            asyncio.create_task(writer(one, other, polycule))
            for (one, other), polycule in zip(couples, polycules, strict=True)
        ]
        reading = asyncio.create_task(reader())
        everyone = [*writers, reading]
        started = asyncio.create_task(everyone_wrote.wait())
        try:
            async with asyncio.timeout(NO_DEADLOCK_SECONDS):
                # The clients are writing before the rebuild starts (or one already failed).
                await asyncio.wait([started, *everyone], return_when=asyncio.FIRST_COMPLETED)
                folded = await rebuild(read_side)
                folded += await rebuild(read_side, concurrency=2)
                stop.set()
                await asyncio.gather(*everyone)
        finally:
            stop.set()
            for task in (started, *everyone):
                task.cancel()
            await asyncio.gather(started, *everyone, return_exceptions=True)

        assert folded > 0 and len(written) >= 12 and seen
        # The watched polycule shows what was in force plus every agreement ratified there.
        in_force = await agreements_in_force(ash, watched)
        assert len(in_force) == before + written.count(watched)
        # Every write is in the read models, and they are what a fresh rebuild makes.
        versions, heads = await read_versions_and_heads(pool)
        assert versions == heads
        while_writing = await read_model_rows(pool)
        await rebuild(read_side)
        assert await read_model_rows(pool) == while_writing


# --- One polycule's trouble ---------------------------------------------------------------


async def test_a_command_whose_own_events_cannot_be_shown_is_refused_and_writes_nothing(
    client: Client,
) -> None:
    pool = client.app[POOL]
    async with AsyncExitStack() as stack:
        ash, bo, cy, di = await people(stack, client, 4)
        troubled, other = await polycule_of(ash, bo), await polycule_of(cy, di)
        before = await stream_version(client, troubled)
        await plant_timeline_row(pool, troubled, before + 1)

        with structlog.testing.capture_logs() as logs:
            refused = await ash.request(
                "POST", f"/api/polycules/{troubled}/proposals",
                json=new_agreement("Dates", ash, bo),
            )

        assert refused.status == 409
        error = error_of(await refused.json())
        assert error["code"] == "not_recorded"
        assert "AgreementProposed" in error["details"]["event_types"]
        # Nothing written: not an event, not a row, not a parked polycule.
        assert await stream_version(client, troubled) == before
        assert await ash.json("GET", f"/api/polycules/{troubled}/proposals") == []
        assert await parked_on_status(client) == {"parked_count": 0, "parked": []}
        assert await readiness(client) == {"status": "ready"}
        [logged] = [entry for entry in logs if entry["event"] == "read_model_refused_command"]
        assert logged["polycule_id"] == troubled
        assert "AgreementProposed" in logged["event_types"]
        # Another polycule goes on as usual.
        made = await propose(cy, other, "Sleep", di)
        assert (await consent(di, other, made["proposal_id"]))["status"] == "ratified"

        # With the cause gone, the same proposal sent again is recorded and shown.
        await remove_planted_rows(pool)
        made = await propose(ash, troubled, "Dates", bo)
        assert made["status"] == "open"
        assert await stream_version(client, troubled) > before
        await caught_up(client, troubled)


async def test_a_parked_polycule_keeps_its_trouble_to_itself_until_it_is_retried(
    client: Client,
) -> None:
    store, read_side, pool = client.app[EVENT_STORE], client.app[READ_SIDE], client.app[POOL]
    async with AsyncExitStack() as stack:
        ash, bo, cy, di, ed = await people(stack, client, 5)
        troubled, other = await polycule_of(ash, bo, cy), await polycule_of(di, ed)
        dates = await propose(ash, troubled, "Dates", bo, cy)
        pid = dates["proposal_id"]
        # Bo's consent, recorded by the store alone (as a service of an older version would)
        # where a row of the read model already stands: it can be recorded, not applied.
        version = await stream_version(client, troubled)
        await plant_timeline_row(pool, troubled, version + 1)
        poison = NewEvent(
            event_id=uuid.uuid4(), event_type="ConsentGiven", schema_version=1,
            data={"proposal_id": pid, "revision": 1, "member_id": str(bo.account_id)},
            metadata={"actor": str(bo.account_id), "command_id": str(uuid.uuid4())},
        )
        await store.append(uuid.UUID(troubled), version, [poison])

        with structlog.testing.capture_logs() as logs:
            # Cy's consent completes the proposal: recorded, answered with what was decided.
            ratifying = await cy.request(
                "POST", f"/api/polycules/{troubled}/proposals/{pid}/consent",
                json={"revision": 1},
            )
            assert ratifying.status == 202, await ratifying.text()
            ratified = await ratifying.json()
            assert ratified["views_behind"] is True
            assert ratified["polycule_id"] == troubled and ratified["proposal_id"] == pid
            assert [e["type"] for e in ratified["events"]] == [
                "ConsentGiven", "AgreementRatified",
            ]
            assert ratified["version"] == await stream_version(client, troubled)

            # Another write there: recorded too, its views behind as well.
            proposing = await bo.request(
                "POST", f"/api/polycules/{troubled}/proposals",
                json=new_agreement("Phones", bo, cy),
            )
            assert proposing.status == 202, await proposing.text()
            phones = await proposing.json()
            assert phones["views_behind"] is True
            assert phones["events"][0]["type"] == "AgreementProposed"
            # An invitation's secret is shown now or never: it is answered as ever.
            invited = await bo.request(
                "POST", f"/api/polycules/{troubled}/invitations", json={}
            )
            assert invited.status == 201, await invited.text()
            assert (await invited.json())["token"]
            # A form in a browser is told plainly that it is recorded, not sent to a page
            # that does not show it yet.
            asked = await submit(
                ash, f"/api/polycules/{troubled}/agreements/{dates['agreement_id']}"
                "/request-review", {"note": "Can we talk about Fridays?"},
                return_to=f"/polycules/{troubled}",
            )
            assert asked.status == 202, await asked.text()
            assert "It is recorded" in text_of(await asked.text())
            head = await stream_version(client, troubled)
            assert head > phones["version"] > ratified["version"] > version + 1

            # The other polycule writes and reads as if nothing happened.
            sleep = await propose(di, other, "Sleep", ed)
            assert (await consent(ed, other, sleep["proposal_id"]))["status"] == "ratified"
            assert [a["agreement_id"] for a in await agreements_in_force(ed, other)] == [
                sleep["agreement_id"],
            ]
            await caught_up(client, other)

            # Operators see the one parked polycule, with the event that stopped it.
            status = await parked_on_status(client)
            assert status["parked_count"] == 1
            [parked] = status["parked"]
            assert parked["polycule_id"] == troubled
            assert (parked["event_id"], parked["event_type"]) == (
                str(poison.event_id), "ConsentGiven",
            )
            assert parked["version"] == version
            assert other not in str(status)
            assert await readiness(client) == {
                "status": "ready", "degraded": {"parked_polycules": 1},
            }

            # Trying again while the cause is still there changes nothing.
            [still] = await read_side.retry(uuid.UUID(troubled))
            assert still.parked is not None and still.version == version

        named = [entry for entry in logs if entry["event"] == "polycule_read_models_parked"]
        assert len(named) == 1, named
        assert named[0]["polycule_id"] == troubled
        assert named[0]["event_id"] == str(poison.event_id)
        assert named[0]["event_type"] == "ConsentGiven"

        # The cause removed, a retry catches the polycule up.
        await remove_planted_rows(pool)
        [caught] = await read_side.retry(uuid.UUID(troubled))

        assert caught.parked is None and caught.version == head
        await caught_up(client, troubled)
        assert await parked_on_status(client) == {"parked_count": 0, "parked": []}
        assert await readiness(client) == {"status": "ready"}
        # What was answered 202 now reads back.
        in_force = await agreements_in_force(bo, troubled)
        assert [a["agreement_id"] for a in in_force] == [dates["agreement_id"]]
        shown = await cy.json(
            "GET", f"/api/polycules/{troubled}/proposals/{phones['proposal_id']}"
        )
        assert shown["status"] == "open" and shown["awaiting"] == member_ids(cy)
        # And the polycule's next write is answered as usual.
        await propose(cy, troubled, "Weekends", ash)
