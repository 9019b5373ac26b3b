"""Benchmark: agreement commands and reads over HTTP, each against its floor, in one run.

The service runs in a process of its own (bench/served.py: the application factory on a
TCP port, the production defaults — pool, batch sizes — from the environment), so that it
has a core to itself as in production and the clients' own work (this process) is not
measured as the service's. People sign up, sign in and make a personal API token over
HTTP; then they found 200 polycules of two members each (invitation and acceptance over
HTTP), and every polycule is given a few agreements in force. Every request of the
measured parts carries an API token (``Authorization: Bearer``), as a member's phone or
bot sends it. Each client is a loop sending one request at a time; each part runs at 16
and at 64 clients (--clients), and the clients share the polycules out so that no two
ever write to the same one.

* writes — the two-member flow: ``POST /api/polycules/{id}/proposals`` (a new agreement,
  its two members as parties), then ``POST …/proposals/{pid}/consent`` with the revision
  read back, by the other member, which ratifies it. Each POST is one command: it is
  answered once the read models show it (read-your-writes), so its latency is what a
  member waits for;
* write floor — plain asyncpg single-row INSERTs of an event-shaped row (bench/append.py's
  row and table: ``LIKE events``, same keys and indexes; no version check, no chain), one
  per transaction, from as many concurrent tasks, through a pool of as many connections as
  the service's pool has — the database's own price for a write, with the same number of
  connections to pay it with;
* processor time — for each write side, what each insert or command cost the machine:
  the service's process, the database's backends serving the scratch database (read from
  /proc where the server is on this machine) and the clients (this process). Where all
  three share the machine's cores and keep them busy, the ratio of the rates cannot pass
  the ratio of these costs, however the work is spread over processes. So the line also
  says what a command may cost in all at the target ratio, beside what the database and
  the clients alone spend on one;
* reads — ``GET /api/polycules/{id}/agreements`` (the agreements in force) and
  ``GET /api/polycules/{id}`` (the polycule itself) by one of its members;
* read floor — ``GET /bare``: a bare aiohttp handler answering a small JSON body, with no
  middleware and no database, served by the service's own process on its event loop.

* isolation — the same writes, at the smallest client count, to every polycule but two,
  while the members of one of those two keep writing too: once with its read side healthy
  (answered 201), and once with it parked (an event its read models cannot apply; its
  writes are answered 202, views behind). The same test with and without the poison, so
  the writes to the others meet the same load both times; their latency is compared
  (target: within 20 %). Leave it out with --no-isolation.

The reads are measured before the writes, so that what they read (the agreements given at
the start) is the same whatever speed the writes reach. Rounds alternate the sides (and
which goes first) so that drift in the machine affects both alike; rates are medians of
the rounds, latencies are percentiles of every request of every round, ratios are the
median of the rounds' ratios. Targets, printed beside the figures: writes at least 0.25 of
the floor's rate at 16 clients with p99 under 150 ms, p99 under 500 ms at 64 clients;
reads at least 0.3 of the bare handler's rate. The clients run in this one process on the
same machine: the bare handler's rate is bounded by them as much as by the server.

Uses ``DATABASE_URL`` if set (a scratch database is created and dropped there), else an
embedded PostgreSQL in a temporary directory.

    ./dev bench http [--clients 16,64] [--polycules 200] [--seconds 10 | --commands N]
                     [--parts reads,writes]
                     [--rounds 3] [--agreements 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg

from bench.agreements_read import percentile, text
from bench.append import METADATA, PAYLOAD, PLAIN_INSERT
from bench.scratch import run_against_postgres, scratch_database
from bench.served import DatabaseMeter, ServedLedger
from ledger.config import Settings
from ledger.database import create_pool
from ledger.privacy import MasterKey
from ledger.store.events import EventStore
from ledger.store.records import NewEvent
from ledger.transparency.signing import new_private_key_text

PASSWORD = "a long enough bench password"
OPERATOR_TOKEN = "the bench's operator token"  # made up for the scratch service
# Two members per polycule, drawn from this many people: each belongs to several
# polycules, and signing up and in (a deliberately slow password hash each) stays quick.
PEOPLE = 40
SETUP_CONCURRENCY = 16
WARM_SECONDS = 2.0
SETTLE_SECONDS = 300.0

WRITE_RATIO_TARGET, WRITE_P99_TARGET_MS, BUSY_P99_TARGET_MS = 0.25, 150.0, 500.0
READ_RATIO_TARGET = 0.30
# Writes elsewhere while one polycule's read side is parked and its members keep writing:
# within this much of the same writes while that polycule's members write to a healthy one.
ISOLATION_TARGET = 0.20
TROUBLED_CLIENTS = 4


# --- people and polycules, over HTTP ----------------------------------------------------


@dataclass
class Person:
    handle: str
    account_id: str = ""
    token: str = ""

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class Polycule:
    id: str
    members: tuple[Person, Person]


async def call(
    session: aiohttp.ClientSession, method: str, url: str, status: int, **kwargs: Any
) -> Any:
    async with session.request(method, url, **kwargs) as response:
        if response.status != status:
            raise RuntimeError(f"{method} {url}: {response.status} {await response.text()}")
        return await response.json()


async def sign_up(base: str, person: Person) -> None:
    async with aiohttp.ClientSession() as session:
        created = await call(session, "POST", f"{base}/api/accounts", 201, json={
            "handle": person.handle, "display_name": person.handle.capitalize(),
            "password": PASSWORD,
        })
    person.account_id = created["id"]


async def make_token(base: str, person: Person) -> None:
    """Sign in (a session, with its CSRF token) and make a personal API token with it."""
    jar = aiohttp.CookieJar(unsafe=True)  # it keeps cookies for 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        signed_in = await call(session, "POST", f"{base}/api/session", 200, json={
            "handle": person.handle, "password": PASSWORD,
        })
        made = await call(
            session, "POST", f"{base}/api/tokens", 201,
            json={"name": "bench", "password": PASSWORD},
            headers={"X-CSRF-Token": signed_in["csrf_token"]},
        )
    person.token = made["token"]


async def found(
    session: aiohttp.ClientSession, base: str, name: str, founder: Person, other: Person
) -> Polycule:
    made = await call(session, "POST", f"{base}/api/polycules", 201, json={"name": name},
                      headers=founder.bearer)
    invitation = await call(session, "POST", f"{base}/api/polycules/{made['id']}/invitations",
                            201, json={}, headers=founder.bearer)
    await call(session, "POST", f"{base}/api/invitations/{invitation['token']}/accept", 200,
               json={}, headers=other.bearer)
    return Polycule(made["id"], (founder, other))


async def in_parallel(jobs: Sequence[Awaitable[Any]], at_once: int) -> list[Any]:
    """Await ``jobs`` at most ``at_once`` at a time; their results in order."""
    gate = asyncio.Semaphore(at_once)

    async def run(job: Awaitable[Any]) -> Any:
        async with gate:
            return await job

    return list(await asyncio.gather(*(run(job) for job in jobs)))


async def people_and_polycules(
    session: aiohttp.ClientSession, base: str, polycules: int
) -> list[Polycule]:
    people = [Person(f"bench{index:03d}") for index in range(PEOPLE)]
    await in_parallel([sign_up(base, person) for person in people], 4)
    for person in people:
        # One at a time: sign-ins in progress from one address count as failures until
        # they succeed, and a burst of them is throttled.
        await make_token(base, person)
    # Polycule n joins person n (mod PEOPLE) and the person k places on, k growing by one
    # every PEOPLE polycules: no two polycules have the same pair until k comes round.
    pairs = [
        (people[n % PEOPLE], people[(n + 1 + n // PEOPLE % (PEOPLE - 1)) % PEOPLE])
        for n in range(polycules)
    ]
    return await in_parallel([
        found(session, base, f"Bench {n}", a, b) for n, (a, b) in enumerate(pairs)
    ], SETUP_CONCURRENCY)


async def ready(session: aiohttp.ClientSession, base: str) -> None:
    """Until the service says it is ready for traffic (/readyz)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        async with session.get(f"{base}/readyz") as response:
            if response.status == 200:
                return
        await asyncio.sleep(0.1)
    raise RuntimeError("the service never became ready")


