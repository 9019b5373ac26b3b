"""The fleet's databases: a PostgreSQL cluster of its own, PgBouncer in front of one, and a
pg_auto_failover formation (a monitor, a primary and a secondary with synchronous
replication), each under the fleet's temporary directory on loopback ports."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from tests.fleet.infrastructure import (
    DATABASE,
    POSTGRES_BIN,
    SERVICE_USER,
    Fleet,
    Process,
    free_port,
    query,
    server_owned,
    wait_until,
)

# -- PostgreSQL ---------------------------------------------------------------------------


def owner_url(port: int, database: str = DATABASE) -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/{database}"


def service_url(*ports: int, database: str = DATABASE, host: str = "127.0.0.1") -> str:
    """As the service's role; several ports: every one of them, the primary wherever it is."""
    hosts = ",".join(f"{host}:{port}" for port in ports)
    attributes = "?target_session_attrs=read-write" if len(ports) > 1 else ""
    return f"postgresql://{SERVICE_USER}@{hosts}/{database}{attributes}"


async def make_service_role(url: str) -> None:
    """The service's login role (its privileges come from the ledger's migrations)."""
    await query(url, f"CREATE ROLE {SERVICE_USER} LOGIN")


def start_postgres(fleet: Fleet, name: str = "postgres") -> int:
    """A PostgreSQL 15 cluster of the tier's own, with the ledger's database; its port."""
    data = server_owned(fleet.directory / name)
    port = free_port()
    initdb = [str(POSTGRES_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
              "--no-sync", "-E", "UTF8"]
    fleet.run(initdb, as_server=True)
    fleet.start(name, [
        str(POSTGRES_BIN / "postgres"), "-D", str(data), "-p", str(port),
        "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={data}",
        "-c", "fsync=off", "-c", "max_connections=200",
    ], as_server=True, last=True)
    return port


async def postgres_ready(port: int) -> None:
    await wait_until(
        f"PostgreSQL on {port}",
        lambda: _answers(owner_url(port, "postgres")),
    )
    await query(owner_url(port, "postgres"), f"CREATE DATABASE {DATABASE}")
    await make_service_role(owner_url(port))


async def _answers(url: str) -> bool:
    await query(url, "SELECT 1")
    return True


def start_pgbouncer(fleet: Fleet, postgres_port: int) -> int:
    """PgBouncer in transaction pooling mode in front of that PostgreSQL; its port.

    Fewer server connections than the service's pool holds, so that consecutive
    statements of one client really do run on different server connections."""
    port = free_port()
    directory = server_owned(fleet.directory / "pgbouncer")
    users = directory / "users.txt"
    users.write_text(f'"{SERVICE_USER}" ""\n"postgres" ""\n')
    config = directory / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"* = host=127.0.0.1 port={postgres_port}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {users}\n"
        "pool_mode = transaction\n"
        "default_pool_size = 4\n"
        "max_client_conn = 200\n"
    )
    fleet.start("pgbouncer", ["pgbouncer", str(config)], as_server=True)
    return port


# -- pg_auto_failover ---------------------------------------------------------------------

# The monitor decides within seconds rather than the default half-minute: a node is
# checked every second, and a primary silent for 3 s (5 s to demote itself) is replaced.
_MONITOR_SETTINGS = {
    "pgautofailover.health_check_period": "1000",
    "pgautofailover.health_check_timeout": "1000",
    "pgautofailover.health_check_max_retries": "1",
    "pgautofailover.health_check_retry_delay": "500",
    "pgautofailover.node_considered_unhealthy_timeout": "3000",
    "pgautofailover.primary_demote_timeout": "5000",
}


@dataclass
class Node:
    name: str
    port: int
    process: Process | None = None


