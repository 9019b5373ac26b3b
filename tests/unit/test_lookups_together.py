"""Look-ups grouped while others are in flight (ledger/store/together.py): a group whose
statement fails is looked up again one by one, each caller getting its own answer or its
own error; a database that cannot run the grouped statement at all is asked one by one
from then on. The look-ups here are plain functions: what is tested is the queue."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
import pytest

from ledger.store.together import LookupsTogether


class Answers:
    """Doubles a number; refuses 13 alone; refuses any group as ``group_error`` says."""

    def __init__(self, group_error: Exception | None = None) -> None:
        self.group_error = group_error
        self.groups: list[list[int]] = []
        self.alone: list[int] = []

    async def many(self, asked: Sequence[int]) -> list[int]:
        self.groups.append(list(asked))
        await asyncio.sleep(0)
        if self.group_error is not None:
            raise self.group_error
        return [number * 2 for number in asked]

    async def one(self, asked: int) -> int:
        self.alone.append(asked)
        await asyncio.sleep(0)
        if asked == 13:
            raise ValueError("thirteen")
        return asked * 2


async def ask_all(lookups: LookupsTogether[int, int], numbers: list[int]) -> list[object]:
    return await asyncio.gather(
        *(lookups.ask(number) for number in numbers), return_exceptions=True
    )


async def test_what_waits_is_looked_up_together_each_with_its_own_answer() -> None:
    answers = Answers()
    lookups = LookupsTogether(answers.many, answers.one, name="numbers", at_once=1)

    assert await ask_all(lookups, [1, 2, 3, 4]) == [2, 4, 6, 8]
    assert answers.alone == [1]  # nothing was in flight
    assert answers.groups == [[2, 3, 4]]  # they waited behind it
    assert lookups.largest == 3


async def test_a_group_that_fails_is_looked_up_one_by_one() -> None:
    answers = Answers(group_error=asyncpg.DeadlockDetectedError("deadlock"))
    lookups = LookupsTogether(answers.many, answers.one, name="numbers", at_once=1)

    answered = await ask_all(lookups, [1, 2, 13, 4])

    assert answered[:2] == [2, 4] and answered[3] == 8
    assert isinstance(answered[2], ValueError)  # its own error, nobody else's
    assert answers.alone == [1, 2, 13, 4]
    assert lookups.grouping  # a passing failure: the next ones are grouped again
    answers.group_error = None
    assert await ask_all(lookups, [5, 6, 7]) == [10, 12, 14]
    assert answers.groups[-1] == [6, 7]


@pytest.mark.parametrize("refusal", [
    asyncpg.FeatureNotSupportedError("direct joins between distributed and local tables"),
    asyncpg.InternalServerError("relation api_tokens is not distributed"),
])
async def test_a_database_that_cannot_group_is_asked_one_by_one_from_then_on(
    refusal: Exception,
) -> None:
    answers = Answers(group_error=refusal)
    lookups = LookupsTogether(answers.many, answers.one, name="numbers", at_once=1)

    assert await ask_all(lookups, [1, 2, 3]) == [2, 4, 6]
    assert not lookups.grouping
    groups = len(answers.groups)
    assert await ask_all(lookups, [4, 5, 6]) == [8, 10, 12]
    assert len(answers.groups) == groups  # no group was tried again
    assert answers.alone[-3:] == [4, 5, 6]
