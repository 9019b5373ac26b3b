"""Work for the database that arrives while other work is in flight, sent together.

Every statement costs the service a round trip — building it, writing it to the socket,
reading and decoding the answer — and that costs the service more than the statement costs
the database. When many people are served at once, most of it is the same work done over
and over. So work waits here for a moment only when other work is already in flight: while
``at_once`` batches are in flight, what arrives queues, and the next batch takes the oldest
waiting (at most ``most``). When nothing is in flight, work goes at once, alone: one person
waits for nobody.

``Together`` is that queue. Two kinds of work go through it:

* **Appends** (``AppendsTogether``). A command's append is a transaction of its own:
  BEGIN, the events, the polycule's read models, COMMIT. Appends of distinct polycules
  share one transaction — their events in one INSERT, their read models in one statement
  per kind (``projections/batching.py``), one COMMIT and one WAL flush for all. Appends
  made together succeed together or not at all. Whenever the transaction fails — one
  polycule's expected version is not its head (another instance wrote first), an event id
  was used before (a command retried), one polycule's read models cannot apply its events
  (a poisoned read model) or are parked, the database went away — nothing of it is
  written, and every append of it is made again alone, as if it had never been grouped:
  each one then gets its own answer, and one polycule's trouble stays in that polycule.
  A polycule whose append, made alone, was recorded without its read models showing it
  (they are parked) goes on alone from then on, beside the transaction of the others,
  until one of its appends is shown again: else each of its appends would spoil the
  transaction it was put in, and everybody else's appends would be made again alone.
* **Look-ups** (``LookupsTogether``): one statement answers many — each request's
  credential, read at the start of every request (ledger/auth/tokens.py and
  sessions.py). Each look-up
  is answered with the row that names its own place in the batch, never another's; when
  the statement fails, each look-up of it is made again alone.
"""
from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

import asyncpg
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

# What a database answers a statement it cannot run at all, whatever the data.
_CANNOT_GROUP = (asyncpg.FeatureNotSupportedError, asyncpg.InternalServerError)

# How many batches may be in flight at once, and how many of what waits one may carry. Two
# transactions of appends keep the database busy while the service prepares the next;
# beyond about thirty, a transaction of appends grows longer than the round trips it saves.
AT_ONCE = 2
MOST = 32
# A look-up costs the database little and the service a round trip, so one statement of
# look-ups is in flight at a time, gathering all that arrive meanwhile. Measured with 16
# readers (`./dev bench http --parts reads`): about seven look-ups a statement instead of
# four, and 135 to 176 µs of the service's processor time per read instead of 168 to 210 µs.
LOOKUPS_AT_ONCE = 1

# How many polycules whose appends go alone (their read models parked) are remembered: far
# more than are ever parked at once; the least recently heard of is forgotten first, and
# then merely spoils one more transaction before it is remembered again.
APART_REMEMBERED = 1_000


Asked = TypeVar("Asked")
Answer = TypeVar("Answer")


@dataclass
class Waiting(Generic[Asked, Answer]):
    asked: Asked
    answer: asyncio.Future[Answer] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


# An append waiting, answered with its result and whether its read models show it.
_WaitingAppend = Waiting[PendingAppend, tuple[AppendResult, Applied | None]]


