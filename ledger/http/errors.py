"""The one place where an error becomes an HTTP status and a JSON body.

Every error answer, whether raised by the ledger, by pydantic or by aiohttp itself, has
the body ``{"error": {"code": ..., "message": ..., "details": ...}}``; the API never
answers with an HTML page or a stack trace.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from aiohttp import web
from pydantic import ValidationError

from ledger.errors import (
    ConcurrencyError,
    DomainError,
    DuplicateEventError,
    Forbidden,
    IdempotencyKeyReused,
    InvalidInput,
    LedgerError,
    NotFound,
    NotPermitted,
    TooMany,
    Unauthenticated,
)
from ledger.events import DomainEvent
from ledger.http.parsing import UnsupportedMediaType
from ledger.service import CommandOutcome
from projections.read_side import ReadModelRefused


class NotReady(LedgerError):
    """The service cannot take traffic yet (database unreachable, schema behind the code)."""

    code = "not_ready"


# Looked up along the error's class hierarchy, so a new subclass inherits its parent's
# status unless it is given its own line here.
STATUS_BY_ERROR: dict[type[LedgerError], int] = {
    InvalidInput: 400,
    IdempotencyKeyReused: 422,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    ConcurrencyError: 409,
    DuplicateEventError: 409,
    DomainError: 409,
    NotPermitted: 403,
    TooMany: 429,
    UnsupportedMediaType: 415,
    NotReady: 503,
    # Nothing was written; the polycule's read models could not show the change.
    ReadModelRefused: 409,
}

# The database was busy or away for this request (ledger/database.py, BUSY_OR_AWAY):
# nothing was decided, so the answer is 503 with Retry-After, and the client sends the same
# request again (with its Idempotency-Key, a command that did commit is answered with its
# outcome).
RETRY_AFTER_SECONDS = 1

UNEXPECTED_STATUS = 500
VALIDATION_STATUS = 422


def status_for(error: LedgerError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[kind]
    return UNEXPECTED_STATUS


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message, "details": details or {}}},
        status=status,
    )


def ledger_error_response(error: LedgerError) -> web.Response:
    return error_response(status_for(error), error.code, error.message, error.details)


def validation_error_response(error: ValidationError) -> web.Response:
    # Only where and why, never the offending input: it may be a member's personal text.
    problems = [
        {"loc": list(problem["loc"]), "msg": problem["msg"], "type": problem["type"]}
        for problem in error.errors(include_url=False, include_input=False, include_context=False)
    ]
    return error_response(
        VALIDATION_STATUS,
        "validation_failed",
        "the request does not have the expected shape: see each field named in details",
        {"errors": problems},
    )


def _code_for_http_status(exception: web.HTTPException) -> str:
    return exception.reason.lower().replace(" ", "_").replace("-", "_")


def http_exception_response(
    exception: web.HTTPException, *, max_request_bytes: int
) -> web.Response:
    """aiohttp's own refusals (no such route, wrong method, body too large) as JSON."""
    details: dict[str, Any] = {}
    message = exception.reason
    if isinstance(exception, web.HTTPMethodNotAllowed):
        details["allowed_methods"] = sorted(exception.allowed_methods)
        message = f"{exception.method} is not allowed here"
    elif isinstance(exception, web.HTTPRequestEntityTooLarge):
        message = "the request body is larger than this service accepts"
        details["max_bytes"] = max_request_bytes
    elif isinstance(exception, web.HTTPNotFound):
        message = "there is nothing at this address"
    response = error_response(
        exception.status, _code_for_http_status(exception), message, details
    )
    # Keep the headers aiohttp's exception carries that matter to a client (e.g. Allow).
    for name in ("Allow", "Retry-After", "WWW-Authenticate"):
        if name in exception.headers:
            response.headers[name] = exception.headers[name]
    return response


def database_busy_response() -> web.Response:
    response = error_response(
        503, "database_unavailable",
        "the database is busy or out of reach for a moment; please send this again",
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def unexpected_error_response(request_id: str) -> web.Response:
    return error_response(
        UNEXPECTED_STATUS,
        "internal_error",
        "an unexpected error occurred; quote the request id when reporting it",
        {"request_id": request_id},
    )


class ViewsBehind(Exception):
    """Raised by ``send`` when the command is recorded but its polycule's views do not show
    it; the error middleware answers with ``answer()`` instead of running the view on."""

    def __init__(self, outcome: CommandOutcome) -> None:
        super().__init__("recorded; the polycule's views are behind")
        self.outcome = outcome

    def answer(self) -> web.Response:
        events = [{"type": event.event_type, **_facts_of(event)} for event in self.outcome.events]
        return web.json_response(
            {
                # The ids the first event names, where a client (or a form's next page)
                # looks for what it just made.
                **(events[0] if events else {}),
                "views_behind": True,
                "message": (
                    "Recorded. This polycule's views are catching up and may not show it "
                    "yet; nothing needs to be sent again."
                ),
                "polycule_id": str(self.outcome.stream_id),
                "version": self.outcome.version,
                "events": events,
            },
            status=202,
        )


def _facts_of(event: DomainEvent) -> dict[str, Any]:
    """An event's ids, numbers, flags and moments: everything but words."""
    facts: dict[str, Any] = {}
    for name, value in event:
        if isinstance(value, UUID | datetime):
            facts[name] = str(value) if isinstance(value, UUID) else value.isoformat()
        elif isinstance(value, bool | int):
            facts[name] = value
        elif isinstance(value, tuple | list | frozenset) and all(
            isinstance(item, UUID) for item in value
        ):
            facts[name] = sorted(str(item) for item in value)
    return facts
