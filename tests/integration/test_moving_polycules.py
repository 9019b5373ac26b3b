"""Moving a ledger to another database with pg_dump keeps every consumer's place: after the
restore the service starts there, reads the same, goes on appending, and the webhook
fan-out neither sends anything again nor misses anything (docs/operations.md) — on another
server too, whose transaction ids have nothing to do with the log's: every consumer's place
is a stream version.

pg_dump and pg_restore must be of the server's own major version: the suite looks for them
among Debian's (``/usr/lib/postgresql/<major>/bin``) and the embedded PostgreSQL's, and
skips, saying which it needed, where there are none.
"""

from __future__ import annotations

import os
import pwd
import re
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import asyncpg
import pytest

from ledger.database import create_pool, migrate_database
from ledger.domain.agreements import AgreementText, Consent, ProposeAgreement
from ledger.domain.polycules import (
    AcceptInvitation,
    FoundPolycule,
    InviteMember,
    PolyculeCommand,
    polycule_decider,
)
from ledger.privacy import KeyRing, MasterKey
from ledger.service import ApplicationService
from ledger.store.events import EventStore
from ledger.store.records import RecordedEvent
from ledger.store.verify import verify
from ledger.store.wakeups import WakeupHub
from ledger.webhooks import endpoints
from ledger.webhooks.fanout import WebhookFanout
from ledger.webhooks.fanout_runner import FanoutRunner
from tests import citus
from tests.conftest import _admin, with_database
from tests.support import read_models_caught_up

START = datetime.now(UTC) - timedelta(hours=1)


def _client_tools(major: int) -> Path | None:
    """A directory holding pg_dump and pg_restore of PostgreSQL ``major``, if any here."""
    candidates = [Path(f"/usr/lib/postgresql/{major}/bin")]
    try:
        import pgserver

        candidates.append(Path(pgserver.__file__).parent / "pginstall" / "bin")
    except ImportError:
        pass
    for directory in candidates:
        dump = directory / "pg_dump"
        if not (dump.exists() and (directory / "pg_restore").exists()):
            continue
        version = subprocess.run(
            [str(dump), "--version"], capture_output=True, text=True, check=True
        ).stdout
        found = re.search(r"(\d+)\.\d+", version)
        if found and int(found[1]) == major:
            return directory
    return None


class Ledger:
    """One service's parts on one database: its pool, store, keys and commands."""

    def __init__(self, pool: asyncpg.Pool, master: MasterKey) -> None:
        self.pool = pool
        self.keyring = KeyRing(pool, master)
        self.store = EventStore(pool)
        self.service = ApplicationService(self.store, self.keyring)
        self.fanout = FanoutRunner(
            pool, WebhookFanout(self.service, lambda: datetime.now(UTC)), WakeupHub()
        )

    async def do(self, polycule: uuid.UUID, actor: uuid.UUID, build: Any, minute: int) -> None:
        command: PolyculeCommand = build(
            {"actor": actor, "at": START + timedelta(minutes=minute), "command_id": uuid.uuid4()}
        )
        await self.service.handle(polycule, polycule_decider, command)

    async def fanned_out(self, polycule: uuid.UUID) -> int:
        """Pass after pass over the polycule until it is caught up; the events read."""
        read, waiting = 0, {polycule}
        while waiting:
            waiting, count = await self.fanout.fan_out(waiting)
            read += count
        return read

    async def messages(self) -> set[tuple[uuid.UUID, uuid.UUID, str]]:
        rows = await self.pool.fetch("SELECT endpoint_id, event_id, type FROM webhook_messages")
        return {(row["endpoint_id"], row["event_id"], row["type"]) for row in rows}


async def _account(pool: asyncpg.Pool, handle: str) -> uuid.UUID:
    account_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO accounts (id, handle, display_name, password_hash) VALUES ($1, $2, $2, 'x')",
        account_id, handle,
    )
    return account_id