class Together(Generic[Asked, Answer]):
    """What is asked, sent alone when nothing is in flight, else with what waits beside it
    (see the module's text). ``_send`` answers every one of a batch; ``_take`` chooses the
    next batch."""

    def __init__(self, *, at_once: int, most: int, name: str) -> None:
        self._at_once = at_once
        self._most = most
        self._name = name
        self._waiting: list[Waiting[Asked, Answer]] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self.largest = 0  # the most ever sent together (what the tests see of the grouping)

    async def ask(self, asked: Asked, *, shielded: bool = False) -> Answer:
        """The answer to ``asked``, sent with others when others wait too. ``shielded``: the
        batch goes on even if this caller goes away (it may carry other people's writes)."""
        waiting: Waiting[Asked, Answer] = Waiting(asked)
        self._waiting.append(waiting)
        self._start()
        if shielded:
            return await asyncio.shield(waiting.answer)
        return await waiting.answer

    @property
    def waiting(self) -> int:
        """How many wait for a batch."""
        return len(self._waiting)

    async def close(self) -> None:
        """Wait for the batches in flight (at shutdown)."""
        while self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    def _start(self) -> None:
        while self._waiting and len(self._in_flight) < self._at_once:
            taken = self._take()
            self.largest = max(self.largest, len(taken))
            task = asyncio.create_task(self._send_answering(taken), name=self._name)
            self._in_flight.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._start()

    def _take(self) -> list[Waiting[Asked, Answer]]:
        """The next batch: the oldest waiting."""
        taken, self._waiting = self._waiting[: self._most], self._waiting[self._most :]
        return taken

    async def _send_answering(self, taken: Sequence[Waiting[Asked, Answer]]) -> None:
        try:
            await self._send(taken)
        finally:
            # Cut short (the service stopping): nobody is left waiting for an answer.
            for waiting in taken:
                if not waiting.answer.done():
                    waiting.answer.cancel()

    async def _send(self, taken: Sequence[Waiting[Asked, Answer]]) -> None:
        raise NotImplementedError


class LookupsTogether(Together[Asked, Answer]):
    """Look-ups answered by one statement for many: ``look_up`` answers each of what it is
    given, in its order; ``look_up_one`` answers one alone (a batch of one, or each of a
    batch whose statement failed, as appends are made again alone).

    A database that cannot run the grouped statement at all (it answers that the feature
    is not supported, or with an internal error, as Citus does for a statement joining
    the coordinator's tables to its distributed ones by a correlated subquery) is asked
    one by one from then on: logged once, and nothing waits in this queue any more."""

    def __init__(
        self,
        look_up: Callable[[Sequence[Asked]], Awaitable[Sequence[Answer]]],
        look_up_one: Callable[[Asked], Awaitable[Answer]],
        *,
        name: str,
        at_once: int = LOOKUPS_AT_ONCE,
        most: int = MOST,
    ) -> None:
        super().__init__(at_once=at_once, most=most, name=name)
        self._look_up = look_up
        self._look_up_one = look_up_one
        self.grouping = True

    async def ask(self, asked: Asked, *, shielded: bool = False) -> Answer:
        if not self.grouping:
            return await self._look_up_one(asked)
        return await super().ask(asked, shielded=shielded)

    async def _send(self, taken: Sequence[Waiting[Asked, Answer]]) -> None:
        if len(taken) > 1:
            try:
                answers = await self._look_up([waiting.asked for waiting in taken])
            except _CANNOT_GROUP as error:
                self.grouping = False
                log.warning("lookups_made_one_by_one", lookups=self._name,
                            reason=type(error).__name__, error=str(error))
            except Exception as error:  # whatever it was, each is looked up again alone
                log.debug("lookups_made_alone", lookups=self._name, count=len(taken),
                          reason=type(error).__name__)
            else:
                for waiting, answer in zip(taken, answers, strict=True):
                    if not waiting.answer.done():
                        waiting.answer.set_result(answer)
                return
        if len(taken) == 1:
            await self._alone(taken[0])
        else:
            await asyncio.gather(*(self._alone(waiting) for waiting in taken))

    async def _alone(self, waiting: Waiting[Asked, Answer]) -> None:
        await answered(waiting, self._look_up_one(waiting.asked))


