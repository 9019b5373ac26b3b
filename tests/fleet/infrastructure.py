"""The fleet's processes, each on a loopback port under one temporary directory: how they
are started and ended, ledger instances (``python -m ledger serve``) and HAProxy before
them. The databases are in ``tests/fleet/databases.py``.

Servers run as an unprivileged user when the tests run as root (PostgreSQL refuses root).
Every process is started in a session of its own and killed with its children when the
test ends, passed or failed: ``Fleet`` keeps them all.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg

from ledger.transparency.signing import new_private_key_text

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
# The Debian packages this tier needs, and the programs each one brings.
PACKAGES = {
    "haproxy": "haproxy",
    "pgbouncer": "pgbouncer",
    "pg_autoctl": "postgresql-15-auto-failover and pg-auto-failover-cli",
    str(POSTGRES_BIN / "initdb"): "postgresql-15",
}
# Who runs the servers when the tests run as root.
SERVER_USER = "postgres"
# The service's login role on every server the tier makes; the owner is ``postgres``.
SERVICE_USER = "ledger_app"
DATABASE = "ledger"
# Generous: only a machine far slower than any we run on would need as long.
PATIENCE_SECONDS = 120.0
REPOSITORY = Path(__file__).resolve().parents[2]
# The one key every instance of a fleet signs checkpoints with.
CHECKPOINT_KEY = new_private_key_text()


def missing_tools() -> list[str]:
    """The packages whose programs are not installed here."""
    return sorted({
        package for program, package in PACKAGES.items()
        if shutil.which(program) is None and not Path(program).exists()
    })


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def as_server_user(argv: Sequence[str]) -> list[str]:
    if os.geteuid() != 0:
        return list(argv)
    return ["runuser", "-u", SERVER_USER, "--", *argv]


def server_owned(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SERVER_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


async def wait_until(
    what: str, check: Callable[[], Awaitable[bool]], *, within: float = PATIENCE_SECONDS
) -> None:
    """Call ``check`` until it says yes (an error meanwhile: not yet)."""
    deadline = time.monotonic() + within
    while True:
        try:
            if await check():
                return
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, aiohttp.ClientError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within:.0f} s")
        await asyncio.sleep(0.25)


async def query(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        return await connection.fetch(sql, *args)
    finally:
        await connection.close()


@dataclass
class Process:
    """One started program (and whatever it starts: its own session, killed as a whole)."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL, with everything it started, at once."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL whatever is left."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        self.kill()

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Fleet:
    """The temporary directory and every process started in it; ``close`` ends them all."""

    directory: Path
    processes: list[Process] = field(default_factory=list)
    after: list[Process] = field(default_factory=list)  # stopped last: the servers

    def start(
        self, name: str, argv: Sequence[str], *, env: dict[str, str] | None = None,
        as_server: bool = False, cwd: Path | None = None, last: bool = False,
    ) -> Process:
        log = self.directory / f"{name}.log"
        with log.open("ab") as output:
            popen = subprocess.Popen(
                as_server_user(argv) if as_server else list(argv),
                stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, cwd=cwd or self.directory, start_new_session=True,
            )
        process = Process(name, popen, log)
        (self.after if last else self.processes).append(process)
        return process

    def run(self, argv: Sequence[str], *, as_server: bool = False,
            env: dict[str, str] | None = None) -> str:
        """Run a program to its end; its output (stderr too), or an error naming it."""
        done = subprocess.run(
            as_server_user(argv) if as_server else list(argv),
            capture_output=True, text=True, env=env, cwd=self.directory, timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stdout}{done.stderr}")
        return done.stdout + done.stderr

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        for process in reversed(self.after):
            process.stop(timeout=20)
        self.processes.clear()
        self.after.clear()


@contextlib.contextmanager
def fleet_directory() -> Iterator[Fleet]:
    # A directory of its own, not pytest's tmp_path: the servers' user must reach it, and
    # other sessions clear old pytest directories.
    directory = Path(tempfile.mkdtemp(prefix="ledger-fleet-"))
    directory.chmod(0o755)
    fleet = Fleet(directory)
    try:
        yield fleet
    finally:
        fleet.close()
        shutil.rmtree(directory, ignore_errors=True)


# -- ledger instances ---------------------------------------------------------------------


