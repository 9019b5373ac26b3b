"""A webhook receiver in a process of its own, for bench/webhooks.py.

``python -m bench.webhook_receiver`` listens on a port of 127.0.0.1 the system chooses and
prints it as one line of JSON (``{"port": 41234}``). It answers:

* ``POST /hook`` — a delivery: 204, noting when each ``webhook-id`` first arrived
  (``time.monotonic()``, the machine's monotonic clock, which the benchmark's process reads
  too) and how many arrived again;
* ``POST /raw`` — the baseline's plain POSTs: 204, nothing noted;
* ``POST /expect`` with a JSON list of webhook-ids — answers once every one of them has
  arrived (or after ``timeout`` seconds, a query parameter) with when each arrived, those
  that did not, and the duplicates so far; no polling, so waiting costs the receiver
  nothing;
* ``POST /forget`` — forgets every arrival and duplicate.

It serves until SIGTERM or SIGINT. ``ReceiverProcess`` starts it from the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import uvloop
from aiohttp import web

from bench.served import ChildProcess, listen, until_stopped


class _Awaited:
    """What one ``/expect`` waits for: the webhook-ids not yet arrived."""

    def __init__(self, ids: set[str]) -> None:
        self.ids = ids
        self.all_in = asyncio.Event()
        if not ids:
            self.all_in.set()


class Arrivals:
    """Each arrival costs the receiver the same whatever is awaited: it is struck off the
    sets it is in, and a waiter wakes only once its set is empty. (Waking the waiter at
    every arrival to look its whole set over again made the receiver's time per message
    grow with the backlog, and weighed on the deliveries the benchmark measures.)"""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.duplicates = 0
        self._awaited: list[_Awaited] = []

    async def hook(self, request: web.Request) -> web.Response:
        at = time.monotonic()
        await request.read()
        message_id = request.headers["webhook-id"]
        if message_id in self.first:
            self.duplicates += 1
        else:
            self.first[message_id] = at
            for awaited in self._awaited:
                if message_id in awaited.ids:
                    awaited.ids.discard(message_id)
                    if not awaited.ids:
                        awaited.all_in.set()
        return web.Response(status=204)

    async def raw(self, request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    async def expect(self, request: web.Request) -> web.Response:
        expected: list[str] = await request.json()
        timeout = float(request.query.get("timeout", "300"))
        awaited = _Awaited({m for m in expected if m not in self.first})
        self._awaited.append(awaited)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await awaited.all_in.wait()
        finally:
            self._awaited.remove(awaited)
        return web.json_response({
            "arrived": {m: self.first[m] for m in expected if m in self.first},
            "missing": sorted(awaited.ids),
            "duplicates": self.duplicates,
        })

    async def forget(self, request: web.Request) -> web.Response:
        self.first.clear()
        self.duplicates = 0
        return web.Response(status=204)


async def serve() -> None:
    arrivals = Arrivals()
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/hook", arrivals.hook)
    app.router.add_post("/raw", arrivals.raw)
    app.router.add_post("/expect", arrivals.expect)
    app.router.add_post("/forget", arrivals.forget)
    runner, port = await listen(app)
    print(json.dumps({"port": port}), flush=True)
    await until_stopped(runner)


class ReceiverProcess(ChildProcess):
    """``python -m bench.webhook_receiver`` as a child process, for a ``with`` block."""

    module = "bench.webhook_receiver"
    base = ""

    def listening(self, announced: dict[str, Any]) -> None:
        self.base = f"http://127.0.0.1:{announced['port']}"


if __name__ == "__main__":
    uvloop.run(serve())
