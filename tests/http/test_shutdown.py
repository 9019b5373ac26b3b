"""Graceful shutdown as ``serve`` does it: requests and webhook deliveries in flight finish,
up to the one timeout the whole shutdown is given."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from ledger.__main__ import run_app_until
from ledger.app import create_app
from ledger.config import Settings
from ledger.http.keys import KEYRING
from ledger.privacy import KeyRing, MasterKey, load_master_key
from ledger.webhooks.delivery import DeliveryWorker
from tests.integration.test_webhook_delivery import ManualClock, endpoint, enqueue, message


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


# Before, the delivery worker gave its attempts a fixed grace of its own on top of the
# service's shutdown; no shutdown here may come near it.
FORMER_FIXED_GRACE_SECONDS = 5.0


async def test_deliveries_in_flight_end_with_the_shutdown_and_are_sent_again_later(
    settings: Settings, database_url: str, service_database_url: str, pool: asyncpg.Pool,
) -> None:
    """A receiver that never answers (30 s allowed per attempt) holds a delivery when
    SIGTERM arrives: the whole service still stops within its setting, and the message is
    sent again, same webhook-id, once its lease runs out."""
    arrived, release = asyncio.Event(), asyncio.Event()
    received: list[str] = []

    async def slow_receiver(request: web.Request) -> web.Response:
        received.append(request.headers["webhook-id"])
        arrived.set()
        await release.wait()
        return web.Response(text="thanks")

    receiver = web.Application()
    receiver.router.add_post("/hook", slow_receiver)
    receiving = web.AppRunner(receiver, shutdown_timeout=0.1)
    await receiving.setup()
    await web.TCPSite(receiving, "127.0.0.1", 0).start()
    host, port = receiving.addresses[0][:2]

    shutdown_timeout = 0.5
    settings = settings.model_copy(update={
        "shutdown_timeout_seconds": shutdown_timeout, "webhook_timeout_seconds": 30.0,
        "webhooks_allow_private": True, "webhooks_allow_http": True,
    })
    app = create_app(settings, service_database_url, owner_url=database_url)
    started = asyncio.Event()

    async def announce_start(_: web.Application) -> None:
        started.set()

    app.on_startup.append(announce_start)  # after every resource has started
    stop = asyncio.Event()
    serving = asyncio.create_task(run_app_until(
        app, host="127.0.0.1", port=_free_port(), shutdown_timeout=shutdown_timeout,
        wait_for_stop=stop.wait,
    ))
    try:
        async with asyncio.timeout(60):
            await started.wait()
            clock = ManualClock()
            hook = await endpoint(pool, app[KEYRING], f"http://{host}:{port}/hook", clock.now())
            [message_id] = await enqueue(pool, hook.endpoint_id, clock.now())
            await arrived.wait()  # the worker polls, or hears of it

        stop.set()
        began = time.monotonic()
        await asyncio.wait_for(serving, 60)
        stopped_after = time.monotonic() - began

        assert stopped_after < FORMER_FIXED_GRACE_SECONDS, stopped_after
        assert not release.is_set()  # the receiver never answered: the attempt was cut
        row = await message(pool, message_id)
        assert row["status"] == "pending" and row["attempts"] == 1

        # Once the cut attempt's lease has run out, another instance sends it again.
        release.set()
        clock.advance(seconds=3 * settings.webhook_timeout_seconds + 1)
        keyring = KeyRing(pool, _master_key_of(settings))
        again = DeliveryWorker(pool, keyring, clock, allow_private=True)
        try:
            assert await again.deliver_due() == 1
        finally:
            await again.stop()
        assert received == [message_id, message_id]
        assert (await message(pool, message_id))["status"] == "succeeded"
    finally:
        release.set()
        stop.set()
        await asyncio.gather(serving, return_exceptions=True)
        await receiving.cleanup()


def _master_key_of(settings: Settings) -> MasterKey:
    """The master key the service found, as it found it (ledger/app.py)."""
    return load_master_key(
        settings.master_key.get_secret_value() if settings.master_key else None,
        data_dir=settings.data_dir, allow_key_file=settings.database_url is None,
    )