def master_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def ledger_environment(fleet: Fleet, *, database_url: str, owner: str, key: str,
                       **settings: str) -> dict[str, str]:
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": database_url,
        "LEDGER_DATABASE_OWNER_URL": owner,
        "LEDGER_MASTER_KEY": key,
        # Every instance of a fleet signs checkpoints with the one key.
        "LEDGER_CHECKPOINT_KEY": CHECKPOINT_KEY,
        "LEDGER_DATA_DIR": str(fleet.directory / "ledger-data"),
        "LEDGER_LOG_LEVEL": "warning",
        # Every person of these tests signs up from 127.0.0.1.
        "LEDGER_SIGN_UPS_PER_ADDRESS_PER_HOUR": "1000",
        # A loopback receiver over plain HTTP.
        "LEDGER_WEBHOOKS_ALLOW_PRIVATE": "true",
        "LEDGER_WEBHOOKS_ALLOW_HTTP": "true",
        "LEDGER_WEBHOOK_TIMEOUT_SECONDS": "3",
        "LEDGER_SHUTDOWN_TIMEOUT_SECONDS": "3",
    }
    environment.update({f"LEDGER_{name.upper()}": value for name, value in settings.items()})
    return environment


@dataclass
class Instance:
    """One ``python -m ledger serve`` process."""

    fleet: Fleet
    name: str
    port: int
    environment: dict[str, str]
    arguments: tuple[str, ...] = ()
    process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Instance:
        self.process = self.fleet.start(self.name, [
            sys.executable, "-m", "ledger", "serve", "--host", "127.0.0.1",
            "--port", str(self.port), *self.arguments,
        ], env=self.environment, cwd=REPOSITORY)
        return self

    async def ready(self) -> None:
        async def answers() -> bool:
            if self.process is not None and self.process.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited:\n{self.process.tail()}")
            async with aiohttp.ClientSession() as session, session.get(
                f"{self.url}/readyz", timeout=aiohttp.ClientTimeout(total=5)
            ) as response:
                return response.status == 200

        await wait_until(f"{self.name} ready", answers)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()


def ledger_tool(fleet: Fleet, environment: dict[str, str], *arguments: str) -> str:
    """``python -m ledger …`` to its end (a failure raises, with what it said)."""
    return fleet.run([sys.executable, "-m", "ledger", *arguments], env=environment)


# -- HAProxy ------------------------------------------------------------------------------


_UNAVAILABLE = (
    '{"error": {"code": "service_unavailable", "message": "no instance could answer this '
    'request; please send it again", "details": null}}'
)


def start_haproxy(fleet: Fleet, servers: dict[str, int]) -> int:
    """HAProxy in front of the named web instances, checking each one's /readyz twice a
    second; its port. Each answer names the instance that gave it (X-Ledger-Instance), and a
    request that could not connect to one instance is sent to another."""
    port = free_port()
    config = fleet.directory / "haproxy.cfg"
    lines = [
        "global", "    maxconn 2000",
        "defaults", "    mode http",
        "    timeout connect 2s", "    timeout client 120s", "    timeout server 120s",
        # A live stream is a long answer: it may stay open as long as the client keeps it.
        "    timeout tunnel 1h",
        "    retries 3", "    option redispatch", "    retry-on conn-failure",
        # HAProxy's own answers, when no instance could take a request or one died with
        # it, in the service's terms: the JSON error shape, and when to send it again.
        *(f"    http-error status {status} content-type application/json hdr Retry-After 1"
          f" string '{_UNAVAILABLE}'" for status in (502, 503, 504)),
        "frontend ledger", f"    bind 127.0.0.1:{port}", "    default_backend web",
        "backend web", "    balance leastconn",
        "    option httpchk GET /readyz", "    http-check expect status 200",
        "    default-server inter 500ms fall 2 rise 2",
        "    http-response set-header X-Ledger-Instance %s",
        *(f"    server {name} 127.0.0.1:{server_port} check"
          for name, server_port in servers.items()),
    ]
    config.write_text("\n".join(lines) + "\n")
    fleet.start("haproxy", ["haproxy", "-db", "-f", str(config)])
    return port


async def haproxy_ready(port: int) -> None:
    async def answers() -> bool:
        async with aiohttp.ClientSession() as session, session.get(
            f"http://127.0.0.1:{port}/readyz", timeout=aiohttp.ClientTimeout(total=5)
        ) as response:
            return response.status == 200

    await wait_until("HAProxy answering", answers)