@dataclass
class Formation:
    """A pg_auto_failover monitor and two Postgres nodes, synchronous replication between
    them (pg_auto_failover's default with one standby: ``ANY 1 (…)``)."""

    fleet: Fleet
    monitor_port: int = field(default_factory=free_port)
    nodes: list[Node] = field(default_factory=list)

    @property
    def directory(self) -> Path:
        return self.fleet.directory / "formation"

    def _env(self) -> dict[str, str]:
        # pg_autoctl keeps its state under the XDG directories: the temporary directory's.
        base = self.directory
        return {
            "PATH": f"{POSTGRES_BIN}:/usr/bin:/bin:/usr/sbin:/sbin",
            "HOME": str(base),
            "XDG_CONFIG_HOME": str(base / "config"),
            "XDG_DATA_HOME": str(base / "data"),
            "XDG_RUNTIME_DIR": str(base / "run"),
            "PG_CONFIG": str(POSTGRES_BIN / "pg_config"),
        }

    @property
    def monitor_url(self) -> str:
        return f"postgresql://autoctl_node@127.0.0.1:{self.monitor_port}/pg_auto_failover?sslmode=disable"

    def _autoctl(self, *arguments: str) -> list[str]:
        # runuser resets the environment: env(1) sets it again for pg_autoctl.
        return ["env", *(f"{k}={v}" for k, v in self._env().items()), "pg_autoctl", *arguments]

    async def start_monitor(self) -> None:
        server_owned(self.directory)
        data = self.directory / "monitor"
        self.fleet.run(self._autoctl(
            "create", "monitor", "--pgdata", str(data), "--pgport", str(self.monitor_port),
            "--hostname", "127.0.0.1", "--auth", "trust", "--no-ssl",
        ), as_server=True)
        self.fleet.run(self._autoctl(
            "config", "set", "--pgdata", str(data), "postgresql.listen_addresses", "127.0.0.1",
        ), as_server=True)
        self.fleet.start("monitor", self._autoctl("run", "--pgdata", str(data)),
                         as_server=True, last=True)
        url = owner_url(self.monitor_port, "pg_auto_failover")
        await wait_until("the monitor", lambda: _answers(url))
        connection = await asyncpg.connect(url)
        try:
            for name, value in _MONITOR_SETTINGS.items():
                await connection.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            await connection.execute("SELECT pg_reload_conf()")
        finally:
            await connection.close()

    def start_node(self, name: str) -> Node:
        node = Node(name, free_port())
        node.process = self.fleet.start(name, self._autoctl(
            "create", "postgres", "--pgdata", str(self.directory / name),
            "--pgport", str(node.port), "--hostname", "127.0.0.1", "--listen", "127.0.0.1",
            "--name", name, "--dbname", DATABASE, "--auth", "trust", "--no-ssl",
            "--monitor", self.monitor_url, "--run",
        ), as_server=True, last=True)
        self.nodes.append(node)
        return node

    async def states(self) -> dict[str, tuple[str, str]]:
        """Each node's reported and assigned state, as the monitor knows them."""
        rows = await query(
            owner_url(self.monitor_port, "pg_auto_failover"),
            "SELECT nodename, reportedstate::text, goalstate::text FROM pgautofailover.node",
        )
        return {row[0]: (row[1], row[2]) for row in rows}

    async def wait_for(self, wanted: dict[str, str], *, nudge: Node | None = None) -> None:
        """Until each named node reports the wanted state (and is assigned it).

        ``nudge``: a primary whose standby is being built: pg_basebackup waits for a
        checkpoint, spread over minutes unless one is asked for."""

        async def reached() -> bool:
            if nudge is not None:
                with contextlib.suppress(OSError, asyncpg.PostgresError):
                    await query(owner_url(nudge.port, "postgres"), "CHECKPOINT")
            states = await self.states()
            return all(states.get(name) == (state, state) for name, state in wanted.items())

        await wait_until(f"the formation reaching {wanted}", reached)

    async def start(self) -> None:
        """The monitor, then a primary, then its synchronous secondary."""
        await self.start_monitor()
        first = self.start_node("node1")
        await self.wait_for({"node1": "single"})
        await make_service_role(owner_url(first.port))
        self.start_node("node2")
        await self.wait_for({"node1": "primary", "node2": "secondary"}, nudge=first)

    async def primary(self) -> Node:
        """The node the monitor has made the primary (a dead node's last report may still
        say primary: what it is assigned tells)."""
        states = await self.states()
        return next(node for node in self.nodes if states[node.name][1] in {
            "primary", "wait_primary", "single",
        })

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]
