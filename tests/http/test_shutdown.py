"""Graceful shutdown as ``serve`` does it: requests in flight finish, up to the timeout."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
import pytest
from aiohttp import web

from ledger.__main__ import run_app_until


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _serve_with_slow_request(
    app: web.Application, *, view_seconds: float, shutdown_timeout: float
) -> tuple[asyncio.Task[None], asyncio.Task[aiohttp.ClientResponse], aiohttp.ClientSession, int]:
    """Serve the app, start a request taking ``view_seconds``, then ask the server to stop."""
    started = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        started.set()
        await asyncio.sleep(view_seconds)
        return web.json_response({"finished": True})

    app.router.add_get("/test/slow", slow)
    stop = asyncio.Event()
    port = _free_port()
    serving = asyncio.create_task(run_app_until(
        app, host="127.0.0.1", port=port, shutdown_timeout=shutdown_timeout,
        wait_for_stop=stop.wait,
    ))
    session = aiohttp.ClientSession()
    async with asyncio.timeout(10):
        while True:
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                    assert response.status == 200
                    break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)  # not listening yet
    in_flight = asyncio.create_task(session.get(f"http://127.0.0.1:{port}/test/slow"))
    await started.wait()
    stop.set()
    return serving, in_flight, session, port


async def test_a_request_in_flight_finishes_before_the_app_stops(app: web.Application) -> None:
    serving, in_flight, session, port = await _serve_with_slow_request(
        app, view_seconds=0.5, shutdown_timeout=5
    )
    await asyncio.sleep(0.1)
    async with aiohttp.ClientSession() as newcomer:
        with pytest.raises(aiohttp.ClientConnectionError):  # no longer listening
            await newcomer.get(f"http://127.0.0.1:{port}/healthz")
    async with session:
        response = await in_flight
        assert response.status == 200
        assert await response.json() == {"finished": True}
    await asyncio.wait_for(serving, 10)


async def test_shutdown_waits_no_longer_than_its_timeout(app: web.Application) -> None:
    began = time.monotonic()
    serving, in_flight, session, _ = await _serve_with_slow_request(
        app, view_seconds=30, shutdown_timeout=0.5
    )
    async with session:
        await asyncio.wait_for(serving, 10)
        with pytest.raises(aiohttp.ClientError):
            await in_flight  # cut off: the server closed the connection without an answer

    assert time.monotonic() - began < 10
