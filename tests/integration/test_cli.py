"""The command line as an operator runs it: real processes against this test's database."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

import aiohttp
import asyncpg

from ledger.collector import SERVING_THRESHOLDS
from ledger.database import SERVICE_ROLE, SERVICE_ROLE_FILE, url_as
from ledger.privacy import MasterKey
from ledger.store.events import EventStore
from ledger.store.migrate import bundled_migrations
from ledger.transparency.signing import new_private_key_text
from tests.support import new_event, tamper

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def settings_url(url: str) -> str:
    """The same database, written so that Settings accepts it.

    The embedded server is reached by a Unix socket named in the query (``?host=/tmp/…``);
    Settings' URL type insists on a host in the authority, so the socket directory moves
    there, percent-encoded, which libpq and asyncpg read the same way.
    """
    parts = urlsplit(url)
    socket_dirs = parse_qs(parts.query).get("host")
    if parts.hostname or not socket_dirs:
        return url
    user = parts.username or "postgres"
    password = f":{parts.password}" if parts.password else ""
    socket_dir = quote(socket_dirs[0], safe="")
    return urlunsplit(parts._replace(netloc=f"{user}{password}@{socket_dir}", query=""))


def cli_environment(database_url: str, **settings: str) -> dict[str, str]:
    # Only this test's settings: none inherited from whoever runs the suite.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    environment["DATABASE_URL"] = settings_url(database_url)
    # With DATABASE_URL, every instance must be given the one master key, and the one key
    # checkpoints are signed with.
    environment["LEDGER_MASTER_KEY"] = MasterKey.generate().to_base64()
    environment["LEDGER_CHECKPOINT_KEY"] = new_private_key_text()
    environment.update(settings)
    return environment


@dataclass(frozen=True)
class Finished:
    status: int
    stdout: str
    stderr: str


async def start_cli(
    database_url: str, *arguments: str, **settings: str
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ledger", *arguments,
        cwd=PROJECT_ROOT,
        env=cli_environment(database_url, **settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(process: asyncio.subprocess.Process, seconds_allowed: float = 60) -> Finished:
    stdout, stderr = await asyncio.wait_for(process.communicate(), seconds_allowed)
    assert process.returncode is not None
    return Finished(process.returncode, stdout.decode(), stderr.decode())


async def run_cli(database_url: str, *arguments: str, **settings: str) -> Finished:
    return await finish(await start_cli(database_url, *arguments, **settings))


async def test_two_migrations_started_together_apply_each_file_once(
    empty_database_url: str,
) -> None:
    first, second = await asyncio.gather(
        start_cli(empty_database_url, "migrate"), start_cli(empty_database_url, "migrate")
    )
    results = await asyncio.gather(finish(first), finish(second))

    assert [result.status for result in results] == [0, 0], results
    connection = await asyncpg.connect(empty_database_url)
    try:
        rows = await connection.fetch(
            "SELECT version, count(*) AS times FROM schema_migrations GROUP BY version ORDER BY 1"
        )
    finally:
        await connection.close()
    migrations = bundled_migrations()
    assert [(row["version"], row["times"]) for row in rows] == [(m.version, 1) for m in migrations]
    # Between them the two processes report each migration applied exactly once.
    reported = "".join(result.stdout for result in results)
    for migration in migrations:
        assert reported.count(f"applied {migration.version:04d}_{migration.name}") == 1


async def test_migrate_on_an_up_to_date_database_has_nothing_to_do(database_url: str) -> None:
    result = await run_cli(database_url, "migrate")

    assert result.status == 0, result
    assert "nothing to apply" in result.stdout


async def test_verify_passes_honest_history_and_names_a_tampered_event(
    database_url: str, store: EventStore, pool: asyncpg.Pool
) -> None:
    tampered_stream, honest_stream = uuid.uuid4(), uuid.uuid4()
    events = [new_event(), new_event("FactConfirmed", who="b"), new_event("FactConfirmed", who="c")]
    await store.append(tampered_stream, 0, events)
    await store.append(honest_stream, 0, [new_event()])

    honest = await run_cli(database_url, "verify")

    assert honest.status == 0, honest
    assert "verified 4 events in 2 streams" in honest.stdout

    await tamper(
        pool,
        "UPDATE events SET data = jsonb_set(data, '{who}', '\"someone else\"') WHERE event_id = $1",
        events[1].event_id,
    )
    broken = await run_cli(database_url, "verify")
    one_stream = await run_cli(database_url, "verify", "--stream", str(honest_stream))

    assert broken.status == 1, broken
    assert str(events[1].event_id) in broken.stdout
    assert str(tampered_stream) in broken.stdout
    assert one_stream.status == 0, one_stream
    assert "verified 1 events in 1 streams" in one_stream.stdout


async def test_projections_rebuild_then_status(
    service_database_url: str, store: EventStore, pool: asyncpg.Pool
) -> None:
    """As an operator runs them: with the service's own database role."""
    for _ in range(3):
        await store.append(uuid.uuid4(), 0, [new_event(), new_event()])

    behind = await run_cli(service_database_url, "projections", "status")
    rebuilt = await run_cli(service_database_url, "projections", "rebuild", "stream_summaries")
    status = await run_cli(service_database_url, "projections", "status")

    assert "3 polycule(s) behind their stream" in behind.stdout
    assert rebuilt.status == 0, rebuilt
    assert "rebuilt stream_summaries: 6 events folded" in rebuilt.stdout
    assert await pool.fetchval("SELECT count(*) FROM stream_summaries") == 3
    assert status.status == 0, status
    assert "0 polycule(s) behind their stream" in status.stdout
    assert "no polycule is parked" in status.stdout
    # Each fan-out's backlog, polycule by polycule (listed as the read side lists them).
    assert "webhooks: 3 polycule(s) with events not yet turned into messages" in status.stdout
    assert "mail:     3 polycule(s) with events not yet turned into notices" in status.stdout


