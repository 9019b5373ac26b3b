"""How a commitment is going: kept and missed, the streak, what is due and what is overdue.

``progress`` is pure arithmetic over a commitment's marks and the moment of asking; these
are examples of it, then properties that hold for any cadence, marks and moment.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.commitments import OVERDUE_SHOWN, Mark, Occurrence, due_at, progress

FIRST = datetime(2026, 11, 29, 19, tzinfo=UTC)  # the first Sunday call
WEEK = timedelta(days=7)
WEEKLY = 7


def weekly(number: int) -> Occurrence:
    return Occurrence(number, FIRST + (number - 1) * WEEK)


# --- Examples ----------------------------------------------------------------------------


def test_before_the_first_occurrence_it_is_next_and_nothing_is_owed() -> None:
    seen = progress(FIRST, WEEKLY, {}, FIRST - timedelta(days=3))

    assert (seen.kept, seen.missed, seen.streak) == (0, 0, 0)
    assert seen.next_due == weekly(1)
    assert seen.overdue == ()


def test_an_occurrence_is_overdue_from_the_moment_it_is_due() -> None:
    assert progress(FIRST, WEEKLY, {}, FIRST).overdue == (weekly(1),)
    assert progress(FIRST, WEEKLY, {}, FIRST).next_due == weekly(2)
    assert progress(FIRST, WEEKLY, {}, FIRST - timedelta(seconds=1)).overdue == ()


def test_unmarked_occurrences_in_the_past_are_overdue_oldest_first() -> None:
    seen = progress(FIRST, WEEKLY, {1: "kept"}, FIRST + timedelta(days=15))

    assert seen.overdue == (weekly(2), weekly(3))
    assert seen.next_due == weekly(4)
    assert (seen.kept, seen.missed, seen.streak) == (1, 0, 1)


def test_the_streak_counts_back_from_the_latest_marked_occurrence() -> None:
    marks: dict[int, Mark] = {1: "kept", 2: "missed", 3: "kept", 4: "kept"}

    seen = progress(FIRST, WEEKLY, marks, FIRST + timedelta(days=22))

    assert (seen.kept, seen.missed, seen.streak) == (3, 1, 2)


def test_a_missed_occurrence_breaks_the_streak() -> None:
    marks: dict[int, Mark] = {1: "kept", 2: "kept", 3: "missed"}

    assert progress(FIRST, WEEKLY, marks, FIRST + timedelta(days=15)).streak == 0


def test_the_streak_is_counted_over_marked_occurrences_only() -> None:
    """An occurrence nobody has marked yet is overdue, not missed."""
    marks: dict[int, Mark] = {1: "kept", 3: "kept"}

    seen = progress(FIRST, WEEKLY, marks, FIRST + timedelta(days=15))

    assert seen.streak == 2
    assert seen.overdue == (weekly(2),)


@pytest.mark.parametrize(
    ("marks", "now", "next_due", "overdue"),
    [
        ({}, FIRST - timedelta(days=1), Occurrence(1, FIRST), ()),
        ({}, FIRST + timedelta(days=100), None, (Occurrence(1, FIRST),)),
        ({1: "kept"}, FIRST - timedelta(days=1), None, ()),
        ({1: "missed"}, FIRST + timedelta(days=100), None, ()),
    ],
)
def test_a_one_off_commitment_has_a_single_occurrence(
    marks: dict[int, Mark], now: datetime, next_due: Occurrence | None,
    overdue: tuple[Occurrence, ...],
) -> None:
    seen = progress(FIRST, None, marks, now)

    assert (seen.next_due, seen.overdue) == (next_due, overdue)


def test_only_the_latest_overdue_occurrences_are_listed() -> None:
    now = FIRST + timedelta(days=99)  # a daily commitment left alone for 100 days

    seen = progress(FIRST, 1, {}, now)

    assert len(seen.overdue) == OVERDUE_SHOWN
    assert seen.overdue[0] == Occurrence(100 - OVERDUE_SHOWN + 1, now - timedelta(days=51))
    assert seen.overdue[-1] == Occurrence(100, now)
    assert seen.next_due == Occurrence(101, now + timedelta(days=1))


def test_occurrences_are_due_every_few_days_after_the_first() -> None:
    assert due_at(FIRST, WEEKLY, 1) == FIRST
    assert due_at(FIRST, WEEKLY, 3) == FIRST + 2 * WEEK
    assert due_at(FIRST, None, 1) == FIRST


def test_an_occurrence_marked_ahead_of_time_leaves_the_next_one_due() -> None:
    # A weekly call made a day early is marked kept (repair.py allows it once the week
    # before it began); the call after it is what is due next.
    now = FIRST + timedelta(days=6)

    seen = progress(FIRST, WEEKLY, {1: "kept", 2: "kept"}, now)

    assert seen.next_due == weekly(3)


# --- Properties --------------------------------------------------------------------------

cadences = st.none() | st.integers(1, 30)
MARKS: tuple[Mark, ...] = ("kept", "missed")
marks_ = st.sampled_from(MARKS)


@st.composite
def commitments(
    draw: st.DrawFn, realistic: bool = False
) -> tuple[datetime, int | None, dict[int, Mark], datetime]:
    """A commitment, its marks and a moment. ``realistic`` marks only occurrences whose
    period has begun by then, as repair.py allows; otherwise any occurrence."""
    first = FIRST + timedelta(hours=draw(st.integers(-24 * 30, 24 * 30)))
    every_days = draw(cadences)
    now = first + timedelta(hours=draw(st.integers(-24 * 60, 24 * 400)))
    if every_days is None:
        numbers = [1]
    elif realistic:
        opened = [n for n in range(1, 200)
                  if due_at(first, every_days, n) - timedelta(days=every_days) <= now]
        numbers = opened or [1]
    else:
        numbers = list(range(1, 60))
    chosen = draw(st.lists(st.sampled_from(numbers), unique=True, max_size=40))
    marks: dict[int, Mark] = {n: draw(marks_) for n in chosen}
    if realistic and every_days is not None:
        marks = {n: m for n, m in marks.items()
                 if due_at(first, every_days, n) - timedelta(days=every_days) <= now}
    return first, every_days, marks, now


@given(commitments())
def test_every_mark_is_counted_kept_or_missed(
    commitment: tuple[datetime, int | None, dict[int, Mark], datetime],
) -> None:
    seen = progress(*commitment)
    marks = commitment[2]

    assert seen.kept + seen.missed == len(marks)
    assert seen.kept == list(marks.values()).count("kept")
    assert 0 <= seen.streak <= seen.kept


@given(st.lists(marks_, max_size=40), cadences, st.integers(-24 * 60, 24 * 400))
def test_with_contiguous_marks_the_streak_is_the_run_of_kept_at_the_end(
    run: list[Mark], every_days: int | None, hours: int
) -> None:
    if every_days is None:
        run = run[:1]
    marks = {number: mark for number, mark in enumerate(run, start=1)}

    seen = progress(FIRST, every_days, marks, FIRST + timedelta(hours=hours))

    trailing = len(run) - len("".join("k" if m == "kept" else "m" for m in run).rstrip("k"))
    assert seen.streak == trailing


@given(commitments())
def test_overdue_occurrences_are_the_latest_unmarked_ones_already_due(
    commitment: tuple[datetime, int | None, dict[int, Mark], datetime],
) -> None:
    first, every_days, marks, now = commitment

    seen = progress(first, every_days, marks, now)

    for occurrence in seen.overdue:
        assert occurrence.due_at <= now
        assert occurrence.number not in marks
        assert occurrence.due_at == due_at(first, every_days, occurrence.number)
    numbers = [occurrence.number for occurrence in seen.overdue]
    assert numbers == sorted(numbers), "oldest first"
    # Enough occurrences to pass ``now``, counted the slow way.
    limit = 1 if every_days is None else max(1, (now - first).days // every_days + 2)
    due_unmarked = [n for n in range(1, limit + 1)
                    if n not in marks and due_at(first, every_days, n) <= now]
    assert numbers == due_unmarked[-OVERDUE_SHOWN:]


@given(commitments())
def test_the_next_due_is_the_first_unmarked_occurrence_still_ahead(
    commitment: tuple[datetime, int | None, dict[int, Mark], datetime],
) -> None:
    first, every_days, marks, now = commitment

    seen = progress(first, every_days, marks, now)

    if seen.next_due is None:
        return
    assert seen.next_due.due_at > now
    assert seen.next_due.number not in marks
    assert seen.next_due.due_at == due_at(first, every_days, seen.next_due.number)
    after = seen.overdue[-1].number if seen.overdue else 0
    assert all(n in marks for n in range(after + 1, seen.next_due.number)), (
        "no unmarked occurrence is due between the last overdue one and the next"
    )


@given(commitments())
def test_a_one_off_commitment_has_at_most_one_occurrence(
    commitment: tuple[datetime, int | None, dict[int, Mark], datetime],
) -> None:
    first, _, marks, now = commitment

    seen = progress(first, None, marks, now)

    occurrences = [*seen.overdue, *([seen.next_due] if seen.next_due else [])]
    assert len(occurrences) <= 1
    assert all(occurrence == Occurrence(1, first) for occurrence in occurrences)
    assert (len(occurrences) == 1) == (1 not in marks)


@given(commitments(realistic=True))
def test_a_repeating_commitment_always_has_a_next_occurrence_due(
    commitment: tuple[datetime, int | None, dict[int, Mark], datetime],
) -> None:
    first, every_days, marks, now = commitment
    if every_days is None:
        return

    assert progress(first, every_days, marks, now).next_due is not None
