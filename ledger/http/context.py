"""What a query reads with: the application's pool, keyring, clock, event store and
service, taken from the app once per request — never the request itself.

Every view that answers with what is kept is a typed query, ``(context, ids) -> view
model``, beside a thin JSON handler; a page asks the same query after the same policy rule
(ledger/web/reading.py) and renders the model it answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from aiohttp import web

from ledger.clock import Clock
from ledger.http.keys import CLOCK, EVENT_STORE, KEYRING, POOL, SERVICE
from ledger.privacy import KeyRing
from ledger.service import ApplicationService
from ledger.store.events import EventStore


@dataclass(frozen=True, slots=True)
class QueryContext:
    pool: asyncpg.Pool
    keyring: KeyRing
    clock: Clock
    events: EventStore
    service: ApplicationService


def query_context(request: web.Request) -> QueryContext:
    app = request.app
    return QueryContext(app[POOL], app[KEYRING], app[CLOCK], app[EVENT_STORE], app[SERVICE])
