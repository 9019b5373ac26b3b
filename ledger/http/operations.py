"""Views for operators and orchestrators: alive, ready, and how the machinery is doing.

None of them shows anything of a polycule: names of projections, positions and counts.
Only an operator, who sends the configured ``LEDGER_OPERATOR_TOKEN`` as ``X-Operator-Token``,
is also shown which polycules are parked and on which event (id, type, the error's kind),
so as to act on it; the same is in the log and in ``python -m ledger projections status``.
"""

from __future__ import annotations

import hmac

import asyncpg
import structlog
from aiohttp import web

from ledger.http.errors import NotReady
from ledger.http.keys import EVENT_STORE, POOL, PROJECTION_RUNNER, SETTINGS
from ledger.store.migrate import pending_migrations
from projections.read_side import ParkedPolycule, parked_count, parked_polycules
from projections.runner import ProjectionStatus, count_events

log = structlog.get_logger(__name__)

OPERATOR_HEADER = "X-Operator-Token"

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
    """Ready for traffic: the database answers and its schema matches this code."""
    try:
        async with request.app[POOL].acquire(timeout=READINESS_TIMEOUT_SECONDS) as connection:
            await connection.fetchval("SELECT 1", timeout=READINESS_TIMEOUT_SECONDS)
            # The pool hands out a proxy of a Connection; the store's signature names the
            # class itself.
            pending = await pending_migrations(connection)
            parked = await connection.fetchval(
                "SELECT count(*) FROM polycule_read_models WHERE parked_at IS NOT NULL",
                timeout=READINESS_TIMEOUT_SECONDS,
            ) if not pending else 0
    except _DATABASE_UNAVAILABLE as error:
        log.warning("not_ready", reason="database_unavailable", error=type(error).__name__)
        raise NotReady(
            "the database does not answer", details={"database": "unavailable"}
        ) from None
    if pending:
        raise NotReady(
            "the database schema is behind this version of the service",
            details={"pending_migrations": [f"{m.version:04d}_{m.name}" for m in pending]},
        )
    if parked:
        # Ready all the same: every other polycule is served as usual.
        return web.json_response({"status": "ready", "degraded": {"parked_polycules": parked}})
    return web.json_response({"status": "ready"})


def _projection_json(status: ProjectionStatus) -> dict[str, object]:
    return {
        "name": status.name,
        "checkpoint_transaction_id": status.checkpoint_transaction_id,
        "checkpoint_position": status.checkpoint_position,
        "events_behind": status.events_behind,
        "updated_at": status.updated_at.isoformat(),
    }


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


def _is_operator(request: web.Request) -> bool:
    expected = request.app[SETTINGS].operator_token
    offered = request.headers.get(OPERATOR_HEADER)
    if expected is None or offered is None:
        return False
    return hmac.compare_digest(offered.encode(), expected.get_secret_value().encode())


async def status(request: web.Request) -> web.Response:
    pool = request.app[POOL]
    projections = await request.app[PROJECTION_RUNNER].status()
    horizon_lag_seconds = await request.app[EVENT_STORE].horizon_lag_seconds()
    events = await count_events(pool)
    read_side: dict[str, object]
    if _is_operator(request):
        parked = await parked_polycules(pool)
        read_side = {
            "parked_count": len(parked), "parked": [_parked_json(one) for one in parked]
        }
    else:
        read_side = {"parked_count": await parked_count(pool)}
    return web.json_response({
        "projections": [_projection_json(projection) for projection in projections],
        "read_side": read_side,
        "horizon_lag_seconds": horizon_lag_seconds,
        "counts": {"events": events},
    })
