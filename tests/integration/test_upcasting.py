"""Old events read through upcasters everywhere: every event type is given a new schema
version whose upcaster unwraps what the older one stored, and the service writes the older
shape. The read models' own tests, and the webhook fan-out's, then run unchanged on that
log: each of them passes only if every reader — deciders, read models, rebuilds, the
fan-out — reads events through the registry, as the deciders always have."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import pytest

from ledger.domain import Command
from ledger.events import EVENTS, DomainEvent, JsonObject
from ledger.service import ApplicationService
from ledger.store.records import NewEvent
from tests.integration.test_agreement_projections import *  # noqa: F403
from tests.integration.test_disclosure_projections import *  # noqa: F403
from tests.integration.test_read_side import *  # noqa: F403
from tests.integration.test_repair_projections import *  # noqa: F403
from tests.integration.test_webhook_fanout import *  # noqa: F403

OLDER = "stored before"


def unwrap(data: JsonObject) -> JsonObject:
    inner: JsonObject = data[OLDER]
    return inner


@pytest.fixture(autouse=True)
def events_stored_in_an_older_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in EVENTS.names():
        model = EVENTS.model_of(name)
        older = model.schema_version
        monkeypatch.setattr(model, "schema_version", older + 1)
        monkeypatch.setitem(EVENTS._upcasters, (name, older), unwrap)

    write_current = ApplicationService._to_new_events

    async def write_older(
        self: ApplicationService, stream_id: UUID, command: Command,
        decided: Sequence[DomainEvent], metadata: dict[str, Any],
    ) -> list[NewEvent]:
        return [
            dataclasses.replace(
                event, schema_version=event.schema_version - 1, data={OLDER: event.data}
            )
            for event in await write_current(self, stream_id, command, decided, metadata)
        ]

    monkeypatch.setattr(ApplicationService, "_to_new_events", write_older)
