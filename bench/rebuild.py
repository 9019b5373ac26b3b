"""Benchmark: rebuilding every read model from the log with the command line, 1 000 000 events.

A scratch database is migrated (``python -m ledger migrate``) and filled with polycules
living ordinary lives: agreements proposed, consented to, amended, objected to, reviewed
and revoked (bench/agreements_read.py's LivingPolycule), and here also disclosures to
chosen members or the whole polycule and their acknowledgements, breaches reported and
repaired step by step (responsibility, impact, apology, a decision, factors named and
addressed, commitments made and kept, check-ins, restoration), newcomers joining and
members leaving. Each command is decided by the real decider in memory; each event is
sealed and chained as the service writes it, appended through the event store a
polycule's life (50 to 150 events) at a time.

Then ``python -m ledger projections rebuild`` — every read model — is timed as a child
process, from its start to its exit, with the environment it needs (DATABASE_URL,
LEDGER_MASTER_KEY), twice (--runs): first into read models that have never held a row (a
store restored from its log alone), then over the read models that first run built (an
operator's rebuild after a release). Before each run the store is vacuumed and analysed
and a checkpoint written: a store that has served for a while is in that state, and the
fill's dirty pages are not the rebuild's cost. It prints events rebuilt per second for
each run, each line the command printed with the time it was printed at, and what
``python -m ledger projections status`` says at the end. The target: at least 20 000
events/s. There is no baseline in the same run: the figures are compared between versions.

Uses ``DATABASE_URL`` if set (a scratch database is created and dropped there), else an
embedded PostgreSQL in a temporary directory.

    ./dev bench rebuild [--events 1000000] [--runs 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, get_args

import asyncpg
from tqdm import tqdm

from bench.agreements_read import WORDS, LivingPolycule
from bench.scratch import run_against_postgres, scratch_database
from ledger.database import create_pool
from ledger.domain import disclosures, repair
from ledger.domain.polycules import AcceptInvitation, InviteMember, LeavePolycule
from ledger.privacy import KeyRing, MasterKey
from ledger.store.events import EventStore

REPOSITORY = Path(__file__).resolve().parents[1]
TARGET_EVENTS_PER_SECOND = 20_000
# What each timed run starts from. The two differ in more than the rows to delete: the
# first fills tables that have never held a row.
RUNS = (
    "first build: into read models that never held a row, as for a store restored from "
    "its log",
    "rebuild: over the read models the run before built, as after a release",
)
# Polycules written at once while the next ones are being lived: the database appends
# while this process decides and seals.
WRITERS = 4
MAX_MEMBERS = 8

DISCLOSURE_KINDS = get_args(disclosures.DisclosureKind)
FACTORS = get_args(repair.Factor)


def words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(count)).capitalize() + "."


class EventfulPolycule(LivingPolycule):
    """A LivingPolycule whose days also hold disclosures, breaches and their repair,
    newcomers and leavers."""

    def ordinary_day(self) -> None:
        roll = self.rng.random()
        if roll < 0.15:
            self.disclose()
        elif roll < 0.20:
            self.breach_and_repair()
        elif roll < 0.23:
            self.newcomer()
        elif roll < 0.25:
            self.leaver()
        else:
            super().ordinary_day()

    def disclose(self) -> None:
        discloser = self.rng.choice(self.members)
        others = [member for member in self.members if member != discloser]
        if not others:
            return
        disclosure_id = uuid.uuid4()
        audience: disclosures.Audience = self.rng.choice(["polycule", "chosen"])
        told = others if audience == "polycule" else self.rng.sample(
            others, self.rng.randint(1, len(others))
        )
        self.decide(discloser, lambda stamp: disclosures.Disclose(
            **stamp, disclosure_id=disclosure_id, kind=self.rng.choice(DISCLOSURE_KINDS),
            text=words(self.rng, 12), audience=audience,
            recipients=() if audience == "polycule" else tuple(told),
        ))
        for member in told:
            if self.rng.random() < 0.7:
                self.decide(member, lambda stamp: disclosures.AcknowledgeDisclosure(
                    **stamp, disclosure_id=disclosure_id
                ))

    def breach_and_repair(self) -> None:
        """A party reports that another crossed an agreement; the repair that follows,
        mostly to its end."""
        crossed = [a for a in self.state.agreements.active() if len(a.parties) >= 2]
        if not crossed:
            return
        agreement = self.rng.choice(crossed)
        breached_by, reporter = self.rng.sample(agreement.parties, 2)
        harmed = [party for party in agreement.parties if party != breached_by]
        breach_id, factor_id, commitment_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        if not self.decide(reporter, lambda stamp: repair.ReportBreach(
            **stamp, breach_id=breach_id, agreement_id=agreement.agreement_id,
            breached_by=breached_by, happened_at=stamp["at"] - timedelta(minutes=30),
            what_happened=words(self.rng, 15),
        )):
            return
        hurt = harmed[0]

        def step(actor: uuid.UUID, command: Callable[..., repair.RepairCommand],
                 **fields: Any) -> None:
            self.decide(actor, lambda stamp: command(**stamp, breach_id=breach_id, **fields))

        step(breached_by, repair.AcknowledgeBreach)
        step(breached_by, repair.TakeResponsibility, words=words(self.rng, 20))
        step(hurt, repair.ShareImpact, words=words(self.rng, 20))
        step(breached_by, repair.Apologise, words=words(self.rng, 10))
        step(hurt, repair.Decide, decision="rebuild")
        step(reporter, repair.NameFactor, factor_id=factor_id,
             factor=self.rng.choice(FACTORS))
        step(breached_by, repair.Commit, commitment_id=commitment_id,
             what=words(self.rng, 8), first_due_at=self.at + timedelta(days=1), every_days=7)
        step(hurt, repair.MarkCommitment, commitment_id=commitment_id, occurrence=1,
             mark="kept")
        for _ in range(self.rng.randint(1, 3)):
            step(self.rng.choice([breached_by, *harmed]), repair.CheckIn,
                 trust=self.rng.randint(2, 9), setback=self.rng.random() < 0.2)
        step(breached_by, repair.AddressFactor, factor_id=factor_id)
        if self.rng.random() < 0.7:
            for party in harmed:
                step(party, repair.ChooseRestoration)
        elif self.rng.random() < 0.5:
            step(hurt, repair.EndRepair, note="We stop here.")

    def newcomer(self) -> None:
        if len(self.members) >= MAX_MEMBERS:
            return
        secret = uuid.uuid4().hex
        self.decide(self.members[0], lambda stamp: InviteMember(
            **stamp, invitation_id=uuid.uuid4(), secret_hash=secret,
            expires_at=self.at + timedelta(days=7),
        ))
        self.decide(uuid.uuid4(), lambda stamp: AcceptInvitation(
            **stamp, secret_hash=secret, display_name="Newcomer",
        ))

    def leaver(self) -> None:
        """Someone other than the founder leaves; their agreements end with them."""
        if len(self.members) > 3:
            self.decide(self.rng.choice(self.members[1:]), lambda stamp: LeavePolycule(**stamp))


async def fill(url: str, master: MasterKey, events: int) -> int:
    """Polycules' lives, written until the store holds ``events``; the number written."""
    pool = await create_pool(url, min_size=WRITERS, max_size=WRITERS)
    store, keyring = EventStore(pool), KeyRing(pool, master)
    rng = random.Random(17)
    lives: asyncio.Queue[EventfulPolycule | None] = asyncio.Queue(maxsize=2 * WRITERS)
    written = 0
    with tqdm(total=events, desc="writing events", unit="ev", disable=None) as progress:

        async def writer() -> None:
            nonlocal written
            while (polycule := await lives.get()) is not None:
                count = await polycule.write(store, keyring)
                written += count
                progress.update(count)

        writers = [asyncio.create_task(writer()) for _ in range(WRITERS)]
        lived = 0
        while lived < events:
            polycule = EventfulPolycule(uuid.uuid4(), members=rng.randint(2, 6), rng=rng)
            length = min(rng.randint(50, 150), events - lived)
            while polycule.event_count() < length:
                polycule.ordinary_day()
            lived += polycule.event_count()
            await lives.put(polycule)
        for _ in writers:
            await lives.put(None)
        await asyncio.gather(*writers)
    await pool.close()
    return written


