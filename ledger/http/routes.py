"""Every route of the service, in one list."""

from __future__ import annotations

from aiohttp import web

from ledger.http import operations


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", operations.healthz)
    app.router.add_get("/readyz", operations.readyz)
    app.router.add_get("/status", operations.status)
