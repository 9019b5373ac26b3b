"""How a repair's commitment is going: kept and missed, the current streak, what is due.

Pure arithmetic over a commitment's marks and the moment of asking, shared by the repair
history and the inbox. A commitment's occurrences are due at ``first_due_at`` and, when it
repeats, every ``every_days`` after; each is marked kept or missed by a harmed party.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Mark = Literal["kept", "missed"]

# The occurrences listed as overdue at most (a weekly commitment left alone for years
# should not produce an endless list).
OVERDUE_SHOWN = 52


@dataclass(frozen=True)
class Occurrence:
    number: int
    due_at: datetime


@dataclass(frozen=True)
class Progress:
    kept: int
    missed: int
    # Kept occurrences in a row, counting back from the latest marked one.
    streak: int
    # The first occurrence not yet marked whose time has not passed (None when none is left).
    next_due: Occurrence | None
    # Occurrences whose time has passed and that nobody has marked yet, oldest first.
    overdue: tuple[Occurrence, ...]


def due_at(first_due_at: datetime, every_days: int | None, number: int) -> datetime:
    return first_due_at + timedelta(days=(every_days or 0) * (number - 1))


def progress(
    first_due_at: datetime, every_days: int | None, marks: Mapping[int, Mark], now: datetime
) -> Progress:
    kept = sum(1 for mark in marks.values() if mark == "kept")
    missed = len(marks) - kept
    streak = 0
    for number in sorted(marks, reverse=True):
        if marks[number] != "kept":
            break
        streak += 1
    overdue: list[Occurrence] = []
    next_due: Occurrence | None = None
    number = 0
    while next_due is None:
        number += 1
        if number > 1 and every_days is None:
            break  # a one-off commitment has one occurrence
        if number in marks:
            continue  # marked, early or on time
        occurrence = Occurrence(number, due_at(first_due_at, every_days, number))
        if occurrence.due_at <= now:
            overdue.append(occurrence)
        else:
            next_due = occurrence
    return Progress(kept, missed, streak, next_due, tuple(overdue[-OVERDUE_SHOWN:]))
