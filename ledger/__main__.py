"""The command line: ``python -m ledger serve | migrate | verify | projections rebuild|status``.

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
from typing import Any, cast

import asyncpg
import structlog
from aiohttp import web
from tqdm import tqdm

from ledger.config import ConfigurationError, Settings, load_settings
from ledger.database import create_pool, database_url
from ledger.http.app import create_app, migrate_database
from ledger.logs import configure_logging
from ledger.store.events import EventStore
from ledger.store.migrate import MigrationError
from ledger.store.verify import verify
from projections import default_projections
from projections.runner import Projection, count_events, projection_status, rebuild

log = structlog.get_logger("ledger.cli")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

Command = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]


@asynccontextmanager
async def _database_url(settings: Settings) -> AsyncIterator[str]:
    """The configured server, or the embedded one under the data directory for as long as
    the command runs."""
    configured = str(settings.database_url) if settings.database_url else None
    async with database_url(configured, settings.data_dir) as url:
        yield url


@asynccontextmanager
async def _pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    async with _database_url(settings) as url:
        pool = await create_pool(url, min_size=1, max_size=2)
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
        log.info("serving", host=host, port=port)
        await wait_for_stop()
    finally:
        await runner.cleanup()


async def serve(settings: Settings, arguments: argparse.Namespace) -> int:
    host: str = arguments.host or settings.host
    port: int = arguments.port if arguments.port is not None else settings.port

    async def until_signalled() -> None:
        received = await _until_stop_is_requested()
        log.info("stopping", signal=received.name)

    async with _database_url(settings) as url:
        await run_app_until(
            create_app(settings, url),
            host=host,
            port=port,
            shutdown_timeout=settings.shutdown_timeout_seconds,
            wait_for_stop=until_signalled,
        )
    log.info("stopped")
    return EXIT_OK


async def migrate(settings: Settings, arguments: argparse.Namespace) -> int:
    async with _database_url(settings) as url:
        applied = await migrate_database(url)
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
            EventStore(pool).stream_version(stream_id) if stream_id else count_events(pool)
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


def _projections_named(name: str | None) -> list[Projection]:
    known = default_projections()
    if name is None:
        return known
    selected = [projection for projection in known if projection.name == name]
    if not selected:
        names = ", ".join(projection.name for projection in known)
        raise LookupError(f"unknown projection {name!r}; known projections: {names}")
    return selected


async def rebuild_projections(settings: Settings, arguments: argparse.Namespace) -> int:
    try:
        selected = _projections_named(arguments.name)
    except LookupError as error:
        print(error.args[0], file=sys.stderr)
        return EXIT_USAGE
    async with _pool(settings) as pool:
        total = await count_events(pool)
        for projection in selected:
            with tqdm(
                total=total, unit="event", desc=f"rebuilding {projection.name}", disable=None
            ) as bar:
                applied = await rebuild(
                    pool,
                    projection,
                    batch_size=settings.projection_batch_size,
                    on_progress=bar.update,
                )
            print(f"rebuilt {projection.name}: {applied} events applied")
    return EXIT_OK


async def show_projection_status(settings: Settings, arguments: argparse.Namespace) -> int:
    projections = default_projections()
    async with _pool(settings) as pool:
        statuses = {status.name: status for status in await projection_status(pool, projections)}
    print(f"{'projection':<24} {'position':>12} {'behind':>10}  updated")
    for projection in projections:
        status = statuses.get(projection.name)
        if status is None:
            print(f"{projection.name:<24} {'-':>12} {'-':>10}  never run")
            continue
        print(
            f"{status.name:<24} {status.checkpoint_position:>12} {status.events_behind:>10}  "
            f"{status.updated_at.isoformat()}"
        )
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ledger", description="The Polycule Agreement Ledger."
    )
    commands = parser.add_subparsers(dest="command_name", required=True, metavar="COMMAND")

    serve_parser = commands.add_parser("serve", help="run the HTTP service")
    serve_parser.add_argument("--host", help="address to listen on (default: LEDGER_HOST)")
    serve_parser.add_argument("--port", type=int, help="port to listen on (default: LEDGER_PORT)")
    serve_parser.set_defaults(command=serve)

    commands.add_parser("migrate", help="apply pending database migrations").set_defaults(
        command=migrate
    )

    verify_parser = commands.add_parser("verify", help="recompute and check the hash chains")
    verify_parser.add_argument("--stream", type=uuid.UUID, help="check only this stream (UUID)")
    verify_parser.set_defaults(command=verify_chain)

    projections_parser = commands.add_parser("projections", help="manage the read models")
    projection_commands = projections_parser.add_subparsers(
        dest="projections_command", required=True, metavar="ACTION"
    )
    rebuild_parser = projection_commands.add_parser(
        "rebuild", help="empty a projection (or all) and fold the whole log into it again"
    )
    rebuild_parser.add_argument("name", nargs="?", help="one projection (default: all)")
    rebuild_parser.set_defaults(command=rebuild_projections)
    projection_commands.add_parser(
        "status", help="where each projection has got to"
    ).set_defaults(command=show_projection_status)
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
        return asyncio.run(command(settings, arguments))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, MigrationError) as error:
        # Expected ways to fail (database unreachable, schema edited): a message, not a trace.
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
