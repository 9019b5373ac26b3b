"""The retry schedule and Retry-After, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledger.webhooks.delivery import MAX_RETRY_AFTER, RETRY_DELAYS, retry_after, retry_delay

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("failed", range(len(RETRY_DELAYS)))
def test_each_wait_is_the_scheduled_one_within_twenty_percent(failed: int) -> None:
    waits = [retry_delay(failed) for _ in range(200)]
    scheduled = RETRY_DELAYS[failed]
    for wait in waits:
        assert wait is not None
        assert scheduled * 0.8 <= wait.total_seconds() <= scheduled * 1.2
    if scheduled:
        assert len(set(waits)) > 1  # jittered, not fixed


def test_after_the_last_attempt_of_a_round_there_is_no_wait() -> None:
    assert retry_delay(len(RETRY_DELAYS)) is None
    assert retry_delay(len(RETRY_DELAYS) + 3) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("0", timedelta(0)),
        (" 30 ", timedelta(seconds=30)),
        ("86401", MAX_RETRY_AFTER),
        ("Sat, 01 Mar 2025 12:10:00 GMT", timedelta(minutes=10)),
        ("Sat, 01 Mar 2025 11:00:00 GMT", timedelta(0)),  # already past: at once
        ("Mon, 01 Mar 2027 12:00:00 GMT", MAX_RETRY_AFTER),
        ("Sat, 01 Mar 2025 12:10:00 -0000", timedelta(minutes=10)),
    ],
)
def test_retry_after_is_read_as_seconds_or_a_date_and_bounded(
    header: str, expected: timedelta
) -> None:
    assert retry_after(header, NOW) == expected


@pytest.mark.parametrize("header", [None, "", "soon", "-5", "1.5", "Someday, 99 Foo"])
def test_an_unreadable_retry_after_is_ignored(header: str | None) -> None:
    assert retry_after(header, NOW) is None


@pytest.mark.parametrize("header", ["9" * 5000, "\u00b2", "\u0663\u0660"])
def test_absurd_retry_after_values_neither_crash_nor_wait_longer_than_a_day(header: str) -> None:
    wait = retry_after(header, NOW)
    assert wait is None or wait == MAX_RETRY_AFTER
