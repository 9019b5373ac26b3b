"""Errors with stable codes. The HTTP layer maps each kind to a status in one place."""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Base of every error the ledger raises on purpose. ``code`` never changes meaning."""

    code = "ledger_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidInput(LedgerError):
    """The request is malformed or fails validation; nothing was changed."""

    code = "invalid_input"


class DomainError(LedgerError):
    """A command that a rule of the domain refuses; subclasses name the rule in ``code``."""

    code = "rule_violated"

    def __init__(
        self, code: str, message: str, *, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, details=details)
        self.code = code


class NotPermitted(DomainError):
    """A rule says this member may not do this (not a party, not the proposer): 403."""


class NotFound(LedgerError):
    code = "not_found"


class Forbidden(LedgerError):
    code = "forbidden"


class Unauthenticated(LedgerError):
    code = "unauthenticated"


class TooMany(LedgerError):
    """The caller already holds as many of something as one account may (open live
    streams): 429, nothing was opened; close one, or try again later."""

    code = "too_many"


class ConcurrencyError(LedgerError):
    """The stream moved on since it was read: nothing was written, read again and retry."""

    code = "concurrency_conflict"

    def __init__(self, stream_id: object, expected_version: int, actual_version: int) -> None:
        super().__init__(
            f"stream {stream_id} is at version {actual_version}, not {expected_version}",
            details={"expected_version": expected_version, "actual_version": actual_version},
        )
        self.expected_version = expected_version
        self.actual_version = actual_version


class DuplicateEventError(LedgerError):
    """An event id was reused for different content: an id names one event, forever."""

    code = "duplicate_event"


class IdempotencyKeyReused(InvalidInput):
    """An ``Idempotency-Key`` sent again with another request (method, route or body): the
    key names the first request, forever, so the second is refused and nothing is done."""

    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__(
            "this Idempotency-Key was already used for a different request; "
            "send a new key with each new request"
        )
