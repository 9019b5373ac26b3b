"""Benchmark: webhooks through the real service, as a fleet runs them, in one run.

Three processes: this one is a web instance (the application factory with ``role=web``,
on a TCP port); beside it one worker (``python -m ledger serve --role worker``: the
webhook fan-out and delivery); and a receiver of its own (bench/webhook_receiver.py: 204
to every delivery, noting when each ``webhook-id`` first arrived). Members sign up over
HTTP, each registers an endpoint aimed at the receiver, and polycules of five are founded
and joined over HTTP. Then one writer per polycule commits a stream of agreement events
through this instance's application service (proposals, consents and ratifications,
reviews, revocations, withdrawals: one command per transaction, as the API sends them),
and the worker turns them into messages and delivers them, signed.

* live — the writers flat out: the most they commit (events/s), the delivery rate over
  the part (messages delivered ÷ time from the first commit to the last arrival), and the
  time from each event's commit (its append returned) to its message's arrival;
* paced — the writers at half that commit rate: commit to arrival, p50/p99/max (target:
  p99 under a second);
* backlog — the worker stopped (SIGTERM), events committed, then a worker started: how
  fast it makes and delivers what waited (first to last arrival; target: at least half
  the plain POSTs' rate);
* plain POSTs — the live part's bodies POSTed straight to the same receiver with
  aiohttp's client (the stack's), as many at a time as the worker sends, over kept-alive
  connections, no queue, no signing: the raw rate. The same POSTs are then sent through
  the delivery's own sender (ledger/webhooks/sending.py) too, for reference: delivery
  against those says what the queue, the fan-out, signing and recording cost beside the
  sending itself. Backlog and plain POSTs alternate for a few rounds, so that drift in the machine
  weighs on both alike: each round's ratio compares a backlog with the plain POSTs that
  follow it, and the ratio printed is the median of the rounds' ratios. Each round also
  says the processor time per message of the worker (from its start to the last arrival)
  and of the plain POSTs' client, each with the receiver's beside it and, where the
  database runs on this machine, its backends' (read from /proc): on a machine shared
  with other work, rates swing with the load and this comparison hardly does; and on a
  machine of two cores, where the worker, the receiver and the database share them, it
  says how far any rate can go.

The receiver and the benchmark read the same monotonic clock of the machine. The
polycules' streams grow as the parts follow one another; each line says how long.

    ./dev bench webhooks [--members 20] [--events 3000] [--paced-events 1500]
                         [--drain-events 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import socket
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from bench.agreements_read import percentile, text
from bench.scratch import run_against_postgres, scratch_database
from bench.served import REPOSITORY, DatabaseMeter, cpu_seconds_of, listen
from bench.webhook_receiver import ReceiverProcess
from ledger.app import create_app
from ledger.config import Settings
from ledger.domain import agreements as rules
from ledger.domain.polycules import PolyculeCommand, polycule_decider
from ledger.http.keys import CLOCK, POOL, SERVICE
from ledger.logs import configure_logging
from ledger.privacy import MasterKey
from ledger.service import event_id_for
from ledger.transparency.signing import new_private_key_text
from ledger.webhooks.delivery import DEFAULT_CONCURRENCY
from ledger.webhooks.fanout import WebhookFanout
from ledger.webhooks.sending import Sender
from projections.runner import polycules_behind

PASSWORD = "a long enough bench password"
POLYCULE_SIZE = 5
# As many POSTs at a time as the delivery worker keeps in flight (its default).
CONCURRENCY = DEFAULT_CONCURRENCY
WAIT_SECONDS = 300.0


@dataclass
class Member:
    session: aiohttp.ClientSession
    handle: str
    account_id: uuid.UUID = field(default_factory=uuid.uuid4)
    csrf: str = ""

    async def call(self, method: str, url: str, status: int, **kwargs: Any) -> Any:
        async with self.session.request(
            method, url, headers={"X-CSRF-Token": self.csrf}, **kwargs
        ) as response:
            if response.status != status:
                raise RuntimeError(f"{method} {url}: {response.status} {await response.text()}")
            return await response.json() if response.status != 204 else None


async def sign_up(base: str, member: Member) -> None:
    handle = member.handle
    created = await member.call("POST", f"{base}/api/accounts", 201, json={
        "handle": handle, "display_name": handle.capitalize(), "password": PASSWORD,
    })
    member.account_id = uuid.UUID(created["id"])


async def sign_in(base: str, member: Member) -> None:
    signed_in = await member.call("POST", f"{base}/api/session", 200, json={
        "handle": member.handle, "password": PASSWORD,
    })
    member.csrf = signed_in["csrf_token"]


def polycule_groups(
    people: Sequence[Member], size: int, rng: random.Random
) -> list[list[Member]]:
    """Each member in two polycules of ``size``: the members dealt out twice, in two
    orders, so that the second round's polycules mix members of the first's."""
    groups = []
    for _ in range(2):
        dealt = list(people)
        rng.shuffle(dealt)
        dealt += dealt[: -len(dealt) % size]  # the last polycule filled up
        groups += [dealt[start:start + size] for start in range(0, len(people), size)]
    return groups


async def found(base: str, name: str, members: Sequence[Member]) -> uuid.UUID:
    """A polycule founded by the first member; the others invited and joining, over HTTP."""
    founder = members[0]
    made = await founder.call("POST", f"{base}/api/polycules", 201, json={"name": name})
    polycule_id = uuid.UUID(made["id"])
    for member in members[1:]:
        invitation = await founder.call(
            "POST", f"{base}/api/polycules/{polycule_id}/invitations", 201, json={}
        )
        await member.call("POST", f"{base}/api/invitations/{invitation['token']}/accept",
                          200, json={})
    return polycule_id


class Pacer:
    """Spaces the writers' commands (all of them together) ``1/rate`` seconds apart;
    with no rate, lets them go as fast as they can."""

    def __init__(self) -> None:
        self.rate: float | None = None
        self._next = 0.0

    def pace(self, rate: float | None) -> None:
        self.rate = rate
        self._next = time.perf_counter()

    async def wait(self) -> None:
        if self.rate is None:
            return
        now = time.perf_counter()
        slot = max(now, self._next)
        self._next = slot + 1 / self.rate
        await asyncio.sleep(slot - now)


class Writer:
    """One polycule's life, committed command by command through the application
    service; notes when each event's append returned."""

    def __init__(
        self, app: web.Application, polycule_id: uuid.UUID, members: Sequence[uuid.UUID],
        rng: random.Random, committed: dict[uuid.UUID, float], pacer: Pacer,
    ) -> None:
        self.app = app
        self.polycule_id = polycule_id
        self.members = list(members)
        self.rng = rng
        self.committed = committed
        self.pacer = pacer

    async def handle(
        self, actor: uuid.UUID, build: Callable[[dict[str, Any]], PolyculeCommand]
    ) -> int:
        await self.pacer.wait()
        stamp = {"actor": actor, "at": self.app[CLOCK].now(), "command_id": uuid.uuid4()}
        command = build(stamp)
        outcome = await self.app[SERVICE].handle(self.polycule_id, polycule_decider, command)
        at = time.monotonic()  # the machine's clock, which the receiver's process reads too
        for index in range(len(outcome.events)):
            self.committed[event_id_for(command.command_id, index)] = at
        return len(outcome.events)

    async def cycle(self) -> int:
        """An agreement proposed to everyone; mostly ratified, later revoked or reviewed;
        sometimes withdrawn before anyone answers. The number of events committed."""
        proposer = self.rng.choice(self.members)
        others = [member for member in self.members if member != proposer]
        proposal_id, agreement_id = uuid.uuid4(), uuid.uuid4()
        written = await self.handle(proposer, lambda stamp: rules.ProposeAgreement(
            **stamp, proposal_id=proposal_id, agreement_id=agreement_id,
            parties=(proposer, *others), text=text(self.rng), respond_by=None,
        ))
        if self.rng.random() < 0.2:
            return written + await self.handle(proposer, lambda stamp: rules.Withdraw(
                **stamp, proposal_id=proposal_id
            ))
        for party in others:
            written += await self.handle(party, lambda stamp: rules.Consent(
                **stamp, proposal_id=proposal_id, revision=1
            ))
        if self.rng.random() < 0.5:
            asker = self.rng.choice(others)
            written += await self.handle(asker, lambda stamp: rules.RequestReview(
                **stamp, agreement_id=agreement_id, note="Can we talk about it?"
            ))
        return written + await self.handle(self.rng.choice(others), lambda stamp:
            rules.RevokeConsent(**stamp, agreement_id=agreement_id, note="It stopped fitting."))


