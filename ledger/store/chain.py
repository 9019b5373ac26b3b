"""The hash chain that makes each polycule's history tamper-evident.

Every event's hash is ``SHA-256(previous_hash || canonical encoding)`` and the first
event of a stream links to 32 zero bytes. The canonical encoding is UTF-8 JSON with
sorted keys and no insignificant whitespace over the fields that make the event what it
is; the chain is computed over the stored form, so personal text that is encrypted (and
later crypto-shredded) still verifies. Anyone holding an export can recompute it offline
with nothing but this module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

import orjson

GENESIS_HASH = bytes(32)


def encode_json(value: Any) -> str:
    """Canonical JSON text: sorted keys, no spaces, UTF-8 text as is.

    Event data holds strings, integers within 64 bits, booleans, null, lists and objects —
    never floats: PostgreSQL's jsonb keeps numbers as decimals, and a float would not read
    back as the same text.
    """
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def canonical_encoding(
    *,
    stream_id: UUID,
    stream_version: int,
    event_id: UUID,
    event_type: str,
    schema_version: int,
    data: Any,
    metadata: Any,
    recorded_at: datetime,
) -> bytes:
    """The bytes an event's hash is taken over (after the previous hash): the event as one
    canonical JSON object, its recorded time as whole microseconds since 1970 in UTC."""
    return orjson.dumps(
        {
            "data": data,
            "event_id": event_id,
            "event_type": event_type,
            "metadata": metadata,
            "recorded_at_us": epoch_microseconds(recorded_at),
            "schema_version": schema_version,
            "stream_id": stream_id,
            "stream_version": stream_version,
        },
        option=orjson.OPT_SORT_KEYS,
        default=_uuid_as_text,
    )


def _uuid_as_text(value: Any) -> str:
    # orjson writes uuid.UUID itself; asyncpg reads UUIDs back as its own subclass.
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} cannot be part of an event")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def epoch_microseconds(moment: datetime) -> int:
    """Exact (no float rounding) and the same whatever time zone ``moment`` is in."""
    return (moment - _EPOCH) // _MICROSECOND


def link(previous_hash: bytes, encoded_event: bytes) -> bytes:
    """The event's hash: SHA-256 over the previous event's hash and this event's bytes."""
    return hashlib.sha256(previous_hash + encoded_event).digest()


@dataclass(frozen=True)
class ChainBreak:
    """The first event of a stream whose stored chain does not match its contents."""

    stream_id: UUID
    stream_version: int
    position: int
    event_id: UUID
    reason: str

    def describe(self) -> str:
        return (
            f"stream {self.stream_id}: event {self.event_id} "
            f"(version {self.stream_version}, position {self.position}): {self.reason}"
        )


class ChainRow(Protocol):
    """The columns verification needs (a RecordedEvent or an exported row both fit)."""

    @property
    def stream_id(self) -> UUID: ...
    @property
    def stream_version(self) -> int: ...
    @property
    def position(self) -> int: ...
    @property
    def event_id(self) -> UUID: ...
    @property
    def event_type(self) -> str: ...
    @property
    def schema_version(self) -> int: ...
    @property
    def data(self) -> Any: ...
    @property
    def metadata(self) -> Any: ...
    @property
    def recorded_at(self) -> datetime: ...
    @property
    def previous_hash(self) -> bytes: ...
    @property
    def hash(self) -> bytes: ...


def encode_row(row: ChainRow) -> bytes:
    """The canonical encoding of a stored (or exported) event."""
    return canonical_encoding(
        stream_id=row.stream_id,
        stream_version=row.stream_version,
        event_id=row.event_id,
        event_type=row.event_type,
        schema_version=row.schema_version,
        data=row.data,
        metadata=row.metadata,
        recorded_at=row.recorded_at,
    )


class StreamVerifier:
    """Checks one stream's events fed in version order, without holding them in memory."""

    def __init__(self) -> None:
        self._previous = GENESIS_HASH
        self._expected_version = 1

    def check(self, row: ChainRow) -> ChainBreak | None:
        def broken(reason: str) -> ChainBreak:
            return ChainBreak(row.stream_id, row.stream_version, row.position, row.event_id, reason)

        if row.stream_version != self._expected_version:
            return broken(f"expected version {self._expected_version} (an event is missing)")
        if row.previous_hash != self._previous:
            return broken("previous_hash does not match the hash of the event before it")
        recomputed = link(self._previous, encode_row(row))
        if recomputed != row.hash:
            return broken("contents do not match the stored hash (altered after it was written)")
        self._previous = row.hash
        self._expected_version += 1
        return None


def first_break(rows: Iterable[ChainRow]) -> ChainBreak | None:
    """Walk one stream's events in version order; name the first that does not match."""
    verifier = StreamVerifier()
    for row in rows:
        found = verifier.check(row)
        if found:
            return found
    return None
