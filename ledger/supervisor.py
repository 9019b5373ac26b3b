"""One supervisor for every long-running loop of the service: the webhook fan-out and
delivery, the scheduler, the read side's keeper, the listeners.

Each loop handles what it expects itself (the database going away: it waits and tries
again). What it does not expect — a bug, a malformed row — would otherwise end its task in
silence, and with it the webhooks or the scheduled reviews, until someone restarts the
service. Under the supervisor such an exception is logged once, with the loop's name, and
the loop is started again after a pause that doubles with each failure in a row (from
``first_pause`` up to ``longest_pause``). A loop that keeps failing — ``failing_after``
failures in a row, the last within ``healthy_after`` seconds — is reported by ``failing``,
which ``/readyz`` shows.

Stopping always stops. A cancellation can be lost on its way into a loop: Python 3.11's
``asyncio.wait_for`` (which aiosmtplib and asyncpg's pool use) returns the result that came
in the same moment instead of raising it, and a ``while True`` loop then runs on. So a loop
still running ``ask_again_after`` seconds after it was cancelled is cancelled again, and
again, until it ends; it may be cut off in a clean-up of its own then, which every loop
already survives (a lease, a transaction rolled back).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)


@dataclass
class _Record:
    failures: int = 0
    last_failed_at: float = 0.0


class Supervisor:
    def __init__(
        self,
        *,
        first_pause: float = 0.5,
        longest_pause: float = 30.0,
        failing_after: int = 3,
        healthy_after: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        ask_again_after: float = 1.0,
    ) -> None:
        self._first_pause = first_pause
        self._longest_pause = longest_pause
        self._failing_after = failing_after
        self._healthy_after = healthy_after
        self._clock = clock
        self._ask_again_after = ask_again_after
        self._records: dict[str, _Record] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def run(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        """Run ``loop`` (a coroutine function that runs until cancelled) under supervision."""
        if name in self._tasks:
            raise ValueError(f"a loop named {name} is already supervised")
        self._records[name] = _Record()
        self._tasks[name] = asyncio.create_task(self._supervise(name, loop), name=name)

    @property
    def names(self) -> list[str]:
        """The loops running under this supervisor."""
        return sorted(self._tasks)

    @property
    def failing(self) -> list[str]:
        """The loops that keep failing, by name."""
        now = self._clock()
        return sorted(
            name for name, record in self._records.items()
            if record.failures >= self._failing_after
            and now - record.last_failed_at < self._healthy_after
        )

    def failures(self, name: str) -> int:
        """How many times in a row the loop has failed."""
        return self._records[name].failures

    async def stop(self, name: str | None = None) -> None:
        """Cancel one loop, or every loop, and wait until it has ended."""
        names = [name] if name is not None else list(self._tasks)
        running = {self._tasks.pop(each) for each in names if each in self._tasks}
        while running:
            for task in running:
                task.cancel()
            ended, running = await asyncio.wait(running, timeout=self._ask_again_after)
            for task in ended:
                if not task.cancelled():
                    task.exception()  # retrieved: what a loop ends with was logged already
            if running:
                log.warning(
                    "background_loop_cancelled_again", loops=sorted(t.get_name() for t in running)
                )

    async def _supervise(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        record = self._records[name]
        while True:
            started = self._clock()
            try:
                await loop()
                return  # a loop that ends by itself is done
            except asyncio.CancelledError:
                raise
            except Exception as error:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # Being stopped, the loop ended with an error of its own instead of the
                    # cancellation (asyncpg does, cut off in the middle of a query).
                    log.warning(
                        "background_loop_stopped_mid_work", loop=name, error=type(error).__name__
                    )
                    return
                now = self._clock()
                if now - started >= self._healthy_after:
                    record.failures = 0  # it ran well for a while before this one
                record.failures += 1
                record.last_failed_at = now
                pause = min(self._longest_pause, self._first_pause * 2 ** (record.failures - 1))
                log.exception(
                    "background_loop_failed", loop=name, failures_in_a_row=record.failures,
                    restarting_in_seconds=pause,
                )
            await asyncio.sleep(pause)
