"""Rewriting history as only whoever holds the database owner's rights could: consistently
enough that the hash chain alone no longer notices."""

from __future__ import annotations

import dataclasses
import uuid

import asyncpg
import orjson

from ledger.store.chain import encode_row, link
from ledger.store.events import recorded_event
from ledger.store.sql import EVENT_COLUMNS
from tests.support import tamper

_LAST = f"""
SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = $1 ORDER BY stream_version DESC LIMIT 1
"""


async def rewrite_last_event(pool: asyncpg.Pool, stream_id: uuid.UUID) -> None:
    """Say the last event was done by someone else, and recompute its hash to match."""
    last = recorded_event(await pool.fetchrow(_LAST, stream_id))
    metadata = {**last.metadata, "actor": str(uuid.uuid4())}
    rewritten = dataclasses.replace(last, metadata=metadata)
    new_hash = link(last.previous_hash, encode_row(rewritten))
    await tamper(
        pool,
        "UPDATE events SET metadata = $3::text::jsonb, hash = $4 "
        "WHERE stream_id = $1 AND stream_version = $2",
        stream_id, last.stream_version, orjson.dumps(metadata).decode(), new_hash,
    )


async def drop_last_events(pool: asyncpg.Pool, stream_id: uuid.UUID, count: int) -> None:
    """Delete the stream's last ``count`` events: what is left still chains."""
    await tamper(
        pool,
        "DELETE FROM events WHERE stream_id = $1 AND stream_version > "
        "(SELECT max(stream_version) FROM events WHERE stream_id = $1) - $2",
        stream_id, count,
    )