async def settled(session: aiohttp.ClientSession, base: str) -> None:
    """Until the service's background work has caught up with the log, as /status says
    (every ``events_behind`` it reports at zero), so it is not measured as the clients'."""

    def behind(value: Any) -> list[int]:
        """Every ``events_behind`` figure in the answer, however it nests them."""
        if isinstance(value, dict):
            own = value.get("events_behind")
            return ([own] if isinstance(own, int) else []) + behind(list(value.values()))
        if isinstance(value, list):
            return [figure for item in value for figure in behind(item)]
        return []

    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        async with session.get(
            f"{base}/status", headers={"X-Operator-Token": OPERATOR_TOKEN}
        ) as response:
            if response.status == 200 and not any(behind(await response.json())):
                return
        await asyncio.sleep(0.2)
    raise RuntimeError("the service did not catch up with the log")


# --- measuring --------------------------------------------------------------------------


class Budget:
    """How long a part runs: a number of seconds, or a number of commands (or requests)
    shared by all its clients."""

    def __init__(self, seconds: float, commands: int | None) -> None:
        self.seconds = seconds
        self.commands = commands
        self._taken = 0
        self._deadline = 0.0

    def start(self) -> None:
        self._taken = 0
        self._deadline = time.perf_counter() + self.seconds

    def take(self, count: int = 1) -> bool:
        """Whether a client may send ``count`` more (and they are counted if so)."""
        if self.commands is None:
            return time.perf_counter() < self._deadline
        if self._taken + count > self.commands:
            return False
        self._taken += count
        return True


