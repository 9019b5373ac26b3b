"""The polycules as the fan-outs see them: each event judged by its polycule as it was just
after that event (who was a member then, who could read it then).

The consumers that tell people of events (the webhook and mail fan-outs, each polycule by
polycule: projections/runner.py) follow a little behind the head, so the service's own
cache of latest states does not serve them: each keeps its own, folding in from the
stream the events of a polycule it skipped (those that tell nobody anything).

Nor do the service's snapshots (ledger/snapshots.py), which stand near the head. So the
followers keep snapshots of their own, under ``FOLLOWED``, each time a polycule's state
passes another ``FOLLOWED_EVERY`` events: a worker started again (after a deploy, or after
being away while people wrote) folds each polycule from its latest such snapshot, never
from the polycule's first event. (Less often than the service's: a follower is started
seldom, and a fold of a few hundred events costs it less than keeping a state that often.)
And as a worker stops in good order (a deploy), it keeps where each polycule it holds
stands (``keep_latest``), so the worker that follows it folds nothing it had folded.
A snapshot is the fold of the stream up to its version, whatever becomes of the pass that
made it.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from uuid import UUID

import structlog

from ledger import snapshots
from ledger.domain.polycules import Polycule, polycule_decider
from ledger.service import ApplicationService, StateCache
from ledger.store.records import RecordedEvent
from ledger.webhooks.catalogue import HANDLED_EVENTS, Notice, notices_for

log = structlog.get_logger(__name__)

# The name the followers' snapshots are kept under, beside the service's own, and how
# many events apart.
FOLLOWED = "polycule_followed"
FOLLOWED_EVERY = 500
# At a stop, a state is kept only this many events or more past its last snapshot (fewer
# cost the next worker less to fold than the write), and only for so long in all (seconds):
# the stop is not held up by a database gone slow.
KEEP_AT_STOP_AFTER = 20
KEEP_AT_STOP_SECONDS = 5.0
# How many polycules' states a follower holds (the least recently followed leave first).
HELD = 2_000


class PolyculesFollowed:
    def __init__(self, service: ApplicationService) -> None:
        self._service = service
        self._states = StateCache(capacity=HELD)
        # The version of each polycule's latest snapshot this follower knows of (read or
        # kept), for as many polycules as it holds states of; one forgotten is at worst
        # kept again at the stop.
        self._kept: OrderedDict[UUID, int] = OrderedDict()
        self._snapshots = (
            None if service.snapshots is None
            else service.snapshots.alongside(FOLLOWED, polycule_decider)
        )

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
                await self._fold_if_next(event)
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
        polycule, version = await self._state_before(event)
        polycule = polycule_decider.evolve(polycule, self._service.decode_for_deciding(event))
        await self._advanced(event.stream_id, polycule, version, event.stream_version)
        return polycule

    async def _fold_if_next(self, event: RecordedEvent) -> None:
        cached = self._states.get(event.stream_id, polycule_decider)
        if cached is not None and cached[1] == event.stream_version - 1:
            polycule = polycule_decider.evolve(
                cached[0], self._service.decode_for_deciding(event)
            )
            await self._advanced(event.stream_id, polycule, cached[1], event.stream_version)

    async def _advanced(
        self, stream_id: UUID, polycule: Polycule, before: int, after: int
    ) -> None:
        """The polycule's state moved from version ``before`` to ``after``: kept, and kept
        as a snapshot too when it passed another ``FOLLOWED_EVERY`` events."""
        self._states.put(stream_id, polycule_decider, polycule, after)
        if self._snapshots is not None and snapshots.due(before, after, FOLLOWED_EVERY):
            await self._snapshots.keep(stream_id, polycule_decider, polycule, after)
            self._known_kept(stream_id, after)

    async def keep_latest(self) -> int:
        """As the worker stops in good order: each polycule's latest state this follower
        holds is kept as a snapshot, where it has moved ``KEEP_AT_STOP_AFTER`` events or
        more past its last one, for at most ``KEEP_AT_STOP_SECONDS``. How many were kept.
        Best effort, as every snapshot: one not kept is a fold for the next worker."""
        if self._snapshots is None:
            return 0
        moved = [
            (stream_id, state, version)
            for stream_id, state, version in self._states.held(polycule_decider)
            if version - self._kept.get(stream_id, 0) >= KEEP_AT_STOP_AFTER
        ]
        kept = 0
        try:
            async with asyncio.timeout(KEEP_AT_STOP_SECONDS):
                for stream_id, state, version in moved:
                    await self._snapshots.keep(stream_id, polycule_decider, state, version)
                    self._known_kept(stream_id, version)
                    kept += 1
        except TimeoutError:
            log.warning("followed_states_not_all_kept", kept=kept, left=len(moved) - kept)
        return kept

    def _known_kept(self, stream_id: UUID, version: int) -> None:
        self._kept[stream_id] = version
        self._kept.move_to_end(stream_id)
        while len(self._kept) > HELD:
            self._kept.popitem(last=False)

    async def _state_before(self, event: RecordedEvent) -> tuple[Polycule, int]:
        """The polycule just before ``event``, and the version it was folded from."""
        wanted = event.stream_version - 1
        cached = self._states.get(event.stream_id, polycule_decider)
        if cached is None or cached[1] > wanted:
            kept = None if self._snapshots is None else await self._snapshots.latest(
                event.stream_id, polycule_decider
            )
            if kept is not None:
                self._known_kept(event.stream_id, kept[1])
            if kept is not None and kept[1] <= wanted:
                cached = kept
            else:
                cached = (polycule_decider.initial_state, 0)
        state, version = cached
        if version < wanted:
            # Events of this polycule it did not need (nobody is told of them), or those
            # after the snapshot it starts from, are folded in from the stream.
            for missed in await self._service.read_between(event.stream_id, version, wanted):
                state = polycule_decider.evolve(
                    state, self._service.decode_for_deciding(missed)
                )
        return state, version


def actor_of(event: RecordedEvent) -> UUID | None:
    """Who did it (nobody is told of what they did themselves); None for the ledger."""
    try:
        return UUID(str(event.metadata.get("actor")))
    except ValueError:
        return None
