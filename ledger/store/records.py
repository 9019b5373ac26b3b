"""What the store takes in and gives back; it knows nothing of the domain's event types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class EventMetadata:
    """Who and what caused an event. Never holds personal text."""

    actor: str
    command_id: UUID | None = None
    correlation_id: UUID | None = None
    request_id: str | None = None
    # What request an Idempotency-Key was first sent with (a digest of its method, path and
    # body), sealed under the actor's key: a retry is recognised by it, a different request
    # under the same key refused, and after erasure nothing of it can be tested against.
    request_fingerprint: JsonObject | None = None

    def to_json(self) -> JsonObject:
        data: JsonObject = {
            "actor": self.actor,
            "command_id": str(self.command_id) if self.command_id else None,
            "correlation_id": str(self.correlation_id) if self.correlation_id else None,
            "request_id": self.request_id,
        }
        if self.request_fingerprint is not None:
            data["request_fingerprint"] = self.request_fingerprint
        return data


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event about to be appended, already encoded as JSON-ready data."""

    event_id: UUID
    event_type: str
    schema_version: int
    data: JsonObject
    metadata: JsonObject = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    position: int
    transaction_id: int
    stream_id: UUID
    stream_version: int
    event_id: UUID
    event_type: str
    schema_version: int
    data: JsonObject
    metadata: JsonObject
    recorded_at: datetime
    previous_hash: bytes
    hash: bytes


@dataclass(frozen=True, slots=True)
class AppendResult:
    stream_id: UUID
    # The stream's version after the append.
    version: int
