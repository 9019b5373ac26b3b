"""Small builders shared by the tests."""

from __future__ import annotations

import uuid
from typing import Any

from ledger.store.records import NewEvent


def new_event(event_type: str = "FactRecorded", **data: Any) -> NewEvent:
    return NewEvent(
        event_id=uuid.uuid4(),
        event_type=event_type,
        schema_version=1,
        data=data or {"note": "a fact of the polycule"},
        metadata={"actor": "member-1", "command_id": str(uuid.uuid4()), "request_id": "test"},
    )
