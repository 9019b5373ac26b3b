"""Benchmark: webhook delivery through the real service to a local receiver, in one run.

The service (the application factory, over a TCP socket, with its projection runner, the
webhook fan-out and a delivery worker) and a receiver (aiohttp on 127.0.0.1, answering
204 and noting when each ``webhook-id`` first arrived) run in this process. Members sign
up over HTTP, each registers an endpoint aimed at the receiver, and polycules are founded
and joined over HTTP. Then one writer per polycule commits a stream of agreement events
through the application service (proposals, consents and ratifications, revocations,
withdrawals: one command per transaction, as the API sends them), and every message the
fan-out makes of them is delivered, signed, to the receiver.

* live — events committed as fast as the writers can, the worker delivering as they
  come: delivery throughput over the whole part (messages delivered ÷ time from the
  first commit to the last delivery) and, per message, the time from its event's commit
  (the moment the append returned) to its arrival at the receiver: p50, p99, max;
* paced — the same at a quarter of the live commit rate, so that what is measured is
  the way from commit to receiver (wake-ups, the fan-out's batch, the claim, the send)
  and not a queue behind writers running flat out;
* drain — the worker stopped, more events committed and fanned out, then the worker
  started: how fast it empties a backlog (claiming, opening secrets, signing, sending,
  recording each outcome) — its capacity, without the writers in its way;
* baseline — plain aiohttp POSTs of the live part's bodies to the same receiver, as
  many, as many at a time as the worker sends them, without a queue or signatures: the raw
  rate (median of 5 rounds).

It prints the figures and the ratios of both delivery rates to the raw rate. Everything
shares one process, as the service's parts share one in production; the polycules'
streams grow as the parts follow one another, and each line says how long they are.

    ./dev bench webhooks [--members 20] [--events 3000] [--paced-events 600]
                         [--drain-events 1500]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from bench.agreements_read import percentile, text
from bench.scratch import run_against_postgres, scratch_database
from ledger.app import create_app
from ledger.config import Settings
from ledger.domain import agreements as rules
from ledger.domain.polycules import PolyculeCommand, polycule_decider
from ledger.http.keys import CLOCK, POOL, PROJECTION_RUNNER, SERVICE, WEBHOOK_DELIVERY
from ledger.logs import configure_logging
from ledger.privacy import MasterKey
from ledger.service import event_id_for
from ledger.transparency.signing import new_private_key_text
from ledger.webhooks.delivery import DEFAULT_CONCURRENCY

PASSWORD = "a long enough bench password"
POLYCULE_SIZE = 5
# As many POSTs in flight as the delivery worker sends at once (DeliveryWorker default).
# As many POSTs at a time as the delivery worker keeps in flight.
CONCURRENCY = DEFAULT_CONCURRENCY
WAIT_SECONDS = 300.0
RAW_ROUNDS = 5


class Receiver:
    """A member's receiver: answers 204 and notes when each message first arrived, and
    says when all it was told to expect has come (no polling: the wait costs nothing
    that the service would be measured without). The baseline's POSTs come to another
    path and are only answered."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.duplicates = 0
        self.url = ""
        self.raw_url = ""
        self._awaited: set[str] = set()
        self._all_came = asyncio.Event()

    async def hook(self, request: web.Request) -> web.Response:
        at = time.perf_counter()
        await request.read()
        message_id = request.headers["webhook-id"]
        if message_id in self.arrived:
            self.duplicates += 1
        else:
            self.arrived[message_id] = at
            self._awaited.discard(message_id)
            if not self._awaited:
                self._all_came.set()
        return web.Response(status=204)

    async def raw_post(self, request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    async def all_arrived(self, expected: Sequence[str]) -> list[str]:
        """Wait until every expected message has arrived; those that never did."""
        self._awaited = {m for m in expected if m not in self.arrived}
        self._all_came.clear()
        if self._awaited:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_came.wait(), WAIT_SECONDS)
        return [m for m in expected if m not in self.arrived]

    def forget(self) -> None:
        self.arrived.clear()
        self.duplicates = 0


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
        at = time.perf_counter()
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


