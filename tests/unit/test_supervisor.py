"""The supervisor of background loops: an unexpected exception is logged once with the
loop's name and the loop runs again; a loop that keeps failing is reported; a loop that ran
well for a while before failing starts its count again."""

from __future__ import annotations

import asyncio

import structlog

from ledger.supervisor import Supervisor


class Flaky:
    """A loop that fails its first ``failures`` runs, then runs until cancelled."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.runs = 0
        self.healthy = asyncio.Event()

    async def __call__(self) -> None:
        self.runs += 1
        if self.runs <= self.failures:
            raise RuntimeError(f"run {self.runs} went wrong")
        self.healthy.set()
        await asyncio.Event().wait()


async def test_a_failing_loop_is_logged_with_its_name_and_runs_again() -> None:
    supervisor = Supervisor(first_pause=0, failing_after=3)
    flaky = Flaky(failures=2)
    with structlog.testing.capture_logs() as logs:
        supervisor.run("webhook-delivery", flaky)
        await flaky.healthy.wait()
    await supervisor.stop()

    failed = [line for line in logs if line["event"] == "background_loop_failed"]
    assert [(line["loop"], line["failures_in_a_row"]) for line in failed] == [
        ("webhook-delivery", 1), ("webhook-delivery", 2),
    ]
    assert flaky.runs == 3
    assert supervisor.failing == []  # two in a row is not yet "keeps failing"


async def test_a_loop_that_keeps_failing_is_reported_and_the_others_are_not() -> None:
    supervisor = Supervisor(first_pause=0, failing_after=3)
    third_run = asyncio.Event()

    async def broken() -> None:
        if supervisor.failures("scheduler") == 3:
            third_run.set()
        raise RuntimeError("always")

    fine = Flaky(failures=0)
    supervisor.run("scheduler", broken)
    supervisor.run("webhook-fanout", fine)
    await fine.healthy.wait()
    await third_run.wait()

    assert supervisor.failing == ["scheduler"]
    await supervisor.stop()


async def test_a_loop_that_ran_well_for_a_while_starts_its_count_again() -> None:
    now = [0.0]
    supervisor = Supervisor(first_pause=0, failing_after=2, healthy_after=60, clock=lambda: now[0])
    runs = 0
    third_run = asyncio.Event()

    async def fails_after_a_long_time() -> None:
        nonlocal runs
        runs += 1
        now[0] += 3600.0 if runs > 1 else 0.0  # the second run lasted an hour
        if runs <= 2:
            raise RuntimeError("went wrong")
        third_run.set()
        await asyncio.Event().wait()

    supervisor.run("keeper", fails_after_a_long_time)
    await third_run.wait()

    assert supervisor.failures("keeper") == 1
    assert supervisor.failing == []
    await supervisor.stop()


async def test_stopping_ends_every_loop() -> None:
    supervisor = Supervisor()
    flaky = Flaky(failures=0)
    supervisor.run("listener", flaky)
    await flaky.healthy.wait()
    await supervisor.stop()
    assert supervisor.failing == []
    supervisor.run("listener", flaky)  # the name is free again once stopped
    await supervisor.stop()


async def test_stopping_ends_a_loop_whose_cancellation_was_lost() -> None:
    """Python 3.11's ``asyncio.wait_for`` returns a result that arrives in the same moment
    as the cancellation, and the cancellation is lost (aiosmtplib waits for every SMTP
    answer so): a ``while True`` loop would run on, and the service would never stop."""
    supervisor = Supervisor(ask_again_after=0.01)
    answers: asyncio.Queue[asyncio.Future[str]] = asyncio.Queue()
    conversations = 0

    async def mail_sender() -> None:
        nonlocal conversations
        while True:
            answer = asyncio.get_running_loop().create_future()
            await answers.put(answer)
            try:
                await asyncio.wait_for(answer, timeout=30)
            except asyncio.CancelledError:
                if conversations:
                    raise
                # Where wait_for keeps the cancellation (Python 3.12 and later), the first
                # is lost here instead, as 3.11's wait_for loses it.
            conversations += 1

    supervisor.run("mail-delivery", mail_sender)
    answer = await answers.get()
    with structlog.testing.capture_logs() as logs:
        stopping = asyncio.create_task(supervisor.stop())
        await asyncio.sleep(0)  # the stop has begun: the loop's cancellation is on its way
        answer.set_result("250 OK")  # and the server's answer arrives in the same moment
        async with asyncio.timeout(60):  # a bound on a hang, not a measure of speed
            await stopping

    assert conversations >= 1  # the first cancellation was indeed lost
    assert [line["loops"] for line in logs if line["event"] == "background_loop_cancelled_again"]
