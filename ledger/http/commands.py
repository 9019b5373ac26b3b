"""How a view sends a command: stamped with the caller, the application's clock and an id,
handled by the application service, and answered only once the read models show it.

Read-your-writes: after the append, the view waits until the read models that members
read (memberships, agreements, disclosures, repairs) have applied the write
(ProjectionRunner.catch_up_to), so whatever the member reads next — the answer to this
request included — reflects it.

A client that may retry (a phone on a flaky connection) sends an ``Idempotency-Key``
header: the command id is derived from it and the caller, so the retry is answered with
the first outcome and nothing is applied twice.
"""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from aiohttp import web

from ledger.domain.polycules import PolyculeCommand, polycule_decider
from ledger.errors import InvalidInput
from ledger.http.authorization import caller_of
from ledger.http.keys import CLOCK, PROJECTION_RUNNER, SERVICE
from ledger.http.middleware import current_request_id
from ledger.service import CommandOutcome

IDEMPOTENCY_HEADER = "Idempotency-Key"
# The read models a member reads after acting in a polycule.
MEMBER_READ_MODELS = ("memberships", "agreements", "disclosures", "repairs")

_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1d8a52-3c1e-4d43-9d0e-5e7a1c2b9f10")


def command_id_of(request: web.Request) -> UUID:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return uuid.uuid4()
    if not 1 <= len(key) <= 200:
        raise InvalidInput(f"{IDEMPOTENCY_HEADER} must be 1 to 200 characters")
    return uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{caller_of(request)}:{key}")


def stamp(request: web.Request) -> dict[str, Any]:
    """The fields every command carries: who, when, and its id."""
    return {
        "actor": caller_of(request),
        "at": request.app[CLOCK].now(),
        "command_id": command_id_of(request),
    }


async def send(request: web.Request, polycule_id: UUID, command: PolyculeCommand) -> CommandOutcome:
    outcome = await request.app[SERVICE].handle(
        polycule_id, polycule_decider, command, request_id=current_request_id()
    )
    if outcome.version:
        await request.app[PROJECTION_RUNNER].catch_up_to(
            MEMBER_READ_MODELS, polycule_id, outcome.version
        )
    return outcome