@pytest.fixture
async def moved_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """A database to move into (empty until the test restores into it), dropped after."""
    name = f"ledger_test_moved_{uuid.uuid4().hex[:12]}"
    yield with_database(postgres_admin_url, name)
    await _admin(postgres_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _name_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


class Lived(NamedTuple):
    """What a ledger held when it was moved."""

    polycule: uuid.UUID
    ash: uuid.UUID
    bo: uuid.UUID
    events: list[RecordedEvent]
    messages: set[tuple[uuid.UUID, uuid.UUID, str]]


async def _lived_in(database_url: str, master: MasterKey) -> Lived:
    """Two members with webhook endpoints, a polycule they both joined, its read models and
    its webhooks fanned out."""
    pool = await create_pool(database_url, min_size=1, max_size=4)
    try:
        here = Ledger(pool, master)
        ash, bo = await _account(pool, "ash"), await _account(pool, "bob")
        for member in (ash, bo):
            await endpoints.create(
                pool, here.keyring, account_id=member, url="https://hooks.invalid/hook",
                description="", event_types=[], enabled=True, now=START,
            )
        polycule = uuid.uuid4()
        await here.do(polycule, ash, lambda s: FoundPolycule(
            **s, polycule_id=polycule, name="Pancakes", display_name="Ash"), 1)
        await here.do(polycule, ash, lambda s: InviteMember(
            **s, invitation_id=uuid.uuid4(), secret_hash="s",
            expires_at=START + timedelta(days=1)), 2)
        await here.do(polycule, bo, lambda s: AcceptInvitation(
            **s, secret_hash="s", display_name="Bo"), 3)
        await read_models_caught_up(pool)
        events = await here.store.read_stream(polycule)
        assert await here.fanned_out(polycule) == len(events)
        messages = await here.messages()
        assert messages  # bo's joining, for ash
        return Lived(polycule, ash, bo, events, messages)
    finally:
        await pool.close()


async def _goes_on_where_it_was(moved_url: str, master: MasterKey, lived: Lived) -> None:
    """The service starts on the moved database, reads the same, appends, and its read side
    and webhook fan-out take exactly what is new."""
    assert await migrate_database(moved_url) == []  # nothing to migrate, nothing refused
    pool = await create_pool(moved_url, min_size=1, max_size=4)
    try:
        there = Ledger(pool, master)
        polycule, ash, bo = lived.polycule, lived.ash, lived.bo
        # It reads the same: the same events, the same chain, the read models where they were.
        assert await there.store.read_stream(polycule) == lived.events
        async with pool.acquire() as connection:
            assert (await verify(connection)).ok
        assert await pool.fetchval(
            "SELECT version FROM polycule_read_models WHERE polycule_id = $1", polycule
        ) == len(lived.events)
        # Nothing is fanned out again.
        assert await there.fanned_out(polycule) == 0

        proposal = uuid.uuid4()
        await there.do(polycule, ash, lambda s: ProposeAgreement(
            **s, proposal_id=proposal, agreement_id=uuid.uuid4(), parties=(ash, bo),
            text=AgreementText(title="Sundays", terms="Sunday mornings are ours.")), 4)
        await there.do(polycule, bo, lambda s: Consent(**s, proposal_id=proposal, revision=1), 5)
        assert await read_models_caught_up(pool) > 0  # the read side goes on from its place

        after = await there.store.read_stream(polycule)
        new_events = after[len(lived.events):]
        assert [event.stream_version for event in after] == list(range(1, len(after) + 1))
        assert min(e.position for e in new_events) > max(e.position for e in lived.events)
        # The fan-out takes exactly the new events, once, and misses none of them.
        assert await there.fanned_out(polycule) == len(new_events)
        new_messages = await there.messages() - lived.messages
        assert {event_id for _, event_id, _ in new_messages} <= {e.event_id for e in new_events}
        assert {kind for _, _, kind in new_messages} >= {
            "proposal.awaiting_consent", "agreement.ratified"
        }
        assert await there.fanned_out(polycule) == 0
    finally:
        await pool.close()


async def test_a_ledger_moved_with_pg_dump_goes_on_where_it_was(
    database_url: str, moved_url: str, postgres_admin_url: str
) -> None:
    tools = await _tools_for(postgres_admin_url)
    master = MasterKey.generate()
    lived = await _lived_in(database_url, master)

    with tempfile.TemporaryDirectory(prefix="ledger-move-") as directory:
        dump = Path(directory) / "ledger.dump"
        _run(tools / "pg_dump", "--format=custom", f"--file={dump}", database_url)
        await _admin(postgres_admin_url, f'CREATE DATABASE "{_name_of(moved_url)}"')
        _run(tools / "pg_restore", "--exit-on-error", f"--dbname={moved_url}", str(dump))

    await _goes_on_where_it_was(moved_url, master, lived)


async def test_a_ledger_moved_to_another_server_goes_on_where_it_was(
    database_url: str, postgres_admin_url: str
) -> None:
    """Another server numbers its transactions from its own start, usually far below the
    log's: restored there as it is, the ledger goes on where it was all the same."""
    if postgres_admin_url == citus.citus_url():
        pytest.skip("a Citus coordinator's dump is restored only where Citus is loaded; the "
                    "server this test makes is plain PostgreSQL")
    tools = await _tools_for(postgres_admin_url)
    master = MasterKey.generate()
    lived = await _lived_in(database_url, master)

    with tempfile.TemporaryDirectory(prefix="ledger-move-") as directory:
        dump = Path(directory) / "ledger.dump"
        _run(tools / "pg_dump", "--format=custom", f"--file={dump}", database_url)
        server = Server(tools, Path(directory))
        server.create()
        try:
            server.start()
            await _admin(
                server.url("postgres"), 'CREATE DATABASE "ledger"',
                # Roles belong to the server, not the dump (docs/operations.md).
                "CREATE ROLE ledger_service NOLOGIN",
            )
            _run(tools / "pg_restore", "--exit-on-error", f"--dbname={server.url('ledger')}",
                 str(dump))
            await _goes_on_where_it_was(server.url("ledger"), master, lived)
        finally:
            server.stop()


class Server:
    """A PostgreSQL server of its own, made for one test: a data directory, listening only
    on a Unix socket beside it."""

    def __init__(self, tools: Path, directory: Path) -> None:
        self.tools = tools
        self.directory = directory / "server"
        self.data = self.directory / "data"
        self.port = 50000 + uuid.uuid4().int % 10000
        self.running = False

    def create(self) -> None:
        self.directory.mkdir()
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root: as Debian's postgres user, if there is one.
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root, and no postgres user to run a server as")
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
            self.directory.parent.chmod(0o711)  # a temporary directory is root's alone
        self.as_owner("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust")

    def start(self) -> None:
        self.as_owner(
            "pg_ctl", "-D", str(self.data), "-l", str(self.directory / "log"), "-w",
            "-o", f"-p {self.port} -k {self.directory} -c listen_addresses=''", "start",
        )
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.as_owner("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
            self.running = False

    def url(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={self.directory}&port={self.port}"

    def as_owner(self, tool: str, *args: str) -> None:
        command = [str(self.tools / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(
            command, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, (tool, done.stdout, done.stderr)


async def _tools_for(admin_url: str) -> Path:
    connection = await asyncpg.connect(admin_url)
    try:
        major = int(await connection.fetchval("SHOW server_version_num")) // 10000
    finally:
        await connection.close()
    found = _client_tools(major)
    if found is None:
        pytest.skip(
            f"no pg_dump and pg_restore of PostgreSQL {major} here (looked in "
            f"/usr/lib/postgresql/{major}/bin and the embedded PostgreSQL's): install "
            f"Debian's postgresql-client-{major}, or point LEDGER_TEST_DATABASE_URL at a "
            "server of the version whose tools are installed"
        )
    return found


def _run(binary: Path, *args: str) -> None:
    done = subprocess.run(
        [str(binary), *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, (binary.name, done.stderr)
