"""The service skeleton, end to end: probes, status, request ids, the access log, lifecycle."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpClient

from ledger.app import create_app
from ledger.config import Settings
from ledger.http.keys import EVENT_STORE
from ledger.store.migrate import bundled_migrations
from tests.http.people import person
from tests.http.support import (
    OPERATOR_TOKEN,
    Client,
    database_cut_off,
    database_name,
    error_of,
)
from tests.support import new_event


async def test_healthz_answers_without_the_database(client: Client) -> None:

    response = await client.get("/healthz")

    assert response.status == 200
    assert await response.json() == {"status": "alive"}


async def test_readyz_is_ready_on_a_migrated_database(client: Client) -> None:

    response = await client.get("/readyz")

    assert response.status == 200
    assert await response.json() == {"status": "ready"}


async def test_startup_applies_the_migrations_to_an_empty_database(
    settings: Settings, empty_database_url: str, aiohttp_client: AiohttpClient
) -> None:
    client = await aiohttp_client(create_app(settings, empty_database_url))

    response = await client.get("/readyz")

    assert response.status == 200
    connection = await asyncpg.connect(empty_database_url)
    try:
        versions = await connection.fetch("SELECT version FROM schema_migrations ORDER BY 1")
    finally:
        await connection.close()
    assert [row["version"] for row in versions] == [m.version for m in bundled_migrations()]


async def test_readyz_refuses_while_migrations_are_pending(
    settings: Settings, database_url: str, aiohttp_client: AiohttpClient
) -> None:
    # The code is one migration ahead of the schema (as after deploying a release whose
    # migration another process has not applied yet).
    latest = bundled_migrations()[-1]
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("DELETE FROM schema_migrations WHERE version = $1", latest.version)
    finally:
        await connection.close()
    client = await aiohttp_client(create_app(settings, database_url, apply_migrations=False))

    response = await client.get("/readyz", headers={"X-Operator-Token": OPERATOR_TOKEN})

    assert response.status == 503
    error = error_of(await response.json())
    assert error["code"] == "not_ready"
    assert error["details"] == {"pending_migrations": [f"{latest.version:04d}_{latest.name}"]}
    # A probe without the operator's token learns that it is not ready, and nothing more.
    anyone = await client.get("/readyz")
    assert anyone.status == 503
    assert error_of(await anyone.json())["details"] == {}


async def test_readyz_refuses_when_the_database_stops_answering(
    client: Client, database_url: str, postgres_admin_url: str
) -> None:
    assert (await client.get("/readyz")).status == 200
    async with database_cut_off(database_url, postgres_admin_url):
        response = await client.get("/readyz")
        alive = await client.get("/healthz")

    assert response.status == 503
    error = error_of(await response.json())
    assert error["code"] == "not_ready"
    assert error["details"] == {"database": "unavailable"}
    # Liveness does not depend on the database: restarting would not bring it back.
    assert alive.status == 200


async def test_status_shows_operators_the_machinery_and_cheap_counts(
    client: Client, pool: asyncpg.Pool
) -> None:
    store = client.app[EVENT_STORE]
    polycule = uuid.uuid4()
    await store.append(polycule, 0, [new_event(), new_event("FactConfirmed")])
    await store.append(uuid.uuid4(), 0, [new_event()])
    # The count shown is the planner's estimate, which autovacuum keeps up to date; /status
    # never counts the table itself (so two events more are not seen until the next ANALYZE).
    await pool.execute("ANALYZE events")
    await store.append(polycule, 2, [new_event(), new_event("FactConfirmed")])

    body = await _status_once_caught_up(client)

    assert set(body) == {
        "webhook_fanout", "mail_fanout", "read_side", "horizon_lag_seconds", "counts"
    }
    # The webhook fan-out and the read models go polycule by polycule; none is behind, and
    # none is parked. Mail is off, so its fan-out does not run and nothing is said of it.
    assert body["webhook_fanout"] == {"polycules_behind": 0}
    assert body["mail_fanout"] is None
    assert body["read_side"] == {"parked_count": 0, "parked": []}
    assert isinstance(body["horizon_lag_seconds"], float)
    assert body["counts"] == {"events_estimate": 3}
    assert str(polycule) not in str(body)  # an operations view shows no polycule


@pytest.mark.parametrize("offered", [None, "", "a wrong token of sixteen chars", OPERATOR_TOKEN])
async def test_status_is_for_operators_alone(
    settings: Settings, database_url: str, aiohttp_client: AiohttpClient, offered: str | None
) -> None:
    """With no token configured nobody sees /status; with one, only who sends it."""
    for configured in (None, settings.operator_token):
        client = await aiohttp_client(create_app(
            settings.model_copy(update={"operator_token": configured}), database_url
        ))
        headers = {} if offered is None else {"X-Operator-Token": offered}

        response = await client.get("/status", headers=headers)

        if configured is not None and offered == OPERATOR_TOKEN:
            assert response.status == 200
        else:
            assert response.status == 403
            error = error_of(await response.json())
            assert error["code"] == "forbidden"
            assert error["details"] == {}
        await client.close()


async def _status_once_caught_up(client: Client) -> dict[str, Any]:
    """Poll /status until the fan-outs (started by the app) have applied every event."""
    async with asyncio.timeout(10):
        while True:
            response = await client.get("/status", headers={"X-Operator-Token": OPERATOR_TOKEN})
            assert response.status == 200
            body: dict[str, Any] = await response.json()
            if body["webhook_fanout"]["polycules_behind"] == 0:
                return body
            await asyncio.sleep(0.05)


async def test_a_plain_request_id_is_echoed(client: Client) -> None:

    response = await client.get("/healthz", headers={"X-Request-ID": "phone-7.retry:2"})

    assert response.headers["X-Request-ID"] == "phone-7.retry:2"


async def test_a_request_id_is_generated_when_none_is_given(client: Client) -> None:

    first = (await client.get("/healthz")).headers["X-Request-ID"]
    second = (await client.get("/nowhere")).headers["X-Request-ID"]

    assert uuid.UUID(first) and uuid.UUID(second)
    assert first != second


async def test_an_unsafe_request_id_is_replaced(client: Client) -> None:
    for offered in ["x" * 101, 'quote" and space', "{json}", "-starts-with-dash"]:
        response = await client.get("/healthz", headers={"X-Request-ID": offered})

        assert uuid.UUID(response.headers["X-Request-ID"]), offered


async def test_the_request_id_is_bound_for_every_log_line_of_the_request(
    app: web.Application, aiohttp_client: AiohttpClient
) -> None:
    async def bound_log_context(request: web.Request) -> web.Response:
        return web.json_response(structlog.contextvars.get_contextvars())

    app.router.add_get("/test/log-context", bound_log_context)
    client = await aiohttp_client(app)

    response = await client.get("/test/log-context", headers={"X-Request-ID": "r-ctx"})

    assert await response.json() == {"request_id": "r-ctx"}


async def test_unknown_route_is_a_json_404(client: Client) -> None:

    response = await client.get("/no/such/page")

    assert response.status == 404
    assert response.content_type == "application/json"
    assert error_of(await response.json())["code"] == "not_found"
    assert uuid.UUID(response.headers["X-Request-ID"])


async def test_wrong_method_is_a_json_405_naming_the_allowed_ones(client: Client) -> None:

    response = await client.delete("/healthz")

    assert response.status == 405
    assert response.content_type == "application/json"
    error = error_of(await response.json())
    assert error["code"] == "method_not_allowed"
    assert "GET" in error["details"]["allowed_methods"]
    assert "GET" in response.headers["Allow"]


async def test_each_request_writes_one_access_log_line(client: Client) -> None:

    with structlog.testing.capture_logs() as logs:
        ok = await client.get("/healthz?token=do-not-log-me")
        missing = await client.get("/absent")

    lines = [entry for entry in logs if entry["event"] == "http_request"]
    assert len(lines) == 2
    first, second = lines
    assert first["method"] == "GET"
    assert first["path"] == "/healthz"  # the query string, with its token, is not logged
    assert first["status"] == 200
    assert first["request_id"] == ok.headers["X-Request-ID"]
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert (second["path"], second["status"]) == ("/absent", 404)
    assert second["request_id"] == missing.headers["X-Request-ID"]
    assert "do-not-log-me" not in str(logs)


async def test_building_the_app_touches_no_database(settings: Settings) -> None:
    # Nothing listens on port 1: any connection attempt at build time would fail here.
    create_app(settings, "postgresql://nobody@127.0.0.1:1/nothing")


async def test_stopping_the_app_closes_every_connection(
    settings: Settings, database_url: str, postgres_admin_url: str
) -> None:
    app = create_app(settings, database_url)
    monitor = await asyncpg.connect(postgres_admin_url)
    name = database_name(database_url)
    connections = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1"
    try:
        async with TestServer(app):
            # The pool's connection and the LISTEN connection at least (the latter opens
            # in the background, hence the wait).
            async with asyncio.timeout(5):
                while await monitor.fetchval(connections, name) < 2:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)

        assert await monitor.fetchval(connections, name) == 0
    finally:
        await monitor.close()


async def test_the_access_log_names_the_route_never_a_secret_in_its_path(client: Client) -> None:
    with structlog.testing.capture_logs() as logs:
        await client.get(
            "/invitations/p0lycule.s3cret-token-of-an-invitation", allow_redirects=False
        )

    [line] = [entry for entry in logs if entry["event"] == "http_request"]
    assert line["path"] == "/invitations/{token}"
    assert "s3cret" not in str(logs)


async def test_a_request_while_the_database_is_away_is_answered_503_to_send_again(
    client: Client, database_url: str, postgres_admin_url: str
) -> None:
    async with person(client) as robin:
        polycule = (await robin.json(
            "POST", "/api/polycules", 201, json={"name": "Pancakes"}
        ))["id"]
        name = database_name(database_url)
        admin = await asyncpg.connect(postgres_admin_url)
        try:
            await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                name,
            )
            response = await robin.request("GET", f"/api/polycules/{polycule}")
        finally:
            await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
            await admin.close()

        assert response.status == 503, await response.text()
        assert response.headers["Retry-After"] == "1"
        assert error_of(await response.json())["code"] == "database_unavailable"
