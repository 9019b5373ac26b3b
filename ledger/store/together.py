"""Commands of several polycules committed together: one transaction for many appends.

A command's append is a transaction of its own: BEGIN, the events, the polycule's read
models, COMMIT — several round trips to PostgreSQL, each costing the service more than the
statement costs the database. When many people write at once, most of that is the same
work done over and over. So appends wait here for a moment only when others are already
being committed: while ``at_once`` transactions are in flight, the appends that arrive
queue, and the next transaction takes all of them (of distinct polycules, at most
``most``) — their events in one INSERT, their read models in one statement per kind
(``projections/batching.py``), one COMMIT and one WAL flush for all. When nothing is in
flight an append goes at once, alone: one person writing waits for nobody.

Appends made together succeed together or not at all. Whenever the transaction fails —
one polycule's expected version is not its head (another instance wrote first), an event
id was used before (a command retried), one polycule's read models cannot apply its events
(a poisoned read model) or are parked, the database went away — nothing of it is written,
and every append of it is made again alone, as if it had never been grouped: each one then
gets its own answer, and one polycule's trouble stays in that polycule.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic
from uuid import UUID

import structlog

from ledger.store.events import (
    Applied,
    ApplyInline,
    ApplyTogether,
    EventStore,
    PendingAppend,
)
from ledger.store.records import AppendResult, NewEvent

log = structlog.get_logger(__name__)

# How many transactions of appends may be in flight at once, and how many appends one may
# carry. Two keep the database busy while the service prepares the next; beyond about
# thirty, a transaction's statements grow longer than the round trips they save.
AT_ONCE = 2
MOST = 32


@dataclass
class _Waiting(Generic[Applied]):
    append: PendingAppend
    answer: asyncio.Future[tuple[AppendResult, Applied | None]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class AppendsTogether(Generic[Applied]):
    """Appends with their read models, committed together when several wait (see above).

    ``apply_one`` writes one append's read models (``EventStore.append_applying``);
    ``apply_together`` writes several appends' at once and raises, so that nothing is
    written, when any of them cannot be applied the common way; ``together_applied`` is what
    each append made together answers as applied (its read models show it).
    """

    def __init__(
        self,
        store: EventStore,
        apply_one: ApplyInline[Applied],
        apply_together: ApplyTogether,
        together_applied: Applied,
        *,
        at_once: int = AT_ONCE,
        most: int = MOST,
    ) -> None:
        self._store = store
        self._apply_one = apply_one
        self._apply_together = apply_together
        self._together_applied = together_applied
        self._at_once = at_once
        self._most = most
        self._waiting: list[_Waiting[Applied]] = []
        self._in_flight: set[asyncio.Task[None]] = set()

    async def append_applying(
        self,
        stream_id: UUID,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        recorded_at: datetime | None = None,
    ) -> tuple[AppendResult, Applied | None]:
        """What ``EventStore.append_applying`` answers, committed with others' when others
        wait to be committed too."""
        waiting: _Waiting[Applied] = _Waiting(
            PendingAppend(stream_id, expected_version, events, recorded_at)
        )
        self._waiting.append(waiting)
        self._start()
        # Shielded: the transaction carries other people's appends too, and a client going
        # away must not cut it short.
        return await asyncio.shield(waiting.answer)

    @property
    def waiting(self) -> int:
        """How many appends wait for a transaction."""
        return len(self._waiting)

    async def close(self) -> None:
        """Wait for the transactions in flight (at shutdown)."""
        while self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    def _start(self) -> None:
        while self._waiting and len(self._in_flight) < self._at_once:
            taken = self._take()
            task = asyncio.create_task(self._commit(taken), name="appends_together")
            self._in_flight.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._start()

    def _take(self) -> list[_Waiting[Applied]]:
        """The next transaction's appends: the oldest waiting, of distinct streams."""
        taken: list[_Waiting[Applied]] = []
        left: list[_Waiting[Applied]] = []
        streams: set[UUID] = set()
        for waiting in self._waiting:
            stream_id = waiting.append.stream_id
            if len(taken) < self._most and stream_id not in streams:
                taken.append(waiting)
                streams.add(stream_id)
            else:
                left.append(waiting)
        self._waiting = left
        return taken

    async def _commit(self, taken: Sequence[_Waiting[Applied]]) -> None:
        try:
            await self._commit_or_each_alone(taken)
        finally:
            # Cut short (the service stopping): nobody is left waiting for an answer.
            for waiting in taken:
                if not waiting.answer.done():
                    waiting.answer.cancel()

    async def _commit_or_each_alone(self, taken: Sequence[_Waiting[Applied]]) -> None:
        if len(taken) > 1:
            try:
                results = await self._store.append_applying_together(
                    [waiting.append for waiting in taken], self._apply_together
                )
            except Exception as error:  # whatever it was, every append is made again alone
                log.debug(
                    "appends_made_alone", appends=len(taken), reason=type(error).__name__
                )
            else:
                for waiting, result in zip(taken, results, strict=True):
                    _answer(waiting, (result, self._together_applied))
                return
        await asyncio.gather(*(self._alone(waiting) for waiting in taken))

    async def _alone(self, waiting: _Waiting[Applied]) -> None:
        append = waiting.append
        try:
            answer = await self._store.append_applying(
                append.stream_id, append.expected_version, append.events, self._apply_one,
                recorded_at=append.recorded_at,
            )
        except asyncio.CancelledError:
            waiting.answer.cancel()
            raise
        except Exception as error:  # the caller's to handle, as if it had appended alone
            if not waiting.answer.done():
                waiting.answer.set_exception(error)
            return
        _answer(waiting, answer)


def _answer(
    waiting: _Waiting[Applied], answer: tuple[AppendResult, Applied | None]
) -> None:
    if not waiting.answer.done():
        waiting.answer.set_result(answer)
