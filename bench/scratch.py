"""What every benchmark needs: a scratch database, made for the run and dropped after it.

Uses ``DATABASE_URL`` when it is set (the database is created and dropped on that server),
else an embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@asynccontextmanager
async def scratch_database(server_url: str) -> AsyncIterator[str]:
    """The URL of a new, empty database on ``server_url``; dropped when the block ends."""
    name = f"ledger_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_url, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def run_against_postgres(bench: Callable[[str], Awaitable[int]]) -> int:
    """Run ``bench`` with a server URL: DATABASE_URL's, or an embedded server's."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return asyncio.run(bench(url))
    import pgserver

    with tempfile.TemporaryDirectory(prefix="ledger-bench-pg-") as directory:
        server = pgserver.get_server(Path(directory), cleanup_mode="stop")
        try:
            return asyncio.run(bench(str(server.get_uri())))
        finally:
            server.cleanup()