async def write_events(writers: Sequence[Writer], events: int) -> int:
    """Every writer commits cycles until ``events`` have been committed between them."""
    written = 0

    async def run(writer: Writer) -> None:
        nonlocal written
        while written < events:
            done = await writer.cycle()  # (``written += await …`` would lose the others')
            written += done

    await asyncio.gather(*(run(writer) for writer in writers))
    return written




class WorkerProcess:
    """``python -m ledger serve --role worker`` as a child process: started, stopped
    (SIGTERM, as an orchestrator stops it) and started again."""

    def __init__(self, environment: dict[str, str]) -> None:
        self._environment = {**os.environ, **environment}
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        port = free_port()
        self._process = process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ledger", "serve", "--role", "worker", "--port", str(port),
            cwd=REPOSITORY, env=self._environment, stdout=asyncio.subprocess.DEVNULL,
        )
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if process.returncode is not None:
                    raise RuntimeError("the worker exited at start")
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise RuntimeError("the worker did not become ready")

    def cpu_seconds(self) -> float:
        """The processor time the running worker has used so far."""
        assert self._process is not None
        return cpu_seconds_of(self._process.pid)

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Receiver:
    """The receiver's process, as the benchmark asks it."""

    def __init__(
        self, base: str, session: aiohttp.ClientSession, cpu_seconds: Callable[[], float]
    ) -> None:
        self.url = f"{base}/hook"
        self.cpu_seconds = cpu_seconds  # the receiver's processor time so far
        self.raw_url = f"{base}/raw"
        self._base = base
        self._session = session

    async def all_arrived(self, expected: Sequence[str]) -> tuple[dict[str, float], int, int]:
        """When each expected message arrived, how many never did within WAIT_SECONDS,
        and the duplicates."""
        async with self._session.post(
            f"{self._base}/expect", json=list(expected), params={"timeout": str(WAIT_SECONDS)},
            timeout=aiohttp.ClientTimeout(total=WAIT_SECONDS + 30),
        ) as response:
            answer = await response.json()
        return answer["arrived"], len(answer["missing"]), answer["duplicates"]

    async def forget(self) -> None:
        async with self._session.post(f"{self._base}/forget") as response:
            response.raise_for_status()