async def fanned_out(app: web.Application) -> None:
    """Until the fan-out has turned every committed event into messages."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        statuses = await app[PROJECTION_RUNNER].status()
        if all(s.events_behind == 0 for s in statuses if s.name == "webhook_fanout"):
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


async def raw_posts(url: str, bodies: Sequence[str]) -> float:
    """Plain POSTs of ``bodies`` to ``url``, CONCURRENCY at a time; messages per second."""
    queue = list(reversed(bodies))
    headers = {"Content-Type": "application/json"}

    async def poster(session: aiohttp.ClientSession) -> None:
        while queue:
            body = queue.pop()
            async with session.post(url, data=body.encode(), headers=headers) as response:
                await response.read()
                if response.status != 204:
                    raise RuntimeError(f"the receiver answered {response.status}")

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(poster(session) for _ in range(CONCURRENCY)))
        return len(bodies) / (time.perf_counter() - started)


@dataclass(frozen=True)
class Outcome:
    """What became of the messages made of one part's events."""

    messages: int
    delivered: int
    duplicates: int
    missing: int
    latencies: list[float]  # commit → first arrival, seconds, per message
    rate: float  # messages delivered per second, from ``since`` to the last arrival


async def outcome_of(
    app: web.Application, receiver: Receiver, committed: dict[uuid.UUID, float],
    since: float,
) -> tuple[Outcome, list[str]]:
    """Once the fan-out has caught up and every message has arrived (or the wait ran
    out): the part's figures, and the bodies of its messages."""
    await fanned_out(app)
    messages = await messages_of(app, list(committed))
    missing = await receiver.all_arrived(list(messages))
    arrived = [m for m in messages if m in receiver.arrived]
    last = max((receiver.arrived[m] for m in arrived), default=since)
    return Outcome(
        messages=len(messages),
        delivered=len(arrived),
        duplicates=receiver.duplicates,
        missing=len(missing),
        latencies=[receiver.arrived[m] - committed[messages[m][0]] for m in arrived],
        rate=len(arrived) / (last - since) if last > since else 0.0,
    ), [body for _, body in messages.values()]


async def stream_length(app: web.Application, polycules: Sequence[uuid.UUID]) -> str:
    mean = await app[POOL].fetchval(
        "SELECT avg(version)::float FROM ("
        " SELECT max(stream_version) AS version FROM events"
        " WHERE stream_id = ANY($1::uuid[]) GROUP BY stream_id) AS streams",
        list(polycules),
    )
    return f"polycule streams now {mean:.0f} events long on average"


def milliseconds(samples: Sequence[float]) -> str:
    return (f"p50 {percentile(samples, 0.50) * 1000:6.1f} ms   "
            f"p99 {percentile(samples, 0.99) * 1000:6.1f} ms   "
            f"max {max(samples) * 1000:6.1f} ms")