async def ledger_command(
    environment: dict[str, str], *arguments: str, show: str = "timed"
) -> tuple[int, float]:
    """``python -m ledger ARGUMENTS`` as a child process; its exit status and how long it
    ran. What it prints is shown (``show="plain"``), each line with the second it was
    printed at (``"timed"``), or not at all (``"none"``)."""
    started = time.perf_counter()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ledger", *arguments, cwd=REPOSITORY,
        env={**os.environ, **environment}, stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    while line := await child.stdout.readline():
        at = f"[{time.perf_counter() - started:7.1f} s] " if show == "timed" else ""
        if show != "none":
            print(f"  {at}{line.decode().rstrip()}")
    status = await child.wait()
    return status, time.perf_counter() - started


def event_mix(rows: Sequence[asyncpg.Record]) -> str:
    return ", ".join(f"{row['event_type']} {row['count']}" for row in rows)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


async def steady(url: str) -> None:
    """The state a store that has served for a while is in: vacuumed, analysed, and its
    dirty pages written (they are not the next command's cost)."""
    connection = await asyncpg.connect(url)
    await connection.execute("VACUUM ANALYZE")
    await connection.execute("CHECKPOINT")
    await connection.close()


async def bench(server_url: str, events: int, runs: int) -> int:
    print(f"{load()} at the start")
    master = MasterKey.generate()
    timings: list[float] = []
    async with scratch_database(server_url) as url:
        environment = {
            "DATABASE_URL": url, "LEDGER_MASTER_KEY": master.to_base64(),
            "LEDGER_LOG_LEVEL": "warning",
        }
        status, _ = await ledger_command(environment, "migrate", show="none")
        if status:
            raise RuntimeError(f"python -m ledger migrate failed ({status})")
        started = time.perf_counter()
        written = await fill(url, master, events)
        filled = time.perf_counter() - started
        connection = await asyncpg.connect(url)
        stored = await connection.fetchval("SELECT count(*) FROM events")
        mix = await connection.fetch(
            "SELECT event_type, count(*) FROM events GROUP BY event_type ORDER BY 2 DESC"
        )
        streams = await connection.fetchval("SELECT count(DISTINCT stream_id) FROM events")
        version = await connection.fetchval("SELECT current_setting('server_version')")
        await connection.close()
        print(f"{written} events written in {filled:.0f} s ({written / filled:.0f} events/s); "
              f"{stored} stored in {streams} polycule streams; PostgreSQL {version}")
        print(f"  {event_mix(mix)}")
        for run in range(runs):
            await steady(url)
            print(f"python -m ledger projections rebuild, run {run + 1} ({RUNS[min(run, 1)]})"
                  f"   {load()}")
            status, seconds = await ledger_command(environment, "projections", "rebuild")
            if status:
                print(f"the rebuild failed ({status})")
                return 1
            timings.append(seconds)
        print("python -m ledger projections status")
        await ledger_command(environment, "projections", "status", show="plain")
    for run, seconds in enumerate(timings):
        print(f"run {run + 1}, {RUNS[min(run, 1)].split(':')[0]}: every read model rebuilt "
              f"from {stored} events in {seconds:.1f} s (process start to exit): "
              f"{stored / seconds:.0f} events/s (target >= {TARGET_EVENTS_PER_SECOND})")
    print(f"{load()} at the end")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the store")
    parser.add_argument("--runs", type=int, default=2,
                        help="timed rebuilds: the first into empty read models, each next "
                             "over what the one before built (default 2)")
    args = parser.parse_args()
    if args.events < 1 or args.runs < 1:
        parser.error("--events and --runs must be at least 1")
    return run_against_postgres(lambda url: bench(url, args.events, args.runs))


if __name__ == "__main__":
    sys.exit(main())
