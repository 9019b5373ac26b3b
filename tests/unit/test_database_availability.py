"""An outage is one event in the log, however many requests meet it; being busy is not an
outage."""

from __future__ import annotations

import asyncpg
import pytest
import structlog

from ledger.database import Availability, is_away


@pytest.mark.parametrize("error", [
    FileNotFoundError(2, "No such file or directory"),  # a Unix socket gone with its server
    ConnectionRefusedError(111, "Connection refused"),
    asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
    asyncpg.exceptions.AdminShutdownError("terminating connection"),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
    asyncpg.InterfaceError("connection is closed"),
    TimeoutError(),
    # Several hosts: none accepts writes yet, or the one connected has stepped down.
    asyncpg.exceptions.TargetServerAttributeNotMatched("none of the hosts match"),
    asyncpg.exceptions.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only "
                                                   "transaction"),
])
def test_a_database_out_of_reach_is_away(error: BaseException) -> None:
    assert is_away(error)


@pytest.mark.parametrize("error", [
    asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
    asyncpg.exceptions.SerializationError("could not serialize access"),
    asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
    asyncpg.exceptions.LockNotAvailableError("could not obtain lock"),
    asyncpg.exceptions.TooManyConnectionsError("too many clients already"),
])
def test_a_busy_database_is_not_away(error: BaseException) -> None:
    assert not is_away(error)


async def test_an_outage_is_logged_when_it_begins_and_ends_once_each() -> None:
    availability = Availability()
    with structlog.testing.capture_logs() as logged:
        for _ in range(50):
            await availability.met(FileNotFoundError(2, "No such file or directory"))
        assert availability.away
        for _ in range(3):
            availability.answered()
        await availability.met(asyncpg.exceptions.DeadlockDetectedError("deadlock detected"))
        await availability.met(asyncpg.exceptions.DeadlockDetectedError("deadlock detected"))

    assert not availability.away
    assert [line["event"] for line in logged] == [
        "database_unavailable", "database_available_again", "database_busy", "database_busy",
    ]