async def bench(
    server_url: str, members: int, events: int, paced_events: int, drain_events: int
) -> int:
    receiver = Receiver()
    receiving = web.Application()
    receiving.router.add_post("/hook", receiver.hook)
    receiving.router.add_post("/raw", receiver.raw_post)
    receiver_runner = web.AppRunner(receiving, access_log=None)
    await receiver_runner.setup()
    receiver_site = web.TCPSite(receiver_runner, "127.0.0.1", 0)
    await receiver_site.start()
    receiver_port = receiver_site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.url = f"http://127.0.0.1:{receiver_port}/hook"
    receiver.raw_url = f"http://127.0.0.1:{receiver_port}/raw"

    async with scratch_database(server_url) as url:
        settings = Settings.model_validate({
            "database_url": url, "LEDGER_MASTER_KEY": MasterKey.generate().to_base64(),
            "checkpoint_key": new_private_key_text(),
            "log_level": "warning", "pool_min_size": 4, "pool_max_size": 10,
            "webhooks_allow_private": True, "webhooks_allow_http": True,
            # Every member signs up from 127.0.0.1.
            "sign_ups_per_address_per_hour": max(members, 1),
        })
        configure_logging(settings.log_level, settings.log_format)
        app = create_app(settings, url)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        people: list[Member] = []
        try:
            # -- the people, their endpoints, their polycules: all over HTTP --------------
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
            print(f"{members} members, each with an endpoint at the receiver; "
                  f"{len(groups)} polycules of {size} (each member in two); "
                  f"{setup} member.joined messages delivered while setting up")

            rng = random.Random(11)
            committed: dict[uuid.UUID, float] = {}
            pacer = Pacer()
            writers = [
                Writer(app, polycule_id, [m.account_id for m in group], rng, committed, pacer)
                for polycule_id, group in zip(polycules, groups, strict=True)
            ]
            # Warm the paths (plans, caches, states, connections) before measuring.
            await write_events(writers, 10 * len(writers))
            await outcome_of(app, receiver, committed, 0.0)

            # -- live: the writers flat out, the worker delivering as they commit ----------
            committed.clear()
            receiver.forget()
            started = time.perf_counter()
            written = await write_events(writers, events)
            live_commit_rate = written / (time.perf_counter() - started)
            live, bodies = await outcome_of(app, receiver, committed, min(committed.values()))
            print(f"live:   {written} events committed by {len(writers)} writers at "
                  f"{live_commit_rate:.0f} events/s; {live.messages} messages, "
                  f"{live.delivered} delivered, {live.duplicates} duplicates; "
                  f"{await stream_length(app, polycules)}")

            # -- paced: a quarter of that commit rate, so nothing queues behind the writers
            committed.clear()
            receiver.forget()
            pacer.pace(live_commit_rate / 4)
            started = time.perf_counter()
            paced_written = await write_events(writers, paced_events)
            paced_commit_rate = paced_written / (time.perf_counter() - started)
            pacer.pace(None)
            paced, _ = await outcome_of(app, receiver, committed, min(committed.values()))
            print(f"paced:  {paced_written} events committed at {paced_commit_rate:.0f} "
                  f"events/s; {paced.messages} messages, {paced.delivered} delivered, "
                  f"{paced.duplicates} duplicates; {await stream_length(app, polycules)}")

            # -- drain: a backlog fanned out while the worker was stopped, then the worker -
            committed.clear()
            receiver.forget()
            await app[WEBHOOK_DELIVERY].stop()
            await write_events(writers, drain_events)
            await fanned_out(app)
            started = time.perf_counter()
            app[WEBHOOK_DELIVERY].start()
            drain, _ = await outcome_of(app, receiver, committed, started)
            print(f"drain:  {drain.messages} messages waiting, {drain.delivered} delivered, "
                  f"{drain.duplicates} duplicates; {await stream_length(app, polycules)}")

            # -- baseline: the live part's bodies, plain POSTs, median of a few rounds ------
            await raw_posts(receiver.raw_url, bodies[: CONCURRENCY * 4])  # warm
            raw_rate = statistics.median([
                await raw_posts(receiver.raw_url, bodies) for _ in range(RAW_ROUNDS)
            ])
        finally:
            for member in people:
                await member.session.close()
            await runner.cleanup()
    await receiver_runner.cleanup()

    print()
    print(f"raw POST baseline:  {raw_rate:6.0f} messages/s  ({len(bodies)} POSTs of the "
          f"live bodies, {CONCURRENCY} at a time, no queue, no signing; median of "
          f"{RAW_ROUNDS} rounds)")
    print(f"delivered, live:    {live.rate:6.0f} messages/s  (first commit to last "
          f"delivery)        ratio delivered/raw {live.rate / raw_rate:.3f}")
    print(f"delivered, backlog: {drain.rate:6.0f} messages/s  (worker started to last "
          f"delivery)    ratio delivered/raw {drain.rate / raw_rate:.3f}")
    print(f"commit → delivery, live  ({live.delivered} messages, writers flat out):  "
          f"{milliseconds(live.latencies)}")
    print(f"commit → delivery, paced ({paced.delivered} messages, "
          f"{paced_commit_rate:.0f} events/s):  {milliseconds(paced.latencies)}")
    missing = live.missing + paced.missing + drain.missing
    if missing:
        print(f"{missing} messages never arrived within {WAIT_SECONDS:.0f} s")
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=20,
                        help="members, each with an endpoint (at least 2)")
    parser.add_argument("--events", type=int, default=3000,
                        help="events committed in the live part")
    parser.add_argument("--paced-events", type=int, default=600,
                        help="events committed at a quarter of the live commit rate")
    parser.add_argument("--drain-events", type=int, default=1500,
                        help="events committed while the worker is stopped")
    args = parser.parse_args()
    if args.members < 2:
        parser.error("--members must be at least 2")
    if min(args.events, args.paced_events, args.drain_events) < 1:
        parser.error("every part needs at least one event")
    return run_against_postgres(
        lambda url: bench(
            url, args.members, args.events, args.paced_events, args.drain_events
        )
    )


if __name__ == "__main__":
    sys.exit(main())
