"""The real service on a loopback port, served from a thread of its own, for clients that
block (the fuzzer drives it with ``requests`` from the test's thread)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from aiohttp import web

Result = TypeVar("Result")

# Only a safety net, should the app never start or stop: nothing waits this long.
SAFETY_SECONDS = 120


class ServedApp:
    """An app running in an event loop on a thread of its own, at ``url``."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="served-app", daemon=True
        )
        self._runner = web.AppRunner(app, access_log=None)
        self.url = ""

    def run(self, coroutine: Coroutine[Any, Any, Result]) -> Result:
        """Run ``coroutine`` in the app's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(SAFETY_SECONDS)

    def start(self) -> None:
        self._thread.start()
        self.run(self._start())

    async def _start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    def stop(self) -> None:
        try:
            self.run(self._runner.cleanup())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(SAFETY_SECONDS)
            self.loop.close()


@contextmanager
def served(app: web.Application) -> Iterator[ServedApp]:
    running = ServedApp(app)
    running.start()
    try:
        yield running
    finally:
        running.stop()
