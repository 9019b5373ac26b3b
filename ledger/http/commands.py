"""How a view sends a command: stamped with the caller, the application's clock and an id,
and handled by the application service.

Read-your-writes: the polycule's read models are written in the command's own transaction
(projections/read_side.py), so the answer to this request, and whatever the member reads
next, already shows it. Only when the polycule's read side is parked (an older event it
cannot apply) are the events recorded without being shown; then the view is not run at
all, and the write is answered 202 with what was decided, built from the events themselves
(types, ids and numbers, never words), and ``"views_behind": true`` (``ViewsBehind``).

A client that may retry (a phone on a flaky connection) sends an ``Idempotency-Key``
header: the command id is derived from it and the caller, so the retry is answered with
the first outcome and nothing is applied twice. The key names one request: sent again with
another method, path or body, it is refused (422 ``idempotency_key_reused``).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any
from uuid import UUID

from aiohttp import web

from ledger.domain.polycules import PolyculeCommand, polycule_decider
from ledger.errors import InvalidInput
from ledger.http.authorization import caller_of
from ledger.http.errors import ViewsBehind
from ledger.http.keys import CLOCK, SERVICE
from ledger.http.middleware import current_request_id
from ledger.service import CommandOutcome

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX_LENGTH = 200

_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1d8a52-3c1e-4d43-9d0e-5e7a1c2b9f10")


def command_id_of(request: web.Request) -> UUID:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return uuid.uuid4()
    if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX_LENGTH:
        raise InvalidInput(
            f"{IDEMPOTENCY_HEADER} must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} characters"
        )
    return uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{caller_of(request)}:{key}")


def stamp(request: web.Request) -> dict[str, Any]:
    """The fields every command carries: who, when, and its id."""
    return {
        "actor": caller_of(request),
        "at": request.app[CLOCK].now(),
        "command_id": command_id_of(request),
    }


async def fingerprint_of(request: web.Request) -> str:
    """A digest of what the request asks: its method, path and body, exactly as sent."""
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), await request.read()):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


async def send(
    request: web.Request,
    polycule_id: UUID,
    command: PolyculeCommand,
    *,
    answer_reads_views: bool = True,
) -> CommandOutcome:
    """Handle ``command``. ``answer_reads_views=False``: the view answers from what it holds
    itself (an invitation's secret, shown once), so it answers even while the polycule's
    views are behind."""
    keyed = IDEMPOTENCY_HEADER in request.headers
    outcome = await request.app[SERVICE].handle(
        polycule_id, polycule_decider, command, request_id=current_request_id(),
        new_command_id=not keyed,
        request_fingerprint=await fingerprint_of(request) if keyed else None,
    )
    if not outcome.views_current and answer_reads_views:
        raise ViewsBehind(outcome)
    return outcome