async def by_place(
    pool: asyncpg.Pool, statement: str, asked: Sequence[tuple[Any, ...]]
) -> list[asyncpg.Record | None]:
    """``statement``'s row for each of ``asked`` (None where it has none), in their order.
    The statement takes each column of ``asked`` as an array parameter and numbers each row
    with the ``place`` (from 1, ``WITH ORDINALITY``) of what it answers: a row is matched
    by that number alone, never by its order among the others."""
    rows = await pool.fetch(statement, *(list(column) for column in zip(*asked, strict=True)))
    found = {row["place"]: row for row in rows}
    return [found.get(place) for place in range(1, len(asked) + 1)]


class AppendsTogether(Together[PendingAppend, tuple[AppendResult, Applied | None]]):
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
        super().__init__(at_once=at_once, most=most, name="appends_together")
        self._store = store
        self._apply_one = apply_one
        self._apply_together = apply_together
        self._together_applied = together_applied
        # The streams whose appends go alone, beside the others' transaction (see above).
        self._apart: OrderedDict[UUID, None] = OrderedDict()

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
        # Shielded: the transaction carries other people's appends too, and a client going
        # away must not cut it short.
        return await self.ask(
            PendingAppend(stream_id, expected_version, events, recorded_at), shielded=True
        )

    def _take(self) -> list[_WaitingAppend[Applied]]:
        """The next transaction's appends: the oldest waiting, of distinct streams."""
        taken: list[_WaitingAppend[Applied]] = []
        left: list[_WaitingAppend[Applied]] = []
        streams: set[UUID] = set()
        for waiting in self._waiting:
            stream_id = waiting.asked.stream_id
            if len(taken) < self._most and stream_id not in streams:
                taken.append(waiting)
                streams.add(stream_id)
            else:
                left.append(waiting)
        self._waiting = left
        return taken

    async def _send(self, taken: Sequence[_WaitingAppend[Applied]]) -> None:
        grouped = [waiting for waiting in taken if waiting.asked.stream_id not in self._apart]
        apart = [waiting for waiting in taken if waiting.asked.stream_id in self._apart]
        await asyncio.gather(
            self._together(grouped), *(self._alone(waiting) for waiting in apart)
        )

    async def _together(self, taken: Sequence[_WaitingAppend[Applied]]) -> None:
        if len(taken) > 1:
            try:
                results = await self._store.append_applying_together(
                    [waiting.asked for waiting in taken], self._apply_together
                )
            except Exception as error:  # whatever it was, every append is made again alone
                log.debug(
                    "appends_made_alone", appends=len(taken), reason=type(error).__name__
                )
            else:
                for waiting, result in zip(taken, results, strict=True):
                    if not waiting.answer.done():
                        waiting.answer.set_result((result, self._together_applied))
                return
        await asyncio.gather(*(self._alone(waiting) for waiting in taken))

    async def _alone(self, waiting: _WaitingAppend[Applied]) -> None:
        await answered(waiting, self._made_alone(waiting.asked))

    async def _made_alone(self, append: PendingAppend) -> tuple[AppendResult, Applied | None]:
        made = await self._store.append_applying(
            append.stream_id, append.expected_version, append.events, self._apply_one,
            recorded_at=append.recorded_at,
        )
        applied = made[1]
        if applied is None:  # a copy of an append already made: says nothing of its views
            return made
        if applied == self._together_applied:
            self._apart.pop(append.stream_id, None)
        else:
            self._apart[append.stream_id] = None
            self._apart.move_to_end(append.stream_id)
            while len(self._apart) > APART_REMEMBERED:
                self._apart.popitem(last=False)
        return made


async def answered(waiting: Waiting[Asked, Answer], answer: Awaitable[Answer]) -> None:
    """``waiting`` answered with what ``answer`` gives, alone: its error is the caller's
    to handle, as if it had asked alone."""
    try:
        result = await answer
    except asyncio.CancelledError:
        waiting.answer.cancel()
        raise
    except Exception as error:
        if not waiting.answer.done():
            waiting.answer.set_exception(error)
        return
    if not waiting.answer.done():
        waiting.answer.set_result(result)
