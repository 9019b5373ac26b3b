"""The service as a benchmark runs it: in a process of its own, beside a bare handler.

``python -m bench.served`` builds the real service with the application factory, from the
same environment as ``python -m ledger serve`` (DATABASE_URL, LEDGER_MASTER_KEY, any
LEDGER_* setting), and serves it on a TCP port of 127.0.0.1. In the same process, on the
same event loop, a second aiohttp application answers ``GET /bare`` with a small JSON body
and nothing else: no middleware, no database. It is what an aiohttp handler costs on this
machine, for the service's reads to be compared with.

Both listen on ports the system chooses; the process prints them as one line of JSON
(``{"service": 41234, "bare": 41235}``) once both accept connections, and serves until it
is sent SIGTERM or SIGINT. ``ServedLedger`` starts it from a benchmark and stops it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import asyncpg
import uvloop
from aiohttp import web

from ledger.app import create_app
from ledger.collector import settle_for_serving
from ledger.config import load_settings
from ledger.logs import configure_logging

REPOSITORY = Path(__file__).resolve().parents[1]
BARE_BODY = {"status": "ok", "polycule": "bench", "members": 2}


async def bare(request: web.Request) -> web.Response:
    return web.json_response(BARE_BODY)


async def listen(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port: int = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


async def serve() -> None:
    settings = load_settings()
    if settings.database_url is None:
        raise SystemExit("DATABASE_URL must name the benchmark's database")
    configure_logging(settings.log_level, settings.log_format, stream=sys.stderr)
    bare_app = web.Application()
    bare_app.router.add_get("/bare", bare)
    service, service_port = await listen(create_app(settings, settings.database_url))
    bare_runner, bare_port = await listen(bare_app)
    print(json.dumps({"service": service_port, "bare": bare_port}), flush=True)
    settle_for_serving()  # as `python -m ledger serve` does once it serves
    await until_stopped(bare_runner, service)


async def until_stopped(*runners: web.AppRunner) -> None:
    """Serve until SIGTERM or SIGINT, then clean ``runners`` up, in order."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, stop.set)
    try:
        await stop.wait()
    finally:
        for runner in runners:
            await runner.cleanup()


def cpu_seconds_of(pid: int) -> float:
    """The processor time process ``pid`` has used so far, its own and the kernel's on its
    behalf (Linux's /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # utime and stime: the 14th and 15th fields, counted after the command's name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class DatabaseMeter:
    """The processor time of the database's backends serving one database, read from
    Linux's /proc: the server must be on this machine (a loopback address or a Unix
    socket); elsewhere nothing is measured."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def cpu_seconds(self) -> dict[int, float] | None:
        """Each backend's processor time so far (this meter's own left out), or None."""
        pids = await self._connection.fetch(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        seen = {}
        for row in pids:
            try:
                seen[row["pid"]] = cpu_seconds_of(row["pid"])
            except (FileNotFoundError, ProcessLookupError):
                continue  # gone meanwhile, or not a process of this machine
            except PermissionError:
                return None
        return seen

    async def spent_since(self, before: dict[int, float]) -> float | None:
        """The processor time the backends have used since ``before`` (``cpu_seconds``);
        a backend that began meanwhile counts from nothing."""
        after = await self.cpu_seconds()
        if after is None:
            return None
        return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())

    @staticmethod
    async def of(url: str) -> DatabaseMeter | None:
        """A meter when the server at ``url`` runs on this machine."""
        connection = await asyncpg.connect(url)
        # NULL over a Unix socket.
        server = await connection.fetchval("SELECT host(inet_server_addr())")
        if server not in (None, "127.0.0.1", "::1"):
            await connection.close()
            return None
        return DatabaseMeter(connection)

    async def close(self) -> None:
        await self._connection.close()


class ChildProcess:
    """``python -m MODULE`` (a module of this repository) as a child process, for as long as
    a ``with`` block. Its first line of output is JSON saying where it listens, handed to
    ``listening``; at the block's end it is sent SIGTERM (killed if it has not stopped in
    30 s)."""

    module = ""

    def __init__(self, environment: dict[str, str] | None = None) -> None:
        self._environment = {**os.environ, **(environment or {})}
        self._process: subprocess.Popen[str] | None = None

    def listening(self, announced: dict[str, Any]) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._process = subprocess.Popen(
            [sys.executable, "-m", self.module],
            cwd=REPOSITORY, env=self._environment, stdout=subprocess.PIPE, text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.module} exited at start ({self._process.wait()})")
        self.listening(json.loads(line))
        return self

    def cpu_seconds(self) -> float:
        """The processor time the child has used so far (``cpu_seconds_of``)."""
        assert self._process is not None
        return cpu_seconds_of(self._process.pid)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._process is None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


class ServedLedger(ChildProcess):
    """``python -m bench.served``: the service and the bare handler."""

    module = "bench.served"
    base = ""
    bare_url = ""

    def listening(self, announced: dict[str, Any]) -> None:
        self.base = f"http://127.0.0.1:{announced['service']}"
        self.bare_url = f"http://127.0.0.1:{announced['bare']}/bare"


if __name__ == "__main__":
    uvloop.run(serve())  # the event loop `python -m ledger serve` runs on
