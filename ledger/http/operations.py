"""Views for operators and orchestrators: alive, ready, and how the machinery is doing.

``/healthz`` and ``/readyz`` answer anyone (a probe carries no credential): alive, ready or
not, and nothing more. What lies behind them — which migrations are pending, how many
polycules are parked, the fan-out's lag, the reader horizon, which polycules are parked
and on which event — is operations detail, shown only to operators, who send the
configured ``LEDGER_OPERATOR_TOKEN`` as ``X-Operator-Token`` (``/status`` is theirs alone:
Rule.OPERATOR in ledger/auth/policy.py). None of it shows anything of a polycule beyond
ids, and every query here is cheap: nothing counts the events table.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog
from aiohttp import web

from ledger.auth.policy import is_operator
from ledger.database import is_away
from ledger.http.authorization import OPERATOR_HEADER
from ledger.http.errors import NotReady
from ledger.http.keys import (
    DATABASE_AVAILABILITY,
    EVENT_STORE,
    POOL,
    SETTINGS,
    SUPERVISOR,
)
from ledger.mail.fanout import MailFanout
from ledger.store.migrate import pending_migrations
from ledger.webhooks.fanout import WebhookFanout
from projections.read_side import ParkedPolycule, parked_polycules
from projections.runner import polycules_behind

log = structlog.get_logger(__name__)

# A readiness probe must answer quickly even when the database does not.
READINESS_TIMEOUT_SECONDS = 2.0

# Every way asyncpg reports that the server cannot be reached or the connection broke
# (InternalClientError: a connection cut by the server in the middle of an operation).
_DATABASE_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


async def healthz(request: web.Request) -> web.Response:
    """The process is alive and serving; deliberately touches nothing else."""
    return web.json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    """Ready for traffic: the database answers and its schema matches this code. Why not,
    and what is degraded, only an operator is told."""
    operator = _is_operator(request)
    try:
        async with request.app[POOL].acquire(timeout=READINESS_TIMEOUT_SECONDS) as connection:
            await connection.fetchval("SELECT 1", timeout=READINESS_TIMEOUT_SECONDS)
            # The pool hands out a proxy of a Connection; the store's signature names the
            # class itself.
            pending = await pending_migrations(connection)
            parked = await connection.fetchval(
                "SELECT count(*) FROM polycule_read_models WHERE parked_at IS NOT NULL",
                timeout=READINESS_TIMEOUT_SECONDS,
            ) if operator and not pending else 0
    except _DATABASE_UNAVAILABLE as error:
        if is_away(error):  # an outage: logged once, however often the probe asks
            await request.app[DATABASE_AVAILABILITY].met(error)
        else:
            log.warning("not_ready", reason="database_unavailable", error=type(error).__name__)
        raise NotReady(
            "the database does not answer", details={"database": "unavailable"}
        ) from None
    if pending:
        raise NotReady(
            "the database schema is behind this version of the service",
            details={
                "pending_migrations": [f"{m.version:04d}_{m.name}" for m in pending]
            } if operator else None,
        )
    # Ready all the same with a polycule parked (every other one is served as usual) or a
    # background loop failing again and again (its supervisor keeps restarting it; taking
    # instances out of service would not mend it): operators are told which.
    degraded: dict[str, Any] = {}
    if parked:
        degraded["parked_polycules"] = parked
    failing = request.app[SUPERVISOR].failing if operator else []
    if failing:
        degraded["failing_loops"] = failing
    if degraded:
        return web.json_response({"status": "ready", "degraded": degraded})
    return web.json_response({"status": "ready"})


def _is_operator(request: web.Request) -> bool:
    configured = request.app[SETTINGS].operator_token
    return is_operator(
        request.headers.get(OPERATOR_HEADER),
        configured.get_secret_value() if configured else None,
    )


def _parked_json(parked: ParkedPolycule) -> dict[str, object]:
    return {
        "polycule_id": str(parked.polycule_id),
        "version": parked.version,
        "event_id": str(parked.event_id) if parked.event_id else None,
        "event_type": parked.event_type,
        "error": parked.error,
        "parked_at": parked.parked_at.isoformat(),
        "retries": parked.retries,
        "next_retry_at": parked.retry_at.isoformat() if parked.retry_at else None,
    }


# The planner's estimate of the events stored, kept up to date by autovacuum's ANALYZE:
# read from the catalogue, whatever the table's size (-1 before the first ANALYZE).
_EVENTS_ESTIMATE = """
SELECT reltuples::bigint FROM pg_class WHERE oid = 'events'::regclass
"""
async def status(request: web.Request) -> web.Response:
    """For operators only (the policy refused everyone else)."""
    pool = request.app[POOL]
    # Read from the database, so that any instance answers whichever runs the fan-outs.
    # While mail is off the mail fan-out does not run, and nothing is said of it.
    webhooks_behind = await polycules_behind(pool, WebhookFanout.name)
    mail_behind = (
        await polycules_behind(pool, MailFanout.name)
        if request.app[SETTINGS].mail_enabled else None
    )
    horizon_lag_seconds = await request.app[EVENT_STORE].horizon_lag_seconds()
    estimate = await pool.fetchval(_EVENTS_ESTIMATE)
    parked = await parked_polycules(pool)
    return web.json_response({
        "webhook_fanout": {"polycules_behind": webhooks_behind},
        "mail_fanout": None if mail_behind is None else {"polycules_behind": mail_behind},
        "read_side": {
            "parked_count": len(parked), "parked": [_parked_json(one) for one in parked]
        },
        "horizon_lag_seconds": horizon_lag_seconds,
        "counts": {"events_estimate": estimate if estimate >= 0 else None},
    })