@dataclass
class Part:
    """What one side did in one round: how many, how fast, how long each took."""

    done: int = 0
    failed: int = 0
    # Consents answered 200 but not showing the proposal ratified: the read model was
    # still behind the write when the answer was read from it.
    stale: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # milliseconds
    # Processor time the service's process used meanwhile (its own and the kernel's on its
    # behalf): unlike a rate, hardly moved by other work on the machine.
    service_cpu_seconds: float = 0.0
    # And the database's backends serving the scratch database (None where the server is
    # not on this machine), and this process, the clients.
    database_cpu_seconds: float | None = None
    client_cpu_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0


Step = Callable[[int, Part], Awaitable[None]]


async def closed_loop(clients: int, budget: Budget, step: Step, size: int = 1) -> Part:
    """Each of ``clients`` loops sending its next ``step`` (worth ``size`` commands) until
    the budget is spent; what they did between them."""
    part = Part()

    async def client(index: int) -> None:
        while budget.take(size):
            await step(index, part)

    budget.start()
    started = time.perf_counter()
    await asyncio.gather(*(client(index) for index in range(clients)))
    part.seconds = time.perf_counter() - started
    return part


async def metered(
    meter: Callable[[], float], clients: int, budget: Budget, step: Step, size: int = 1,
    database: DatabaseMeter | None = None,
) -> Part:
    """``closed_loop``, with the service's processor time over it (``meter``) noted, and the
    database's (``database``) and this process's."""
    before = meter()
    client_before = time.process_time()
    database_before = None if database is None else await database.cpu_seconds()
    part = await closed_loop(clients, budget, step, size)
    part.service_cpu_seconds = meter() - before
    part.client_cpu_seconds = time.process_time() - client_before
    if database is not None and database_before is not None:
        part.database_cpu_seconds = await database.spent_since(database_before)
    return part


def cpu_per_request(parts: Sequence[Part], of: str = "service") -> float:
    """Microseconds of processor time per request (or command) answered: the service's,
    or (``of``) the database's or the clients'."""
    done = sum(part.done for part in parts)
    spent = [getattr(part, f"{of}_cpu_seconds") for part in parts]
    if not done or None in spent:
        return 0.0
    return sum(spent) / done * 1e6


