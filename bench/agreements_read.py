"""Benchmark: reading a polycule's current agreements over HTTP, with 100 000 events stored.

The store is filled with polycules living ordinary lives (members joining, agreements
proposed, revised, consented to, amended, objected to, revoked, reviewed), each event
sealed and chained exactly as the service writes it; then every read model catches up.
One of those polycules is the member's own: 20 agreements in force, 5 open proposals.

Then, against the real service (the application factory, over a TCP socket):

* agreements — ``GET /api/polycules/{id}/agreements``: authentication, authorization
  (loading the polycule), the read model's queries, opening every sealed text;
* baseline — ``GET /api/polycules/{id}``: the same authentication and authorization, and
  nothing else, measured in the same run, alternating with the other.

It prints p50/p95/p99 latency of both and their ratio. The target: agreements p99 under
10 ms.

    ./dev bench agreements [--events 100000] [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web
from tqdm import tqdm

from bench.scratch import run_against_postgres, scratch_database
from bench.served import listen
from ledger.app import create_app
from ledger.config import Settings
from ledger.domain import agreements as rules
from ledger.domain.polycules import (
    AcceptInvitation,
    FoundPolycule,
    InviteMember,
    Polycule,
    PolyculeCommand,
    polycule_decider,
)
from ledger.errors import LedgerError
from ledger.events import DomainEvent
from ledger.http.keys import (
    EVENT_STORE,
    KEYRING,
    MAIL_FANOUT,
    POOL,
    READ_SIDE,
    WEBHOOK_FANOUT,
)
from ledger.logs import configure_logging
from ledger.privacy import KeyRing, MasterKey, encrypt_event_fields
from ledger.store.events import EventStore
from ledger.store.records import NewEvent
from ledger.transparency.signing import new_private_key_text
from projections.rebuild import catch_up_all

PASSWORD = "a long enough bench password"
START = datetime(2025, 1, 1, tzinfo=UTC)


class LivingPolycule:
    """A polycule driven by the real decider in memory; its events sealed for the store."""

    def __init__(self, founder: uuid.UUID, members: int, rng: random.Random) -> None:
        self.id = uuid.uuid4()
        self.rng = rng
        self.state = Polycule()
        self.at = START
        self.pending: list[tuple[uuid.UUID, list[DomainEvent]]] = []
        self.decide(founder, lambda stamp: FoundPolycule(
            **stamp, polycule_id=self.id, name="Bench", display_name="Founder"
        ))
        for index in range(members - 1):
            secret = f"{self.id}-{index}"
            self.decide(founder, lambda stamp, secret=secret: InviteMember(
                **stamp, invitation_id=uuid.uuid4(), secret_hash=secret,
                expires_at=self.at + timedelta(days=7),
            ))
            self.decide(uuid.uuid4(), lambda stamp, secret=secret: AcceptInvitation(
                **stamp, secret_hash=secret, display_name="Member",
            ))

    def decide(
        self, actor: uuid.UUID, build: Callable[[dict[str, Any]], PolyculeCommand]
    ) -> bool:
        self.at += timedelta(hours=1)
        stamp = {"actor": actor, "at": self.at, "command_id": uuid.uuid4()}
        command = build(stamp)
        try:
            events = polycule_decider.decide(self.state, command)
        except LedgerError:
            return False
        for event in events:
            self.state = polycule_decider.evolve(self.state, event)
        self.pending.append((actor, list(events)))
        return True

    @property
    def members(self) -> Sequence[uuid.UUID]:
        return self.state.members

    def propose(self, parties: int, ratify: bool) -> uuid.UUID:
        proposer = self.members[0]
        chosen = (proposer, *self.rng.sample(self.members[1:], parties - 1))
        proposal_id = uuid.uuid4()
        self.decide(proposer, lambda stamp: rules.ProposeAgreement(
            **stamp, proposal_id=proposal_id, agreement_id=uuid.uuid4(), parties=chosen,
            text=text(self.rng), respond_by=None, binds_only_proposer=len(chosen) == 1,
        ))
        if ratify:
            for party in chosen[1:]:
                self.decide(party, lambda stamp, party=party: rules.Consent(
                    **stamp, proposal_id=proposal_id, revision=1
                ))
        return proposal_id

    def ordinary_day(self) -> None:
        """One thing that happens in a polycule, chosen at random."""
        active = self.state.agreements.active()
        roll = self.rng.random()
        if roll < 0.45 or not active:
            self.propose(self.rng.randint(2, len(self.members)), ratify=self.rng.random() < 0.8)
        elif roll < 0.65:
            agreement = self.rng.choice(active)
            proposal_id = uuid.uuid4()
            self.decide(agreement.parties[0], lambda stamp: rules.ProposeAmendment(
                **stamp, proposal_id=proposal_id, agreement_id=agreement.agreement_id,
                text=text(self.rng),
            ))
            answer = self.rng.choice(["consent", "object"])
            for party in agreement.parties[1:]:
                if answer == "consent":
                    self.decide(party, lambda stamp, party=party: rules.Consent(
                        **stamp, proposal_id=proposal_id, revision=1
                    ))
                else:
                    self.decide(party, lambda stamp: rules.Object(
                        **stamp, proposal_id=proposal_id, revision=1, reason="Not yet."
                    ))
                    break
        elif roll < 0.8:
            agreement = self.rng.choice(active)
            self.decide(agreement.parties[-1], lambda stamp: rules.RequestReview(
                **stamp, agreement_id=agreement.agreement_id, note="Can we talk about it?"
            ))
            for party in agreement.parties:
                self.decide(party, lambda stamp, party=party: rules.Reaffirm(
                    **stamp, agreement_id=agreement.agreement_id
                ))
        else:
            agreement = self.rng.choice(active)
            self.decide(agreement.parties[-1], lambda stamp: rules.RevokeConsent(
                **stamp, agreement_id=agreement.agreement_id, note="It stopped fitting."
            ))

    def event_count(self) -> int:
        return sum(len(events) for _, events in self.pending)

    async def write(self, store: EventStore, keyring: KeyRing) -> int:
        version = await store.stream_version(self.id)
        batch: list[NewEvent] = []
        for actor, events in self.pending:
            for event in events:
                data = await encrypt_event_fields(
                    event, author_id=actor, polycule_id=self.id, keyring=keyring
                )
                batch.append(NewEvent(
                    uuid.uuid4(), event.event_type, event.schema_version,
                    data, {"actor": str(actor), "request_id": "bench"},
                ))
        for start in range(0, len(batch), 200):
            chunk = batch[start:start + 200]
            await store.append(self.id, version, chunk)
            version += len(chunk)
        self.pending.clear()
        return len(batch)


WORDS = ("we", "talk", "before", "after", "weekends", "home", "call", "first", "plans",
         "share", "calendar", "ask", "kindly", "together", "evenings", "trips", "care")


def text(rng: random.Random) -> rules.AgreementText:
    terms = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 60))) + "."
    return rules.AgreementText(
        title=" ".join(rng.choice(WORDS) for _ in range(3)).capitalize(),
        terms=terms,
        definitions=(rules.Definition(word="together", meaning="in the same room"),),
        category=rng.choice(rules.CATEGORIES),
        if_broken="We talk within a week.",
        review_every_days=rng.choice([None, 30, 90]),
    )


def percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def sign_up(session: aiohttp.ClientSession, base: str) -> tuple[uuid.UUID, str]:
    async with session.post(f"{base}/api/accounts", json={
        "handle": "bench", "display_name": "Bench", "password": PASSWORD,
    }) as created:
        account_id = uuid.UUID((await created.json())["id"])
    async with session.post(f"{base}/api/session", json={
        "handle": "bench", "password": PASSWORD,
    }) as signed_in:
        csrf = (await signed_in.json())["csrf_token"]
    return account_id, csrf


async def fill(app: web.Application, member: uuid.UUID, events: int) -> uuid.UUID:
    rng = random.Random(7)
    store, keyring = app[EVENT_STORE], app[KEYRING]
    mine = LivingPolycule(member, members=5, rng=rng)
    for index in range(25):
        mine.propose(rng.randint(2, 4), ratify=index < 20)
    written = await mine.write(store, keyring)
    with tqdm(total=events, desc="writing events", unit="ev") as progress:
        progress.update(written)
        while written < events:
            polycule = LivingPolycule(uuid.uuid4(), members=rng.randint(2, 6), rng=rng)
            while polycule.event_count() < 100:
                polycule.ordinary_day()
            count = await polycule.write(store, keyring)
            written += count
            progress.update(count)
    with tqdm(total=written, desc="projecting, polycule by polycule", unit="ev") as progress:
        await catch_up_all(app[READ_SIDE], on_progress=progress.update)
    # The service's fan-outs must be idle before measuring, or their catching up would be
    # measured as the readers' latency.
    runners = [app[WEBHOOK_FANOUT], *([app[MAIL_FANOUT]] if MAIL_FANOUT in app else [])]
    for _ in range(3600):
        if not any([await runner.polycules_behind() for runner in runners]):
            break
        await asyncio.sleep(0.5)
    return mine.id


async def timed(session: aiohttp.ClientSession, url: str) -> float:
    started = time.perf_counter()
    async with session.get(url) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")
    return (time.perf_counter() - started) * 1000


async def bench(server_url: str, events: int, requests: int) -> int:
    async with scratch_database(server_url) as url:
        settings = Settings.model_validate({
            "database_url": url, "LEDGER_MASTER_KEY": MasterKey.generate().to_base64(),
            "checkpoint_key": new_private_key_text(),
            "log_level": "warning", "pool_min_size": 4, "pool_max_size": 10,
        })
        configure_logging(settings.log_level, settings.log_format)
        app = create_app(settings, url)
        runner, port = await listen(app)
        base = f"http://127.0.0.1:{port}"
        try:
            jar = aiohttp.CookieJar(unsafe=True)  # it keeps cookies for 127.0.0.1
            async with aiohttp.ClientSession(cookie_jar=jar) as session:
                member, _csrf = await sign_up(session, base)
                polycule = await fill(app, member, events)
                total = await app[POOL].fetchval("SELECT count(*) FROM events")
                agreements_url = f"{base}/api/polycules/{polycule}/agreements"
                baseline_url = f"{base}/api/polycules/{polycule}"
                async with session.get(agreements_url) as response:
                    shown = len(await response.json())
                print(f"{total} events stored; the member's polycule shows {shown} agreements")
                for _ in range(200):  # warm plans, caches and the pool
                    await timed(session, agreements_url)
                    await timed(session, baseline_url)
                # A steady state, as a service that has run for a while is in: the table
                # analysed (not autovacuum's first pass over 100 000 new rows mid-run), and
                # the objects made while filling the store out of the garbage collector's
                # way (gc.freeze, as long-running servers do after warming up).
                await app[POOL].execute("VACUUM ANALYZE")
                gc.collect()
                gc.freeze()
                reading: list[float] = []
                baseline: list[float] = []
                for index in range(requests):
                    pair = [(agreements_url, reading), (baseline_url, baseline)]
                    for url_, samples in pair if index % 2 else reversed(pair):
                        samples.append(await timed(session, url_))
        finally:
            await runner.cleanup()
    for name, samples in (("agreements", reading), ("baseline", baseline)):
        print(
            f"{name:>10}: p50 {percentile(samples, 0.50):6.2f} ms   "
            f"p95 {percentile(samples, 0.95):6.2f} ms   p99 {percentile(samples, 0.99):6.2f} ms"
            f"   mean {statistics.fmean(samples):6.2f} ms"
        )
    p99 = percentile(reading, 0.99)
    print(f"ratio of p99 agreements/baseline: {p99 / percentile(baseline, 0.99):.2f}")
    print(f"agreements p99: {p99:.2f} ms (target < 10 ms)")
    return 0 if p99 < 10 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events in the store")
    parser.add_argument("--requests", type=int, default=2000, help="timed reads of each kind")
    args = parser.parse_args()
    return run_against_postgres(lambda url: bench(url, args.events, args.requests))


if __name__ == "__main__":
    sys.exit(main())
