"""The command line: ``python -m ledger serve | migrate | verify | projections
rebuild|status|retry``.

Each subcommand is one small async function taking the settings and the parsed arguments
and returning the process's exit status: 0 done, 1 failed (or a broken chain), 2 misused.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import asyncpg
import structlog
import uvloop
from aiohttp import web
from tqdm import tqdm

from ledger import verify_export
from ledger.app import create_app
from ledger.collector import collector_paused, settle_for_serving
from ledger.config import ConfigurationError, Role, Settings, load_settings
from ledger.database import Database, create_pool, database, migrate_database
from ledger.http.keys import SETTINGS
from ledger.logs import configure_logging
from ledger.mail.fanout import MailFanout
from ledger.store.events import EventStore
from ledger.store.migrate import MigrationError
from ledger.store.verify import verify
from ledger.transparency.signing import new_private_key_text, rotate_key_files
from ledger.webhooks.fanout import WebhookFanout
from projections import member_read_models, read_side
from projections.read_side import ParkedPolycule, parked_polycules
from projections.rebuild import rebuild
from projections.runner import polycules_behind

log = structlog.get_logger("ledger.cli")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

Command = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[Database]:
    """The configured server, or the embedded one under the data directory for as long as
    the command runs."""
    async with database(
        settings.database_url, settings.database_owner_url, settings.data_dir
    ) as found:
        yield found


@asynccontextmanager
async def _pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """Tools work as the service does, with its role (the chain is read, never changed)."""
    async with _database(settings) as found:
        pool = await create_pool(
            found.url, min_size=1, max_size=2,
            statement_cache_size=settings.statement_cache_size,
        )
        try:
            yield pool
        finally:
            await pool.close()


async def _until_stop_is_requested() -> signal.Signals:
    """Wait for SIGTERM or SIGINT. The handlers are then removed, so that a second signal
    during a slow graceful shutdown stops the process at once."""
    loop = asyncio.get_running_loop()
    requested: asyncio.Future[signal.Signals] = loop.create_future()

    def request_stop(received: signal.Signals) -> None:
        if not requested.done():
            requested.set_result(received)

    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, request_stop, stop_signal)
    try:
        return await requested
    finally:
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(stop_signal)


async def run_app_until(
    app: web.Application,
    *,
    host: str,
    port: int,
    shutdown_timeout: float,
    wait_for_stop: Callable[[], Awaitable[object]],
) -> None:
    """Serve ``app`` until ``wait_for_stop()`` returns, then shut down gracefully.

    On the way out aiohttp stops listening first, then lets requests in flight finish for
    up to ``shutdown_timeout`` seconds (cancelling any still running), then runs the app's
    cleanup: projections, wake-ups, pool, in that order.
    """
    runner = web.AppRunner(
        app,
        access_log=None,  # the access log is the service's own (http/middleware.py)
        shutdown_timeout=shutdown_timeout,
    )
    try:
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        log.info("serving", host=host, port=port, role=app[SETTINGS].role.value)
        await wait_for_stop()
    finally:
        await runner.cleanup()


async def serve(settings: Settings, arguments: argparse.Namespace) -> int:
    host: str = arguments.host or settings.host
    port: int = arguments.port if arguments.port is not None else settings.port
    if arguments.role is not None:
        settings = settings.model_copy(update={"role": Role(arguments.role)})

    async def until_signalled() -> None:
        # Started and serving: what the process holds now, it holds to the end.
        settle_for_serving()
        received = await _until_stop_is_requested()
        log.info("stopping", signal=received.name)

    async with _database(settings) as found:
        await run_app_until(
            create_app(settings, found.url, owner_url=found.owner_url),
            host=host,
            port=port,
            shutdown_timeout=settings.shutdown_timeout_seconds,
            wait_for_stop=until_signalled,
        )
    log.info("stopped", role=settings.role.value)
    return EXIT_OK


async def migrate(settings: Settings, arguments: argparse.Namespace) -> int:
    async with _database(settings) as found:
        applied = await migrate_database(found.owner_url, found.url)
    for migration in applied:
        print(f"applied {migration.version:04d}_{migration.name}")
    if not applied:
        print("nothing to apply: the schema is up to date")
    return EXIT_OK


async def verify_chain(settings: Settings, arguments: argparse.Namespace) -> int:
    stream_id: uuid.UUID | None = arguments.stream
    async with _pool(settings) as pool:
        # For the progress bar only: a stream's version is its number of events.
        total = await (
            EventStore(pool).stream_version(stream_id) if stream_id else _count_events(pool)
        )
        with tqdm(total=total, unit="event", desc="verifying", disable=None) as bar:
            async with pool.acquire() as connection:
                # The pool hands out a proxy of a Connection; verify names the class.
                report = await verify(
                    connection, stream_id, on_progress=bar.update
                )
    checked = f"{report.events_checked} events in {report.streams_checked} streams"
    if report.ok:
        print(f"chain intact: verified {checked}")
        return EXIT_OK
    print(f"chain broken in {len(report.breaks)} stream(s); checked {checked}:")
    for found in report.breaks:
        print(f"  {found.describe()}")
    return EXIT_FAILED


async def verify_an_export(settings: Settings, arguments: argparse.Namespace) -> int:
    """What ledger/verify_export.py does on its own: no database, no settings needed."""
    argv = [str(arguments.file)]
    if arguments.checkpoint:
        argv += ["--checkpoint", str(arguments.checkpoint)]
    if arguments.keys:
        argv += ["--keys", str(arguments.keys)]
    return verify_export.main(argv)


async def new_checkpoint_key(settings: Settings, arguments: argparse.Namespace) -> int:
    print(new_private_key_text())
    return EXIT_OK


async def rotate_checkpoint_key(settings: Settings, arguments: argparse.Namespace) -> int:
    if settings.database_url is not None:
        print(
            "with DATABASE_URL the key is LEDGER_CHECKPOINT_KEY: set a new one (python -m "
            "ledger checkpoint-key new) and add the old public key to "
            "LEDGER_CHECKPOINT_RETIRED_KEYS (docs/verification.md)", file=sys.stderr,
        )
        return EXIT_USAGE
    keys = rotate_key_files(settings.data_dir)
    print(f"checkpoints are now signed by key {keys.key_id}; retired: "
          + ", ".join(key.key_id for key in keys.published() if key.status == "retired"))
    return EXIT_OK


async def _count_events(pool: asyncpg.Pool) -> int:
    """For progress bars."""
    count: int = await pool.fetchval("SELECT count(*) FROM events")
    return count


def _read_models_named(name: str | None) -> list[str]:
    known = [projection.name for projection in member_read_models()]
    if name is None:
        return known
    if name not in known:
        raise LookupError(f"unknown read model {name!r}; known read models: {', '.join(known)}")
    return [name]


async def rebuild_projections(settings: Settings, arguments: argparse.Namespace) -> int:
    try:
        names = _read_models_named(arguments.name)
    except LookupError as error:
        print(error.args[0], file=sys.stderr)
        return EXIT_USAGE
    async with _pool(settings) as pool:
        total = await _count_events(pool)
        # The command does nothing else, and the millions of rows it folds hold no cycles
        # (ledger/collector.py): the collector would only walk them again and again.
        with tqdm(
            total=total, unit="event", desc=f"rebuilding {', '.join(names)}", disable=None
        ) as bar, collector_paused():
            folded = await rebuild(
                read_side(pool), names, concurrency=arguments.jobs, on_progress=bar.update
            )
        parked = await parked_polycules(pool)
    print(f"rebuilt {', '.join(names)}: {folded} events folded, polycule by polycule")
    _print_parked(parked)
    return EXIT_OK


async def retry_parked(settings: Settings, arguments: argparse.Namespace) -> int:
    async with _pool(settings) as pool:
        results = await read_side(pool).retry(arguments.polycule)
        parked = await parked_polycules(pool)
    for result in results:
        state = "still parked" if result.parked else "caught up"
        print(f"{result.polycule_id}: {state} at version {result.version} "
              f"({result.applied} events applied)")
    if not results:
        print("no polycule is parked")
    _print_parked(parked)
    return EXIT_FAILED if parked else EXIT_OK


def _print_parked(parked: Sequence[ParkedPolycule]) -> None:
    if not parked:
        return
    print(f"{len(parked)} polycule(s) parked (their read models stop before the event named):")
    for one in parked:
        print(
            f"  {one.polycule_id} at version {one.version}: event {one.event_id} "
            f"({one.event_type}) — {one.error}; tried {one.retries} time(s)"
        )


async def show_projection_status(settings: Settings, arguments: argparse.Namespace) -> int:
    async with _pool(settings) as pool:
        webhooks_behind = await polycules_behind(pool, WebhookFanout.name)
        mail_behind = await polycules_behind(pool, MailFanout.name)
        behind = await read_side(pool).behind()
        parked = await parked_polycules(pool)
    print("the fan-outs, polycule by polycule:")
    print(f"  webhooks: {webhooks_behind} polycule(s) with events not yet turned into messages")
    # The mail fan-out runs only while mail is on; until then every polycule waits for it.
    print(f"  mail:     {mail_behind} polycule(s) with events not yet turned into notices")
    print("read models, polycule by polycule "
          f"({', '.join(projection.name for projection in member_read_models())}):")
    print(f"  {behind} polycule(s) behind their stream and waiting to catch up")
    if parked:
        _print_parked(parked)
    else:
        print("  no polycule is parked")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ledger", description="The Polycule Agreement Ledger."
    )
    commands = parser.add_subparsers(dest="command_name", required=True, metavar="COMMAND")

    serve_parser = commands.add_parser("serve", help="run the HTTP service")
    serve_parser.add_argument("--host", help="address to listen on (default: LEDGER_HOST)")
    serve_parser.add_argument("--port", type=int, help="port to listen on (default: LEDGER_PORT)")
    serve_parser.add_argument(
        "--role", choices=[role.value for role in Role],
        help="web: HTTP and live streams; worker: the asynchronous consumers (webhooks, "
        "scheduler, mail, the read side's keeper) and only the probes; all: both "
        "(default: LEDGER_ROLE, else all)",
    )
    serve_parser.set_defaults(command=serve)

    commands.add_parser("migrate", help="apply pending database migrations").set_defaults(
        command=migrate
    )

    verify_parser = commands.add_parser("verify", help="recompute and check the hash chains")
    verify_parser.add_argument("--stream", type=uuid.UUID, help="check only this stream (UUID)")
    verify_parser.set_defaults(command=verify_chain)

    export_parser = commands.add_parser(
        "verify-export",
        help="check an audit export offline: chain, Merkle tree, signatures, and that a "
        "checkpoint kept before is the start of it",
    )
    export_parser.add_argument("file", type=Path, help="the export (.jsonl)")
    export_parser.add_argument("--checkpoint", type=Path, help="a checkpoint (JSON) kept before")
    export_parser.add_argument("--keys", type=Path, help="the service's published keys (JSON)")
    export_parser.set_defaults(command=verify_an_export)

    key_parser = commands.add_parser("checkpoint-key", help="the key checkpoints are signed with")
    key_commands = key_parser.add_subparsers(dest="key_command", required=True, metavar="ACTION")
    key_commands.add_parser(
        "new", help="print a new key for LEDGER_CHECKPOINT_KEY"
    ).set_defaults(command=new_checkpoint_key)
    key_commands.add_parser(
        "rotate", help="embedded database: a new key in the data directory; the old one's "
        "public key stays published",
    ).set_defaults(command=rotate_checkpoint_key)

    projections_parser = commands.add_parser("projections", help="manage the read models")
    projection_commands = projections_parser.add_subparsers(
        dest="projections_command", required=True, metavar="ACTION"
    )
    rebuild_parser = projection_commands.add_parser(
        "rebuild",
        help="fold every polycule's stream into a read model (or all) again, one polycule "
        "at a time, while the service runs",
    )
    rebuild_parser.add_argument("name", nargs="?", help="one read model (default: all)")
    rebuild_parser.add_argument(
        "--jobs", type=int, default=4, help="polycules rebuilt at once (default: 4)"
    )
    rebuild_parser.set_defaults(command=rebuild_projections)
    projection_commands.add_parser(
        "status", help="where the read models and the log's consumers have got to"
    ).set_defaults(command=show_projection_status)
    retry_parser = projection_commands.add_parser(
        "retry", help="try the parked polycules (or one) again now"
    )
    retry_parser.add_argument(
        "--polycule", type=uuid.UUID, default=None, help="only this polycule"
    )
    retry_parser.set_defaults(command=retry_parked)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigurationError as error:
        print(error, file=sys.stderr)
        return EXIT_USAGE
    # The service's logs are its output; a tool's output is its report, so its logs go aside.
    log_stream = sys.stdout if arguments.command is serve else sys.stderr
    configure_logging(settings.log_level, settings.log_format, stream=log_stream)
    command = cast(Command, arguments.command)
    try:
        # libuv's event loop: the service spends much of its time handing bytes to sockets
        # (PostgreSQL's, its clients'), which it does in C, without Python's own loop.
        return uvloop.run(command(settings, arguments))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, MigrationError) as error:
        # Expected ways to fail (database unreachable, schema edited): a message, not a trace.
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