async def fanned_out(app: web.Application) -> None:
    """Until the fan-out (in the worker) has turned every committed event into messages."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if await polycules_behind(app[POOL], WebhookFanout.name) == 0:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the webhook fan-out did not catch up")


async def messages_of(
    app: web.Application, event_ids: Sequence[uuid.UUID]
) -> dict[str, tuple[uuid.UUID, str]]:
    """The messages made of these events: webhook-id → (event id, body as sent)."""
    rows = await app[POOL].fetch(
        "SELECT message_id, event_id, payload::text AS body FROM webhook_messages "
        "WHERE event_id = ANY($1::uuid[])", list(event_ids),
    )
    return {row["message_id"]: (row["event_id"], row["body"]) for row in rows}


async def raw_posts(url: str, bodies: Sequence[str]) -> tuple[float, float]:
    """Plain POSTs of ``bodies`` to ``url``, CONCURRENCY at a time over kept-alive
    connections; messages per second, and this process's processor time per message."""
    queue = list(reversed(bodies))
    headers = {"Content-Type": "application/json"}

    async def poster(session: aiohttp.ClientSession) -> None:
        while queue:
            body = queue.pop()
            async with session.post(url, data=body.encode(), headers=headers) as response:
                await response.read()
                if response.status != 204:
                    raise RuntimeError(f"the receiver answered {response.status}")

    connector = aiohttp.TCPConnector(limit=CONCURRENCY, limit_per_host=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        started, cpu_before = time.monotonic(), time.process_time()
        await asyncio.gather(*(poster(session) for _ in range(CONCURRENCY)))
        return (
            len(bodies) / (time.monotonic() - started),
            (time.process_time() - cpu_before) / len(bodies),
        )


async def sender_posts(url: str, bodies: Sequence[str]) -> float:
    """The same plain POSTs through the delivery's own sender (ledger/webhooks/sending.py)
    rather than aiohttp's client: messages per second."""
    queue = list(reversed(bodies))
    target = URL(url)
    sender = Sender(user_agent="bench/1", connect_seconds=5, total_seconds=20,
                    allow_private=True)

    async def poster() -> None:
        while queue:
            answer = await sender.post(target, {}, queue.pop().encode())
            if answer.status != 204:
                raise RuntimeError(f"the receiver answered {answer.status}")

    try:
        started = time.monotonic()
        await asyncio.gather(*(poster() for _ in range(CONCURRENCY)))
        return len(bodies) / (time.monotonic() - started)
    finally:
        await sender.close()


@dataclass(frozen=True)
class Outcome:
    """What became of the messages made of one part's events."""

    messages: int
    delivered: int
    duplicates: int
    missing: int
    latencies: list[float]  # commit → first arrival, seconds, per message
    rate: float  # messages delivered per second, from ``since`` (or the first) to the last
    bodies: list[str]


async def outcome_of(
    app: web.Application, receiver: Receiver, committed: dict[uuid.UUID, float],
    since: float | None,
) -> Outcome:
    """Once the fan-out has caught up and every message has arrived (or the wait ran
    out): the part's figures. Without ``since``, the rate runs from the first arrival."""
    await fanned_out(app)
    messages = await messages_of(app, list(committed))
    arrived, missing, duplicates = await receiver.all_arrived(list(messages))
    first = since if since is not None else min(arrived.values(), default=0.0)
    last = max(arrived.values(), default=first)
    return Outcome(
        messages=len(messages),
        delivered=len(arrived),
        duplicates=duplicates,
        missing=missing,
        latencies=[at - committed[messages[m][0]] for m, at in arrived.items()],
        rate=len(arrived) / (last - first) if last > first else 0.0,
        bodies=[body for _, body in messages.values()],
    )


async def stream_length(app: web.Application, polycules: Sequence[uuid.UUID]) -> str:
    mean = await app[POOL].fetchval(
        "SELECT avg(version)::float FROM ("
        " SELECT max(stream_version) AS version FROM events"
        " WHERE stream_id = ANY($1::uuid[]) GROUP BY stream_id) AS streams",
        list(polycules),
    )
    return f"polycule streams now {mean:.0f} events long on average"


@dataclass
class Beside:
    """The processor time of what works beside the sender in a part: the receiver's
    process, and the database's backends where the server is on this machine."""

    receiver: Receiver
    database: DatabaseMeter | None
    receiver_before: float
    database_before: dict[int, float] | None

    @classmethod
    async def now(cls, receiver: Receiver, database: DatabaseMeter | None) -> Beside:
        return cls(receiver, database, receiver.cpu_seconds(),
                   None if database is None else await database.cpu_seconds())

    async def per_message(self, messages: int) -> str:
        """Since ``now``, per message, as the round's line says it."""
        each = max(messages, 1)
        receiving = (self.receiver.cpu_seconds() - self.receiver_before) / each
        said = f" (the receiver's {receiving * 1e6:.0f} µs"
        if self.database is not None and self.database_before is not None:
            spent = await self.database.spent_since(self.database_before)
            if spent is not None:
                said += f", the database's {spent / each * 1e6:.0f} µs"
        return said + ")"


def milliseconds(samples: Sequence[float]) -> str:
    return (f"p50 {percentile(samples, 0.50) * 1000:6.1f} ms   "
            f"p99 {percentile(samples, 0.99) * 1000:6.1f} ms   "
            f"max {max(samples) * 1000:6.1f} ms")


async def bench(
    server_url: str, members: int, events: int, paced_events: int, drain_events: int,
    rounds: int,
) -> int:
    with ReceiverProcess() as receiving:
        async with aiohttp.ClientSession() as asking, scratch_database(server_url) as url:
            return await bench_with(
                Receiver(receiving.base, asking, receiving.cpu_seconds), url, members, events,
                paced_events, drain_events, rounds,
            )


async def bench_with(
    receiver: Receiver, url: str, members: int, events: int, paced_events: int,
    drain_events: int, rounds: int,
) -> int:
    master_key = MasterKey.generate().to_base64()
    # Every instance signs checkpoints with the one key.
    checkpoint_key = new_private_key_text()
    settings = Settings.model_validate({
        "database_url": url, "LEDGER_MASTER_KEY": master_key, "role": "web",
        "checkpoint_key": checkpoint_key,
        "log_level": "warning", "pool_min_size": 4, "pool_max_size": 10,
        # Every member signs up from 127.0.0.1.
        "sign_ups_per_address_per_hour": max(members, 1),
        "webhooks_allow_private": True, "webhooks_allow_http": True,
    })
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings, url)
    runner, port = await listen(app)
    database = await DatabaseMeter.of(url)
    base = f"http://127.0.0.1:{port}"
    worker = WorkerProcess({
        "DATABASE_URL": url, "LEDGER_MASTER_KEY": master_key, "LEDGER_LOG_LEVEL": "warning",
        "LEDGER_CHECKPOINT_KEY": checkpoint_key,
        "LEDGER_POOL_MIN_SIZE": "4", "LEDGER_POOL_MAX_SIZE": "10",
        "LEDGER_WEBHOOKS_ALLOW_PRIVATE": "true", "LEDGER_WEBHOOKS_ALLOW_HTTP": "true",
    })
    people: list[Member] = []
    try:
        await worker.start()
        # -- the people, their endpoints, their polycules: all over HTTP ------------------
        people = [
            # Each with a cookie jar of their own, which keeps cookies for 127.0.0.1.
            Member(aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)),
                   f"bench{index:03d}")
            for index in range(members)
        ]
        await asyncio.gather(*(sign_up(base, member) for member in people))
        for member in people:
            # One at a time: sign-ins in progress from one address count as failures
            # until they succeed, and a burst of them is throttled.
            await sign_in(base, member)
            await member.call("POST", f"{base}/api/webhooks/endpoints", 201, json={
                "url": receiver.url, "description": "bench receiver",
            })
        size = min(POLYCULE_SIZE, members)
        groups = polycule_groups(people, size, random.Random(5))
        polycules = [await found(base, f"Bench {n}", group) for n, group in
                     enumerate(groups)]
        await fanned_out(app)
        setup = await app[POOL].fetchval("SELECT count(*) FROM webhook_messages")
        await receiver.all_arrived(list(await app[POOL].fetchval(
            "SELECT array_agg(message_id) FROM webhook_messages") or []))
        print(f"{members} members, each with an endpoint at the receiver (a process of its "
              f"own); {len(groups)} polycules of {size} (each member in two); {setup} "
              "member.joined messages delivered while setting up; one web instance (this "
              "process: the writers commit through it) and one worker process")

        rng = random.Random(11)
        committed: dict[uuid.UUID, float] = {}
        pacer = Pacer()
        writers = [
            Writer(app, polycule_id, [m.account_id for m in group], rng, committed, pacer)
            for polycule_id, group in zip(polycules, groups, strict=True)
        ]
        # Warm the paths (plans, caches, states, connections) before measuring.
        await write_events(writers, 10 * len(writers))
        await outcome_of(app, receiver, committed, None)

        # -- live: the writers flat out, the worker delivering as they commit -------------
        committed.clear()
        await receiver.forget()
        started = time.monotonic()
        written = await write_events(writers, events)
        max_commit_rate = written / (time.monotonic() - started)
        live = await outcome_of(app, receiver, committed, min(committed.values()))
        print(f"live:    {written} events committed by {len(writers)} writers flat out at "
              f"{max_commit_rate:.0f} events/s; {live.messages} messages, "
              f"{live.delivered} delivered, {live.duplicates} duplicates; "
              f"{await stream_length(app, polycules)}")

        # -- paced: half the most the writers committed -----------------------------------
        committed.clear()
        await receiver.forget()
        pacer.pace(max_commit_rate / 2)
        started = time.monotonic()
        paced_written = await write_events(writers, paced_events)
        paced_commit_rate = paced_written / (time.monotonic() - started)
        pacer.pace(None)
        paced = await outcome_of(app, receiver, committed, min(committed.values()))
        print(f"paced:   {paced_written} events committed at {paced_commit_rate:.0f} "
              f"events/s; {paced.messages} messages, {paced.delivered} delivered, "
              f"{paced.duplicates} duplicates; {await stream_length(app, polycules)}")

        # -- backlog and plain POSTs, round after round, so drift in the machine (other
        # -- work starting or ending) weighs on both alike ---------------------------------
        await raw_posts(receiver.raw_url, live.bodies[: CONCURRENCY * 4])  # warm
        drains: list[Outcome] = []
        raw_rates: list[float] = []
        ratios: list[float] = []
        worker_cpu: list[float] = []
        raw_cpu: list[float] = []
        lean_rates: list[float] = []
        for round_number in range(1, rounds + 1):
            committed.clear()
            await receiver.forget()
            await worker.stop()
            await write_events(writers, drain_events)
            await worker.start()
            cpu_at_start = worker.cpu_seconds()
            beside = await Beside.now(receiver, database)
            drain = await outcome_of(app, receiver, committed, None)
            worker_cpu.append((worker.cpu_seconds() - cpu_at_start) / max(drain.delivered, 1))
            drain_beside = await beside.per_message(drain.delivered)
            drains.append(drain)
            beside = await Beside.now(receiver, database)
            raw_rate, raw_cpu_each = await raw_posts(receiver.raw_url, live.bodies)
            raw_beside = await beside.per_message(len(live.bodies))
            raw_rates.append(raw_rate)
            raw_cpu.append(raw_cpu_each)
            ratios.append(drain.rate / raw_rate)
            lean_rates.append(await sender_posts(receiver.raw_url, live.bodies))
            print(f"round {round_number}: backlog of {drain.messages} messages made and "
                  f"delivered by a worker started after {len(committed)} events were "
                  f"committed: {drain.delivered} delivered, {drain.duplicates} duplicates, "
                  f"{drain.rate:.0f}/s; plain POSTs {raw_rate:.0f}/s; ratio "
                  f"{ratios[-1]:.3f}; processor time per message: the worker's "
                  f"{worker_cpu[-1] * 1e6:.0f} µs{drain_beside}, the plain POSTs' "
                  f"{raw_cpu_each * 1e6:.0f} µs{raw_beside}; plain POSTs through the "
                  f"delivery's own sender {lean_rates[-1]:.0f}/s (delivered/those "
                  f"{drain.rate / lean_rates[-1]:.3f}); "
                  f"{await stream_length(app, polycules)}")
        drain_rate = statistics.median(drain.rate for drain in drains)
        raw_rate = statistics.median(raw_rates)
    finally:
        for member in people:
            await member.session.close()
        await worker.stop()
        await runner.cleanup()
        if database is not None:
            await database.close()

    print()
    print(f"plain POSTs:        {raw_rate:6.0f} messages/s  ({len(live.bodies)} POSTs of the "
          f"live bodies to the same receiver, {CONCURRENCY} at a time over kept-alive "
          f"connections, no queue, no signing; median of {rounds} rounds)")
    print(f"delivered, backlog: {drain_rate:6.0f} messages/s  (first to last arrival, "
          f"median of {rounds} rounds)  ratio delivered/plain {statistics.median(ratios):.3f}"
          f" (median of the rounds' ratios; {drain_rate / raw_rate:.3f} of the medians)  "
          "(target ≥ 0.5)")
    lean_rate = statistics.median(lean_rates)
    print(f"plain POSTs through the delivery's own sender: {lean_rate:6.0f} messages/s  "
          f"(the same POSTs, not through aiohttp's client but the sender the worker uses; "
          f"delivered/those {drain_rate / lean_rate:.3f} of the medians: what the queue, "
          "the fan-out, signing and recording cost beside the sending itself)")
    print(f"processor time per message, backlog: the worker's "
          f"{statistics.median(worker_cpu) * 1e6:.0f} µs (fan-out, claim, signing, sending, "
          f"settling), the plain POSTs' {statistics.median(raw_cpu) * 1e6:.0f} µs (the "
          f"client's); medians of {rounds} rounds")
    print(f"delivered, live:    {live.rate:6.0f} messages/s  (first commit to last "
          f"delivery)  ratio delivered/plain {live.rate / raw_rate:.3f}")
    print(f"commit → delivery, live  ({live.delivered} messages, writers flat out at "
          f"{max_commit_rate:.0f} events/s):  {milliseconds(live.latencies)}")
    print(f"commit → delivery, paced ({paced.delivered} messages, {paced_commit_rate:.0f} "
          f"events/s, half the most):  {milliseconds(paced.latencies)}  (target p99 < 1 s)")
    missing = live.missing + paced.missing + sum(drain.missing for drain in drains)
    if missing:
        print(f"{missing} messages never arrived within {WAIT_SECONDS:.0f} s")
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=20,
                        help="members, each with an endpoint (at least 2)")
    parser.add_argument("--events", type=int, default=3000,
                        help="events committed in the live part, the writers flat out")
    parser.add_argument("--paced-events", type=int, default=1500,
                        help="events committed at half the live part's commit rate")
    parser.add_argument("--drain-events", type=int, default=2000,
                        help="events committed while no worker runs, in each round")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of a backlog and plain POSTs, alternating")
    args = parser.parse_args()
    if args.members < 2:
        parser.error("--members must be at least 2")
    if min(args.events, args.paced_events, args.drain_events, args.rounds) < 1:
        parser.error("every part needs at least one event, and one round")
    return run_against_postgres(
        lambda url: bench(
            url, args.members, args.events, args.paced_events, args.drain_events,
            args.rounds,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
