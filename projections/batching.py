"""Folding many polycules at once, one round trip per kind of statement.

Several polycules' commands are appended in one transaction (ledger/store/together.py), and
the read models' folds send one statement per event: one round trip each. But polycules
never share a row, so the n-th events of many polycules are independent of each
other. ``fold_in_steps`` takes the events of several polycules and folds them in *steps* —
the first event of each, then the second of each, and so on — running the folds of one step
together against a ``StatementBatch``: the statements they send are held until every fold
of the step waits on one, then each kind is sent once for all of them (``executemany``,
``fetchmany``: one round trip, the statement prepared once) and each fold is handed its
own result. The folds themselves are the very code that runs inline with a command; only
the connection they are given differs.

A statement whose result a fold reads must answer exactly one row per execution (so that
results can be handed back in order); the folds' statements are written that way.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import asyncpg

from ledger.store.records import RecordedEvent

if TYPE_CHECKING:
    from ledger.database import Connection


class Statements(Protocol):
    """What a read model's fold sends its statements to: a connection, or a batch."""

    async def execute(self, query: str, *args: Any) -> str: ...

    async def executemany(self, command: str, args: Iterable[Sequence[Any]]) -> None: ...

    async def fetchval(self, query: str, *args: Any) -> Any: ...

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None: ...


class _Sent:
    """What a fold waits on inside a batch: one statement, run once per argument list."""

    __slots__ = ("args", "query", "returns")

    def __init__(self, returns: bool, query: str, args: list[Sequence[Any]]) -> None:
        self.returns, self.query, self.args = returns, query, args

    def __await__(self) -> Generator[_Sent, list[Any], list[Any]]:
        results = yield self
        return results


class StatementBatch:
    """Stands in for a connection while the folds of one step run: a fold's statement is
    held until every fold of the step waits on one, then each kind is sent once."""

    async def execute(self, query: str, *args: Any) -> str:
        await _Sent(False, query, [args])
        return ""

    async def executemany(self, command: str, args: Iterable[Sequence[Any]]) -> None:
        await _Sent(False, command, list(args))

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        [row] = await _Sent(True, query, [args])
        return row  # type: ignore[no-any-return]

    async def fetchval(self, query: str, *args: Any) -> Any:
        row = await self.fetchrow(query, *args)
        return None if row is None else row[0]


Fold = Callable[[Statements, Sequence[RecordedEvent]], Coroutine[Any, Any, None]]


async def fold_in_steps(
    connection: Connection,
    folds: Sequence[Fold],
    streams: Sequence[Sequence[RecordedEvent]],
) -> None:
    """Fold the events of several polycules (``streams``: each one's, in order) into the
    read models, step by step across polycules.

    The folds of a step are driven here directly, as coroutines, rather than as tasks of
    the event loop: each runs until it waits on a statement (``_Sent``), and is resumed
    with that statement's result once the step's statements of that kind have been sent
    together. (Thousands of folds a second would otherwise spend more time being scheduled
    than folding.)
    """
    batch = StatementBatch()
    longest = max((len(events) for events in streams), default=0)
    for step in range(longest):
        events = [stream[step] for stream in streams if step < len(stream)]
        waiting: list[tuple[Coroutine[Any, Any, None], _Sent]] = []
        started = [fold(batch, [event]) for fold in folds for event in events]
        try:
            for fold in started:
                _advance(fold, None, waiting)
            while waiting:
                resumed, waiting = waiting, []
                for (fold, results) in await _send_together(connection, resumed):
                    _advance(fold, results, waiting)
        finally:
            for fold in started:
                fold.close()


def _advance(
    fold: Coroutine[Any, Any, None],
    value: list[Any] | None,
    waiting: list[tuple[Coroutine[Any, Any, None], _Sent]],
) -> None:
    """Run ``fold`` until it waits on its next statement (kept in ``waiting``) or ends."""
    try:
        sent = fold.send(value)
    except StopIteration:
        return
    if not isinstance(sent, _Sent):
        raise TypeError("a fold may only wait on its statements while folding in steps")
    waiting.append((fold, sent))


async def _send_together(
    connection: Connection,
    waiting: Sequence[tuple[Coroutine[Any, Any, None], _Sent]],
) -> list[tuple[Coroutine[Any, Any, None], list[Any]]]:
    """Send each kind of statement once for every fold waiting on it (``executemany`` or
    ``fetchmany``: one round trip); each fold's own results."""
    kinds: dict[tuple[bool, str], list[tuple[Coroutine[Any, Any, None], _Sent]]] = {}
    for fold, sent in waiting:
        kinds.setdefault((sent.returns, sent.query), []).append((fold, sent))
    answered = []
    for (returns, query), folds in kinds.items():
        arguments = [args for _, sent in folds for args in sent.args]
        rows: list[asyncpg.Record | None]
        if returns:
            rows = list(await connection.fetchmany(query, arguments))
            if len(rows) != len(arguments):
                raise LookupError("a batched statement must answer one row per execution")
        else:
            await connection.executemany(query, arguments)
            rows = [None] * len(arguments)
        taken = 0
        for fold, sent in folds:
            answered.append((fold, rows[taken:taken + len(sent.args)]))
            taken += len(sent.args)
    return answered
