"""The polycules as a consumer of the whole log sees them: each event judged by its
polycule as it was just after that event (who was a member then, who could read it then).

The consumers that tell people of events (the webhook fan-out, polycule by polycule; the
mail fan-out, along the whole log) follow a little behind the head, so the service's own
cache of latest states does not serve them: each keeps its own, folding in from the
stream the events of a polycule it skipped (those that tell nobody anything).
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from ledger.domain.polycules import Polycule, polycule_decider
from ledger.service import ApplicationService, StateCache
from ledger.store.records import RecordedEvent
from ledger.webhooks.catalogue import HANDLED_EVENTS, Notice, notices_for


class PolyculesFollowed:
    def __init__(self, service: ApplicationService) -> None:
        self._service = service
        self._states = StateCache()

    async def notices(
        self, events: Sequence[RecordedEvent]
    ) -> list[tuple[RecordedEvent, Notice]]:
        """What each of ``events`` tells whom (ledger/webhooks/catalogue.py), each judged by
        its polycule just after it; in the order of ``events``."""
        told: list[tuple[RecordedEvent, Notice]] = []
        for event in events:
            if event.event_type not in HANDLED_EVENTS:
                # Nobody is told of it; folded in now if its polycule's state is at hand
                # (cheaper than reading it from the stream at the polycule's next notice).
                self._fold_if_next(event)
                continue
            polycule = await self.just_after(event)
            told.extend(
                (event, notice) for notice in notices_for(
                    event.event_type, event.data, event.stream_id, polycule, actor_of(event)
                )
            )
        return told

    async def just_after(self, event: RecordedEvent) -> Polycule:
        """The event's polycule with the event applied."""
        polycule = await self._state_before(event)
        polycule = polycule_decider.evolve(polycule, self._service.decode_for_deciding(event))
        self._states.put(event.stream_id, polycule_decider, polycule, event.stream_version)
        return polycule

    def _fold_if_next(self, event: RecordedEvent) -> None:
        cached = self._states.get(event.stream_id, polycule_decider)
        if cached is not None and cached[1] == event.stream_version - 1:
            polycule = polycule_decider.evolve(
                cached[0], self._service.decode_for_deciding(event)
            )
            self._states.put(event.stream_id, polycule_decider, polycule, event.stream_version)

    async def _state_before(self, event: RecordedEvent) -> Polycule:
        cached = self._states.get(event.stream_id, polycule_decider)
        if cached is not None:
            state, version = cached
            if version == event.stream_version - 1:
                return state
            if version < event.stream_version - 1:
                # Events of this polycule it did not need (nobody is told of them) are
                # folded in from the stream.
                for missed in await self._service.read_between(
                    event.stream_id, version, event.stream_version - 1
                ):
                    state = polycule_decider.evolve(
                        state, self._service.decode_for_deciding(missed)
                    )
                return state
        return await self._service.load_until(
            event.stream_id, polycule_decider, event.stream_version - 1
        )


def actor_of(event: RecordedEvent) -> UUID | None:
    """Who did it (nobody is told of what they did themselves); None for the ledger."""
    try:
        return UUID(str(event.metadata.get("actor")))
    except ValueError:
        return None