async def test_an_unknown_projection_is_refused_with_the_known_names(database_url: str) -> None:
    result = await run_cli(database_url, "projections", "rebuild", "agreements_in_force_typo")

    assert result.status == 2, result
    assert "agreements_in_force_typo" in result.stderr
    assert "stream_summaries" in result.stderr


async def test_bad_configuration_names_the_setting_and_exits_2(database_url: str) -> None:
    result = await run_cli(database_url, "migrate", LEDGER_PORT="eighty")

    assert result.status == 2, result
    assert "LEDGER_PORT" in result.stderr
    assert "Traceback" not in result.stderr


async def test_an_owner_url_without_a_database_url_is_refused_at_start() -> None:
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith("LEDGER_") and k != "DATABASE_URL"}
    environment["LEDGER_DATABASE_OWNER_URL"] = "postgresql://owner@db.invalid/ledger"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ledger", "migrate", cwd=PROJECT_ROOT, env=environment,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    result = await finish(process)

    assert result.status == 2, result
    assert "LEDGER_DATABASE_OWNER_URL is set without DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def until_ready(port: int, seconds_allowed: float = 60) -> None:
    async with aiohttp.ClientSession() as session, asyncio.timeout(seconds_allowed):
        while True:
            try:
                async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass  # not listening yet
            await asyncio.sleep(0.1)


async def test_serve_becomes_ready_and_stops_cleanly_on_sigterm(database_url: str) -> None:
    port = _free_port()
    server = await start_cli(
        database_url, "serve", "--host", "127.0.0.1", "--port", str(port),
        LEDGER_SHUTDOWN_TIMEOUT_SECONDS="3",
    )
    try:
        await until_ready(port, 30)

        server.send_signal(signal.SIGTERM)
        result = await finish(server, seconds_allowed=10)
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()

    assert result.status == 0, result
    # The service's own logs are JSON lines on stdout, one access line per request.
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    served = [line for line in lines if line["event"] == "http_request"]
    assert {"method": "GET", "path": "/readyz", "status": 200} in [
        {key: line[key] for key in ("method", "path", "status")} for line in served
    ]
    assert all(line["request_id"] and line["duration_ms"] >= 0 for line in served)
    events = [line["event"] for line in lines]
    assert "stopping" in events and events[-1] == "stopped"
    # Once serving, what start-up made is frozen out of the cycle collector's walks, and
    # the collector wakes less often (ledger/collector.py).
    settled = [line for line in lines if line["event"] == "collector_settled"]
    assert len(settled) == 1 and settled[0]["frozen"] > 10_000, settled
    assert tuple(settled[0]["thresholds"]) == SERVING_THRESHOLDS


async def test_serve_migrates_as_the_owner_and_works_as_a_role_of_its_own(
    empty_database_url: str, postgres_admin_url: str
) -> None:
    """A server as an operator sets it up: the owner's URL for migrations, and for the
    service a login role of theirs with nothing granted yet."""
    user, password = f"ledger_test_login_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin = await asyncpg.connect(postgres_admin_url)
    await admin.execute(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
    port = _free_port()
    server = await start_cli(
        url_as(empty_database_url, user, password), "serve", "--port", str(port),
        LEDGER_DATABASE_OWNER_URL=settings_url(empty_database_url),
    )
    try:
        await until_ready(port)
        connected = await admin.fetch(
            "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = $1",
            urlsplit(empty_database_url).path.lstrip("/"),
        )
        server.send_signal(signal.SIGTERM)
        result = await finish(server)
        assert result.status == 0, result
        assert await admin.fetchval("SELECT pg_has_role($1, $2, 'MEMBER')", user, SERVICE_ROLE)
        # Its pool, its listeners: every connection the service held was its own role's.
        assert {row["usename"] for row in connected} == {user}
        logged = [json.loads(line)["event"] for line in result.stdout.splitlines()]
        assert "database_role_may_rewrite_history" not in logged
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
        await admin.execute(
            f'DROP DATABASE IF EXISTS "{urlsplit(empty_database_url).path.lstrip("/")}" '
            "WITH (FORCE)"
        )
        await admin.execute(f"DROP ROLE {user}")
        await admin.close()


async def test_serve_without_a_database_url_runs_on_its_embedded_database() -> None:
    """``./dev serve`` on a machine with nothing but Python: an embedded PostgreSQL, a
    master key and the service role's password made under the data directory."""
    with tempfile.TemporaryDirectory(prefix="ledger-data-") as directory:
        await _serve_embedded(Path(directory))


async def _serve_embedded(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith("LEDGER_") and k != "DATABASE_URL"}
    port = _free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ledger", "serve", "--port", str(port),
        cwd=PROJECT_ROOT,
        env={**environment, "LEDGER_DATA_DIR": str(tmp_path)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        await until_ready(port, 120)
        server.send_signal(signal.SIGTERM)
        result = await finish(server)
    finally:
        if server.returncode is None:
            server.kill()
            out, err = await server.communicate()
            print(out.decode()[-3000:], err.decode()[-3000:])  # why it never became ready

    assert result.status == 0, result
    for kept in ("master.key", SERVICE_ROLE_FILE):
        assert (tmp_path / kept).stat().st_mode & 0o077 == 0, kept
    logged = [json.loads(line)["event"] for line in result.stdout.splitlines()]
    assert "service_role_granted" in logged
    assert "database_role_may_rewrite_history" not in logged