async def timed(part: Part, send: Callable[[], Awaitable[Any]]) -> Any:
    """``send()``, its latency noted in ``part``; None (and a failure noted) if it failed."""
    started = time.perf_counter()
    try:
        answer = await send()
    except (RuntimeError, aiohttp.ClientError, asyncpg.PostgresError, TimeoutError):
        part.failed += 1
        return None
    part.latencies.append((time.perf_counter() - started) * 1000)
    part.done += 1
    return answer


def proposal_body(rng: random.Random, polycule: Polycule) -> dict[str, Any]:
    drafted = text(rng)
    return {
        "kind": "create", "title": drafted.title, "terms": drafted.terms,
        "definitions": [{"word": d.word, "meaning": d.meaning} for d in drafted.definitions],
        "category": drafted.category, "if_broken": drafted.if_broken,
        "review_every_days": drafted.review_every_days,
        "parties": [member.account_id for member in polycule.members],
    }


class Writes:
    """The two-member flow on the clients' own polycules: client k of n writes to the
    polycules k, k+n, k+2n …, taking them in turn, the two members proposing in turn."""

    def __init__(
        self, session: aiohttp.ClientSession, base: str, polycules: Sequence[Polycule],
        clients: int,
    ) -> None:
        self.session = session
        self.base = base
        self.rng = random.Random(3)
        self.owned = [list(polycules[index::clients]) for index in range(clients)]
        self.turn = [0] * clients

    async def step(self, client: int, part: Part) -> None:
        mine = self.owned[client]
        turn = self.turn[client]
        self.turn[client] += 1
        polycule = mine[turn % len(mine)]
        proposer, other = polycule.members[::1 if turn // len(mine) % 2 else -1]
        url = f"{self.base}/api/polycules/{polycule.id}/proposals"
        proposal = await timed(part, lambda: call(
            self.session, "POST", url, 201, json=proposal_body(self.rng, polycule),
            headers=proposer.bearer,
        ))
        if proposal is None:
            return
        consent_url = f"{url}/{proposal['proposal_id']}/consent"
        ratified = await timed(part, lambda: call(
            self.session, "POST", consent_url, 200, json={"revision": proposal["revision"]},
            headers=other.bearer,
        ))
        if ratified is not None and ratified["status"] != "ratified":
            part.stale += 1


class FloorWrites:
    """Plain INSERTs: client k of n writes to the streams k, k+n … as the service's
    clients write to their polycules, each keeping its streams' versions."""

    def __init__(self, pool: asyncpg.Pool, streams: int, clients: int) -> None:
        self.pool = pool
        all_streams = [uuid.uuid4() for _ in range(streams)]
        self.owned = [all_streams[index::clients] for index in range(clients)]
        self.versions = dict.fromkeys(all_streams, 0)
        self.turn = [0] * clients

    async def insert(self, stream: uuid.UUID, version: int) -> None:
        await self.pool.execute(
            PLAIN_INSERT, stream, version, uuid.uuid4(), "ConsentGiven", 1, PAYLOAD,
            METADATA, datetime.now(UTC), bytes(32), bytes(range(32)),
        )

    async def step(self, client: int, part: Part) -> None:
        mine = self.owned[client]
        stream = mine[self.turn[client] % len(mine)]
        self.turn[client] += 1
        self.versions[stream] += 1
        await timed(part, lambda: self.insert(stream, self.versions[stream]))


class Reads:
    """GETs of one address per polycule, by one of its members, the clients taking the
    polycules in turn from different starting points."""

    def __init__(
        self, session: aiohttp.ClientSession, polycules: Sequence[Polycule],
        address: Callable[[Polycule], str],
    ) -> None:
        self.session = session
        self.polycules = polycules
        self.address = address
        self.turn: dict[int, int] = {}

    async def get(self, url: str, headers: dict[str, str]) -> None:
        async with self.session.get(url, headers=headers) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {url}: {response.status}")

    async def step(self, client: int, part: Part) -> None:
        turn = self.turn.get(client, client * 7)
        self.turn[client] = turn + 1
        polycule = self.polycules[turn % len(self.polycules)]
        reader = polycule.members[turn % 2]
        await timed(part, lambda: self.get(self.address(polycule), reader.bearer))


def latency(part: Part | Sequence[Part]) -> str:
    parts = [part] if isinstance(part, Part) else part
    samples = [ms for one in parts for ms in one.latencies]
    if not samples:
        return "no answers"
    return f"p50 {percentile(samples, 0.50):7.1f} ms  p99 {percentile(samples, 0.99):7.1f} ms"


def failures(parts: Sequence[Part]) -> str:
    failed, stale = sum(part.failed for part in parts), sum(part.stale for part in parts)
    return "".join([
        f"   ({failed} failed)" if failed else "",
        f"   ({stale} consents answered before their read model showed them)" if stale else "",
    ])


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


class OnePolyculeWrites:
    """Proposals in one polycule, by both its members in turn: answered 201 where its read
    side is healthy; where it is ``parked``, recorded and answered 202, views behind."""

    def __init__(
        self, session: aiohttp.ClientSession, base: str, polycule: Polycule, *, parked: bool
    ) -> None:
        self.session = session
        self.url = f"{base}/api/polycules/{polycule.id}/proposals"
        self.polycule = polycule
        self.parked = parked
        self.rng = random.Random(5)

    async def step(self, client: int, part: Part) -> None:
        proposer = self.polycule.members[client % 2]
        answer = await timed(part, lambda: call(
            self.session, "POST", self.url, 202 if self.parked else 201,
            json=proposal_body(self.rng, self.polycule), headers=proposer.bearer,
        ))
        if answer is not None and bool(answer.get("views_behind")) != self.parked:
            part.stale += 1


async def park(url: str, polycule: Polycule) -> None:
    """Park one polycule's read side as an event its read models cannot apply would: a row
    stands where the agreements read model puts the next event, and that event (a valid
    answer to one of its proposals) is recorded with the store alone."""
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        stream = uuid.UUID(polycule.id)
        store = EventStore(pool)
        version = await store.stream_version(stream)
        proposal_id = await pool.fetchval(
            "SELECT proposal_id FROM agreement_proposals WHERE polycule_id = $1 LIMIT 1", stream
        )
        await pool.execute(
            "INSERT INTO agreement_timeline (polycule_id, stream_version, agreement_id, at, what)"
            " VALUES ($1, $2, $3, now(), 'Planted by the benchmark')",
            stream, version + 1, uuid.uuid4(),
        )
        await store.append(stream, version, [NewEvent(
            event_id=uuid.uuid4(), event_type="ConsentGiven", schema_version=1,
            data={"proposal_id": str(proposal_id), "revision": 1,
                  "member_id": polycule.members[0].account_id},
        )])
    finally:
        await pool.close()


async def measure_isolation(
    session: aiohttp.ClientSession, base: str, url: str, polycules: Sequence[Polycule],
    clients: int, rounds: int, budget: Budget,
) -> None:
    """Writes to healthy polycules while another polycule's members write too: once to a
    healthy one, once to a parked one (the same test without and with the poison)."""
    troubled, twin, healthy = polycules[0], polycules[1], polycules[2:]
    await park(url, troubled)
    writes = Writes(session, base, healthy, clients)
    beside = {
        "healthy": OnePolyculeWrites(session, base, twin, parked=False),
        "parked": OnePolyculeWrites(session, base, troubled, parked=True),
    }
    await closed_loop(clients, Budget(WARM_SECONDS, None), writes.step, size=2)

    async def beside_one(kind: str) -> Part:
        stop = Budget(budget.seconds, None)
        measured, _ = await asyncio.gather(
            closed_loop(clients, budget, writes.step, size=2),
            closed_loop(TROUBLED_CLIENTS, stop, beside[kind].step),
        )
        return measured

    parts: dict[str, list[Part]] = {"healthy": [], "parked": []}
    print(f"isolation, {clients} clients writing to healthy polycules, "
          f"+{TROUBLED_CLIENTS} writing to one more, healthy or parked:")
    for round_number in range(1, rounds + 1):
        for kind in ("healthy", "parked") if round_number % 2 else ("parked", "healthy"):
            parts[kind].append(await beside_one(kind))
        print(f"  round {round_number}: beside a healthy polycule "
              f"{parts['healthy'][-1].rate:6.1f} commands/s   beside a parked one "
              f"{parts['parked'][-1].rate:6.1f} commands/s   {load()}")
    samples = {kind: [ms for part in kept for ms in part.latencies] for kind, kept in parts.items()}
    p50_change = percentile(samples["parked"], 0.5) / percentile(samples["healthy"], 0.5) - 1
    print(f"  beside a healthy one:  {latency(parts['healthy'])}{failures(parts['healthy'])}")
    print(f"  beside a parked one:   {latency(parts['parked'])}{failures(parts['parked'])}")
    print(f"  p50 latency changed by {p50_change:+.0%} (target within {ISOLATION_TARGET:.0%})")


# --- the run ----------------------------------------------------------------------------


async def measure_writes(
    session: aiohttp.ClientSession, base: str, polycules: Sequence[Polycule],
    floor_pool: asyncpg.Pool, clients: int, rounds: int, budget: Budget,
    meter: Callable[[], float], database: DatabaseMeter | None,
) -> None:
    service = Writes(session, base, polycules, clients)
    floor = FloorWrites(floor_pool, len(polycules), clients)
    await closed_loop(clients, Budget(WARM_SECONDS, None), floor.step)
    await closed_loop(clients, Budget(WARM_SECONDS, None), service.step, size=2)
    floors: list[Part] = []
    services: list[Part] = []
    print(f"writes, {clients} clients:")
    for round_number in range(1, rounds + 1):
        sides = [(floors, floor.step, 1), (services, service.step, 2)]
        for parts, step, size in sides if round_number % 2 else reversed(sides):
            parts.append(await metered(meter, clients, budget, step, size, database))
        print(f"  round {round_number}: floor {floors[-1].rate:7.0f} inserts/s   service "
              f"{services[-1].rate:6.1f} commands/s   ratio "
              f"{services[-1].rate / floors[-1].rate:.3f}   {load()}")
    ratio = statistics.median(s.rate / f.rate for s, f in zip(services, floors, strict=True))
    samples = [ms for part in services for ms in part.latencies]
    p99 = percentile(samples, 0.99) if samples else float("inf")
    target = (f"target >= {WRITE_RATIO_TARGET} with p99 < {WRITE_P99_TARGET_MS:.0f} ms"
              if clients <= 16 else f"target p99 < {BUSY_P99_TARGET_MS:.0f} ms")
    print(f"  floor:   {statistics.median(f.rate for f in floors):7.0f} inserts/s    "
          f"{latency(floors)}{failures(floors)}")
    print(f"  service: {statistics.median(s.rate for s in services):7.1f} commands/s   "
          f"{latency(services)}{failures(services)}   "
          f"{cpu_per_request(services) / 1000:.2f} ms of the service's CPU per command")
    print(f"  ratio service/floor {ratio:.3f}, p99 {p99:.0f} ms   ({target})")
    print_processor_time(floors, services)


def print_processor_time(floors: Sequence[Part], services: Sequence[Part]) -> None:
    """What each insert and each command cost the machine's processors, by whom. Where the
    service, the database and the clients share the machine's cores and keep them busy,
    the ratio of the rates cannot pass the ratio of these costs, however the work is
    spread over processes."""
    insert = {of: cpu_per_request(floors, of) / 1000 for of in ("database", "client")}
    command = {
        of: cpu_per_request(services, of) / 1000 for of in ("service", "database", "client")
    }
    if not insert["database"] or not command["database"]:
        print("  processor time per write: the database's not measured (not on this machine)")
        return
    per_insert, per_command = sum(insert.values()), sum(command.values())
    print(f"  processor time per insert: {per_insert:.2f} ms (the database "
          f"{insert['database']:.2f}, the clients {insert['client']:.2f}); per command: "
          f"{per_command:.2f} ms (the service {command['service']:.2f}, the database "
          f"{command['database']:.2f}, the clients {command['client']:.2f}); their ratio "
          f"{per_insert / per_command:.3f}, {os.cpu_count()} cores")
    print(f"  at the target ratio ({WRITE_RATIO_TARGET}) a command may cost "
          f"{per_insert / WRITE_RATIO_TARGET:.2f} ms in all; the database and the clients "
          f"alone spend {command['database'] + command['client']:.2f} ms on one")


async def measure_reads(
    session: aiohttp.ClientSession, base: str, bare_url: str,
    polycules: Sequence[Polycule], clients: int, rounds: int, budget: Budget,
    meter: Callable[[], float],
) -> None:
    kinds = {
        "agreements": Reads(session, polycules,
                            lambda p: f"{base}/api/polycules/{p.id}/agreements"),
        "polycule": Reads(session, polycules, lambda p: f"{base}/api/polycules/{p.id}"),
        "bare": Reads(session, polycules, lambda p: bare_url),
    }
    for reads in kinds.values():
        await closed_loop(clients, Budget(WARM_SECONDS, None), reads.step)
    parts: dict[str, list[Part]] = {name: [] for name in kinds}
    names = list(kinds)
    print(f"reads, {clients} clients:")
    for round_number in range(rounds):
        # Each kind goes first, second and last in turn.
        order = names[round_number % 3:] + names[:round_number % 3]
        for name in order:
            parts[name].append(await metered(meter, clients, budget, kinds[name].step))
        print(f"  round {round_number + 1}: " + "   ".join(
            f"{name} {parts[name][-1].rate:6.0f} req/s" for name in names
        ) + f"   {load()}")
    for name in names:
        rate = statistics.median(part.rate for part in parts[name])
        ratio = "" if name == "bare" else "   ratio to bare {:.3f} (target >= {})".format(
            statistics.median(
                own.rate / bare.rate for own, bare in zip(parts[name], parts["bare"], strict=True)
            ), READ_RATIO_TARGET,
        )
        print(f"  {name:>10}: {rate:6.0f} req/s   {latency(parts[name])}"
              f"{failures(parts[name])}{ratio}")
    # The same comparison by the service's processor time per request, which other work
    # on the machine (the clients here among it) hardly moves.
    bare_cpu = cpu_per_request(parts["bare"])
    print("  the service's CPU per request: " + "   ".join(
        f"{name} {cpu_per_request(parts[name]):.0f} µs" for name in names
    ) + "   bare's share: " + "   ".join(
        f"{name} {bare_cpu / cpu_per_request(parts[name]):.3f}"
        for name in names if name != "bare" and cpu_per_request(parts[name])
    ))


async def give_agreements(
    session: aiohttp.ClientSession, base: str, polycules: Sequence[Polycule], each: int
) -> None:
    """``each`` agreements in force in every polycule, by the write flow itself."""
    writes = Writes(session, base, polycules, min(SETUP_CONCURRENCY, len(polycules)))
    part = await closed_loop(
        len(writes.owned), Budget(0, 2 * each * len(polycules)), writes.step, size=2
    )
    if part.failed or part.stale:
        raise RuntimeError(f"{part.failed + part.stale} commands failed while giving agreements")
    print(f"  {part.done} commands gave each polycule {each} agreements in force "
          f"({part.rate:.1f} commands/s at {len(writes.owned)} clients)")


async def bench(
    server_url: str, clients: Sequence[int], polycules: int, seconds: float,
    commands: int | None, rounds: int, agreements: int, isolation: bool,
    parts: frozenset[str] = frozenset({"reads", "writes"}),
) -> int:
    print(f"{load()} at the start")
    async with scratch_database(server_url) as url:
        pool_size = Settings.model_fields["pool_max_size"].default
        environment = {
            "DATABASE_URL": url, "LEDGER_MASTER_KEY": MasterKey.generate().to_base64(),
            "LEDGER_CHECKPOINT_KEY": new_private_key_text(),
            "LEDGER_LOG_LEVEL": "warning",
            # Every person signs up from 127.0.0.1.
            "LEDGER_SIGN_UPS_PER_ADDRESS_PER_HOUR": str(PEOPLE),
            # /status, which the bench watches to start measuring once all is caught up,
            # is for operators.
            "LEDGER_OPERATOR_TOKEN": OPERATOR_TOKEN,
        }
        with ServedLedger(environment) as served:
            base = served.base
            connector = aiohttp.TCPConnector(limit=max(clients))
            timeout = aiohttp.ClientTimeout(total=120)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                await ready(session, base)
                started = time.perf_counter()
                print(f"setting up: {PEOPLE} people (accounts, API tokens), {polycules} "
                      f"polycules of two, over HTTP")
                founded = await people_and_polycules(session, base, polycules)
                await give_agreements(session, base, founded, agreements)
                connection = await asyncpg.connect(url)
                await connection.execute(
                    "CREATE TABLE plain_inserts (LIKE events INCLUDING ALL)"
                )
                # A steady state, as a service that has run for a while is in.
                await connection.execute("VACUUM ANALYZE")
                version = await connection.fetchval("SELECT current_setting('server_version')")
                sync = await connection.fetchval("SELECT current_setting('synchronous_commit')")
                await connection.close()
                await settled(session, base)
                print(f"  set up in {time.perf_counter() - started:.0f} s; PostgreSQL "
                      f"{version}, synchronous_commit={sync}; the service in its own "
                      f"process with a pool of {pool_size} connections")
                budget = Budget(seconds, commands)
                print(f"each part: {f'{commands} requests' if commands else f'{seconds:g} s'}"
                      f" per round and side, {rounds} rounds")
                for count in clients if "reads" in parts else ():
                    await measure_reads(
                        session, base, served.bare_url, founded, count, rounds, budget,
                        served.cpu_seconds,
                    )
                floor_pool = await create_pool(url, min_size=pool_size, max_size=pool_size)
                database = await DatabaseMeter.of(url)
                try:
                    for count in clients if "writes" in parts else ():
                        await settled(session, base)
                        await measure_writes(
                            session, base, founded, floor_pool, count, rounds, budget,
                            served.cpu_seconds, database,
                        )
                finally:
                    await floor_pool.close()
                    if database is not None:
                        await database.close()
                if isolation and "writes" in parts:
                    await settled(session, base)
                    await measure_isolation(
                        session, base, url, founded, min(clients), rounds, budget
                    )
    print(f"{load()} at the end")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="16,64",
                        help="concurrent clients, comma-separated (default 16,64)")
    parser.add_argument("--polycules", type=int, default=200)
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--seconds", type=float, default=10.0,
                        help="how long each side runs in each round (default 10)")
    budget.add_argument("--commands", type=int,
                        help="instead of --seconds: commands (or reads) per round and side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--agreements", type=int, default=5,
                        help="agreements in force in each polycule before the reads")
    parser.add_argument("--no-isolation", action="store_true",
                        help="leave out the writes beside a parked polycule")
    parser.add_argument("--parts", default="reads,writes",
                        help="which to measure, comma-separated: reads, writes (default "
                             "both; the isolation part goes with the writes)")
    args = parser.parse_args()
    parts = frozenset(args.parts.split(","))
    if not parts or not parts <= {"reads", "writes"}:
        parser.error("--parts takes reads, writes or both")
    clients = [int(count) for count in args.clients.split(",")]
    if min(clients) < 1 or args.polycules < max(clients):
        parser.error("every client needs a polycule of its own: --polycules >= --clients")
    if not args.no_isolation and args.polycules < min(clients) + 2:
        parser.error("the isolation part needs two polycules more than its clients: "
                     "--polycules >= --clients + 2, or --no-isolation")
    if args.rounds < 1 or args.agreements < 0:
        parser.error("--rounds must be at least 1 and --agreements at least 0")
    return run_against_postgres(lambda url: bench(
        url, clients, args.polycules, args.seconds, args.commands, args.rounds,
        args.agreements, not args.no_isolation, parts,
    ))


if __name__ == "__main__":
    sys.exit(main())
