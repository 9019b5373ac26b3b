"""Webhook delivery on real PostgreSQL to real receivers on loopback: what is due is sent,
signed, retried on the schedule, logged, and never sent twice at once by any number of
workers; what the receiver answers decides what happens next."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import asyncpg
import pytest
import structlog
from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from ledger.database import Availability, create_pool
from ledger.errors import NotFound
from ledger.privacy import KeyOwner, KeyRing
from ledger.supervisor import Supervisor
from ledger.webhooks.delivery import (
    MAX_RETRY_AFTER,
    NOT_PERMITTED,
    RETRY_DELAYS,
    DeliveryWorker,
    replay_since,
    send_again,
)
from ledger.webhooks.fanout import WAKE_CHANNEL
from ledger.webhooks.signing import new_secret

# Short enough for a test to wait out; the lease still outlasts it.
QUICK_TIMEOUT = aiohttp.ClientTimeout(total=0.4, connect=0.4)
QUICK_LEASE = timedelta(seconds=2)


class ManualClock:
    """Real time, shifted: a test moves it forward to reach the next attempt."""

    def __init__(self, start: datetime | None = None) -> None:
        self.shift = (start - datetime.now(UTC)) if start else timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.shift

    def advance(self, **duration: float) -> None:
        self.shift += timedelta(**duration)


Behaviour = Callable[[str, int], Awaitable[web.Response]]


async def accept(_: str, __: int) -> web.Response:
    return web.Response(text="thanks")


@dataclass(frozen=True)
class Receipt:
    message_id: str
    headers: dict[str, str]
    body: str


class Receiver:
    """A member's receiver: records every request, de-duplicates on webhook-id the way
    the documentation asks receivers to, and counts requests in progress per id."""

    def __init__(self) -> None:
        self.behaviour: Behaviour = accept
        self.receipts: list[Receipt] = []
        self.processed: list[str] = []  # ids handled, after de-duplication
        self.in_progress: Counter[str] = Counter()
        self.most_at_once = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        message_id = request.headers["webhook-id"]
        self.receipts.append(Receipt(message_id, dict(request.headers), body))
        self.in_progress[message_id] += 1
        self.most_at_once = max(self.most_at_once, self.in_progress[message_id])
        try:
            response = await self.behaviour(message_id, self.times_received(message_id))
        finally:
            self.in_progress[message_id] -= 1
        if 200 <= response.status < 300 and message_id not in self.processed:
            self.processed.append(message_id)
        return response

    def times_received(self, message_id: str) -> int:
        return sum(1 for receipt in self.receipts if receipt.message_id == message_id)

    def of(self, message_id: str) -> list[Receipt]:
        return [receipt for receipt in self.receipts if receipt.message_id == message_id]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiving = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiving.handle)
    runner = web.AppRunner(app, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    receiving.url = f"http://{host}:{port}/hook"
    try:
        yield receiving
    finally:
        await runner.cleanup()


@pytest.fixture
async def workers() -> AsyncIterator[list[DeliveryWorker]]:
    """Every worker a test makes is stopped after it."""
    made: list[DeliveryWorker] = []
    yield made
    for worker in made:
        await worker.stop()


@pytest.fixture
def make_worker(
    pool: asyncpg.Pool, keyring: KeyRing, workers: list[DeliveryWorker]
) -> Iterator[Callable[..., DeliveryWorker]]:
    def make(clock: ManualClock, **options: Any) -> DeliveryWorker:
        options.setdefault("allow_private", True)
        worker = DeliveryWorker(options.pop("pool", pool), keyring, clock, **options)
        workers.append(worker)
        return worker

    yield make


# -- rows, as the fan-out and the endpoint routes would leave them ------------------------


async def member(pool: asyncpg.Pool) -> uuid.UUID:
    account_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO accounts (id, handle, display_name, password_hash) VALUES ($1, $2, $2, 'x')",
        account_id, f"m{account_id.hex[:10]}",
    )
    return account_id


@dataclass(frozen=True)
class Endpoint:
    endpoint_id: uuid.UUID
    secrets: list[str]


async def endpoint(
    pool: asyncpg.Pool,
    keyring: KeyRing,
    url: str,
    now: datetime,
    *,
    secret_expiries: tuple[timedelta | None, ...] = (None,),
) -> Endpoint:
    """An endpoint with one secret per entry: None never expires, else expires now + it."""
    owner = await member(pool)
    endpoint_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO webhook_endpoints (endpoint_id, account_id, url, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $4)",
        endpoint_id, owner, url, now,
    )
    secrets = []
    for index, expiry in enumerate(secret_expiries):
        secret = new_secret()
        await pool.execute(
            "INSERT INTO webhook_secrets (secret_id, endpoint_id, sealed_secret, created_at,"
            " expires_at) VALUES ($1, $2, $3, $4, $5)",
            uuid.uuid4(), endpoint_id, await keyring.seal(secret, KeyOwner("member", owner)),
            now + timedelta(seconds=index), None if expiry is None else now + expiry,
        )
        secrets.append(secret)
    return Endpoint(endpoint_id, secrets)


async def enqueue(
    pool: asyncpg.Pool, endpoint_id: uuid.UUID, now: datetime, count: int = 1, **columns: Any
) -> list[str]:
    ids = []
    for _ in range(count):
        message_id, event_id = f"msg_{uuid.uuid4().hex}", uuid.uuid4()
        payload = {
            "type": "agreement.ratified",
            "timestamp": now.isoformat(),
            "data": {"event_id": str(event_id), "agreement_id": str(uuid.uuid4()),
                     "link": "/api/polycules/x/agreements/y"},
        }
        await pool.execute(
            "INSERT INTO webhook_messages (message_id, endpoint_id, event_id, polycule_id, type,"
            " payload, created_at, next_attempt_at, status, attempts)"
            " VALUES ($1, $2, $3, $4, 'agreement.ratified', $5, $6, $6, $7, $8)",
            message_id, endpoint_id, event_id, uuid.uuid4(), payload,
            columns.get("created_at", now), columns.get("status", "pending"),
            columns.get("attempts", 0),
        )
        ids.append(message_id)
    return ids


async def message(pool: asyncpg.Pool, message_id: str) -> asyncpg.Record:
    row = await pool.fetchrow(
        "SELECT *, payload::text AS body FROM webhook_messages WHERE message_id = $1", message_id
    )
    assert row is not None
    return row


async def attempts_of(pool: asyncpg.Pool, message_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT * FROM webhook_attempts WHERE message_id = $1 ORDER BY attempt", message_id
    )


async def endpoint_row(pool: asyncpg.Pool, endpoint_id: uuid.UUID) -> asyncpg.Record:
    row = await pool.fetchrow(
        "SELECT * FROM webhook_endpoints WHERE endpoint_id = $1", endpoint_id
    )
    assert row is not None
    return row


def assert_waited(row: asyncpg.Record, last: asyncpg.Record, delay: float) -> None:
    """next_attempt_at is ``delay`` (±20 %) after the attempt ended."""
    ended = last["attempted_at"] + timedelta(milliseconds=last["duration_ms"])
    waited = (row["next_attempt_at"] - ended).total_seconds()
    assert delay * 0.8 - 0.05 <= waited <= delay * 1.2 + 0.25, (delay, waited)


# -- the tests -------------------------------------------------------------------------


async def test_a_500_then_a_timeout_then_success_arrives_once_per_webhook_id(
    pool: asyncpg.Pool, keyring: KeyRing, receiver: Receiver,
    make_worker: Callable[..., DeliveryWorker],
) -> None:
    # Started in the past, so the last attempt is signed near real time and the
    # verifier's 5-minute tolerance is met after the clock is moved on by ~6 minutes.
    clock = ManualClock(datetime.now(UTC) - timedelta(minutes=8))
    hook = await endpoint(pool, keyring, receiver.url, clock.now())
    ids = await enqueue(pool, hook.endpoint_id, clock.now(), count=3)

    async def fail_hang_accept(_: str, nth: int) -> web.Response:
        if nth == 1:
            return web.Response(status=500, text="boom " + "x" * 600)
        if nth == 2:
            await asyncio.sleep(1.0)  # past the worker's timeout
            return web.Response(status=500)
        return web.Response(status=204)

    receiver.behaviour = fail_hang_accept
    worker = make_worker(clock, request_timeout=QUICK_TIMEOUT, lease=QUICK_LEASE)

    assert await worker.deliver_due() == 3  # attempt 1: 500
    assert await worker.deliver_due() == 0  # nothing due before the retry
    failing_since = (await endpoint_row(pool, hook.endpoint_id))["failing_since"]
    assert failing_since is not None
    for message_id in ids:
        row, log = await message(pool, message_id), await attempts_of(pool, message_id)
        assert (row["status"], row["attempts"], row["leased_until"]) == ("pending", 1, None)
        assert_waited(row, log[-1], RETRY_DELAYS[1])

    clock.advance(seconds=RETRY_DELAYS[1] * 1.2 + 0.1)
    assert await worker.deliver_due() == 3  # attempt 2: times out
    for message_id in ids:
        row, log = await message(pool, message_id), await attempts_of(pool, message_id)
        assert row["attempts"] == 2
        assert_waited(row, log[-1], RETRY_DELAYS[2])

    clock.advance(seconds=RETRY_DELAYS[2] * 1.2 + 0.1)
    assert await worker.deliver_due() == 3  # attempt 3: accepted
    assert await worker.deliver_due() == 0

    assert sorted(receiver.processed) == sorted(ids)  # exactly once each, after dedup
    assert (await endpoint_row(pool, hook.endpoint_id))["failing_since"] is None
    for message_id in ids:
        row = await message(pool, message_id)
        assert (row["status"], row["attempts"], row["leased_until"]) == ("succeeded", 3, None)
        log = await attempts_of(pool, message_id)
        assert [(a["attempt"], a["status_code"]) for a in log] == [(1, 500), (2, None), (3, 204)]
        assert log[0]["error"] is None
        assert log[0]["response_snippet"] == ("boom " + "x" * 600)[:500]
        assert "timed out" in log[1]["error"]
        assert log[1]["duration_ms"] >= 350
        assert log[2]["error"] is None and log[2]["response_snippet"] == ""

        receipts = receiver.of(message_id)
        assert len(receipts) == 3
        # The same webhook-id and body on every attempt, a fresh timestamp on each.
        assert {receipt.body for receipt in receipts} == {row["body"]}
        stamps = [int(receipt.headers["webhook-timestamp"]) for receipt in receipts]
        assert stamps == sorted(stamps) and len(set(stamps)) == 3
        assert [int(a["attempted_at"].timestamp()) for a in log] == stamps
        accepted = receipts[-1]
        assert accepted.headers["Content-Type"] == "application/json"
        assert accepted.headers["User-Agent"].startswith("polycule-ledger-webhooks")
        verified = Webhook(hook.secrets[0]).verify(accepted.body, accepted.headers)
        assert verified["type"] == "agreement.ratified"
        assert json.loads(accepted.body) == json.loads(row["body"])


async def test_eight_failed_attempts_follow_the_schedule_and_then_the_message_fails(
    pool: asyncpg.Pool, keyring: KeyRing, receiver: Receiver,
    make_worker: Callable[..., DeliveryWorker],
) -> None:
    clock = ManualClock()
    hook = await endpoint(pool, keyring, receiver.url, clock.now())
    [message_id] = await enqueue(pool, hook.endpoint_id, clock.now())

    async def fail(_: str, __: int) -> web.Response:
        return web.Response(status=503)

    receiver.behaviour = fail
    worker = make_worker(clock)
    for attempt in range(1, len(RETRY_DELAYS) + 1):
        assert await worker.deliver_due() == 1
        row, log = await message(pool, message_id), await attempts_of(pool, message_id)
        assert row["attempts"] == attempt and log[-1]["status_code"] == 503
        if attempt < len(RETRY_DELAYS):
            assert row["status"] == "pending"
            assert_waited(row, log[-1], RETRY_DELAYS[attempt])
            clock.advance(seconds=RETRY_DELAYS[attempt] * 1.2 + 0.1)

    assert (await message(pool, message_id))["status"] == "failed"
    clock.advance(days=1)
    assert await worker.deliver_due() == 0
    assert len(receiver.receipts) == 8
    # About 28 hours of failures: short of the 5 days that disable an endpoint.
    assert (await endpoint_row(pool, hook.endpoint_id))["enabled"]


async def test_410_gone_disables_the_endpoint_and_fails_its_messages(
    pool: asyncpg.Pool, keyring: KeyRing, receiver: Receiver,
    make_worker: Callable[..., DeliveryWorker],
) -> None:
    clock = ManualClock()
    hook = await endpoint(pool, keyring, receiver.url, clock.now())
    [first] = await enqueue(pool, hook.endpoint_id, clock.now())
    clock.advance(seconds=1)
    [later] = await enqueue(pool, hook.endpoint_id, clock.now() + timedelta(hours=1))

    async def gone(_: str, __: int) -> web.Response:
        return web.Response(status=410, text="no such hook")

    receiver.behaviour = gone
    worker = make_worker(clock)
    assert await worker.deliver_due() == 1

    row = await endpoint_row(pool, hook.endpoint_id)
    assert (row["enabled"], row["disabled_reason"]) == (False, "gone")
    assert (await message(pool, first))["status"] == "failed"
    assert (await message(pool, later))["status"] == "failed"
    assert [a["status_code"] for a in await attempts_of(pool, first)] == [410]
    # A disabled endpoint is not sent anything, even what is pending for it.
    await enqueue(pool, hook.endpoint_id, clock.now())
    clock.advance(hours=2)
    assert await worker.deliver_due() == 0
    assert len(receiver.receipts) == 1


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        (lambda now: "120", timedelta(seconds=120)),
        (lambda now: format_datetime(now + timedelta(hours=1), usegmt=True), timedelta(hours=1)),
        (lambda now: "99999999", MAX_RETRY_AFTER),
    ],
    ids=["seconds", "http-date", "bounded"],
)
async def test_429_is_retried_when_retry_after_says(
    pool: asyncpg.Pool, keyring: KeyRing, receiver: Receiver,
    make_worker: Callable[..., DeliveryWorker],
    retry_after: Callable[[datetime], str], expected: timedelta,
) -> None:
    clock = ManualClock()
    hook = await endpoint(pool, keyring, receiver.url, clock.now())
    [message_id] = await enqueue(pool, hook.endpoint_id, clock.now())

    async def slow_down(_: str, nth: int) -> web.Response:
        if nth == 1:
            return web.Response(status=429, headers={"Retry-After": retry_after(clock.now())})
        return web.Response(status=200)

    receiver.behaviour = slow_down
    worker = make_worker(clock)
    assert await worker.deliver_due() == 1
    row, [attempt] = await message(pool, message_id), await attempts_of(pool, message_id)
    assert attempt["status_code"] == 429
    ended = attempt["attempted_at"] + timedelta(milliseconds=attempt["duration_ms"])
    assert abs(row["next_attempt_at"] - ended - expected) < timedelta(seconds=1.5)

    clock.advance(seconds=expected.total_seconds() - 5)
    assert await worker.deliver_due() == 0
    clock.advance(seconds=7)
    assert await worker.deliver_due() == 1
    assert (await message(pool, message_id))["status"] == "succeeded"


async def test_an_endpoint_failing_for_five_days_is_disabled(
    pool: asyncpg.Pool, keyring: KeyRing, receiver: Receiver,
    make_worker: Callable[..., DeliveryWorker],
) -> None:
    clock = ManualClock()
    hook = await endpoint(pool, keyring, receiver.url, clock.now())

    async def fail(_: str, __: int) -> web.Response:
        return web.Response(status=500)

    receiver.behaviour = fail
    worker = make_worker(clock)
    await enqueue(pool, hook.endpoint_id, clock.now())
    assert await worker.deliver_due() == 1
    began = (await endpoint_row(pool, hook.endpoint_id))["failing_since"]

    clock.advance(days=4, hours=23)
    await enqueue(pool, hook.endpoint_id, clock.now())
    assert await worker.deliver_due() == 2  # the new one, and the first one's retry
    row = await endpoint_row(pool, hook.endpoint_id)
    assert (row["enabled"], row["failing_since"]) == (True, began)

    clock.advance(hours=1, minutes=1)
    [last] = await enqueue(pool, hook.endpoint_id, clock.now())
    assert await worker.deliver_due() >= 1
    row = await endpoint_row(pool, hook.endpoint_id)
    assert (row["enabled"], row["disabled_reason"]) == (False, "failing")
    statuses = await pool.fetch(
        "SELECT DISTINCT status FROM webhook_messages WHERE endpoint_id = $1", hook.endpoint_id
    )
    assert [s["status"] for s in statuses] == ["failed"]
    assert [a["status_code"] for a in await attempts_of(pool, last)] == [500]


async def test_during_a_rotation_each_live_secret_signs(
    pool: asyncpg.Pool, keyring: KeyRing, receiver: Receiver,
    make_worker: Callable[..., DeliveryWorker],
) -> None:
    clock = ManualClock()
    # The one being retired (still signing for a day), the new one, and one long expired.
    hook = await endpoint(
        pool, keyring, receiver.url, clock.now(),
        secret_expiries=(timedelta(days=1), None, timedelta(seconds=-1)),
    )
    retiring, current, expired = hook.secrets
    await enqueue(pool, hook.endpoint_id, clock.now())
    assert await make_worker(clock).deliver_due() == 1

    [receipt] = receiver.receipts
    assert len(receipt.headers["webhook-signature"].split(" ")) == 2
    for secret in (retiring, current):
        Webhook(secret).verify(receipt.body, receipt.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(expired).verify(receipt.body, receipt.headers)


async def test_an_endpoint_without_a_live_secret_is_not_sent_unsigned_messages(
    pool: asyncpg.Pool, keyring: KeyRing, receiver: Receiver,
    make_worker: Callable[..., DeliveryWorker],
) -> None:
    clock = ManualClock()
    hook = await endpoint(
        pool, keyring, receiver.url, clock.now(), secret_expiries=(timedelta(seconds=-1),)
    )
    [message_id] = await enqueue(pool, hook.endpoint_id, clock.now())
    assert await make_worker(clock).deliver_due() == 1

    assert receiver.receipts == []
    [attempt] = await attempts_of(pool, message_id)
    assert attempt["error"] == "the endpoint has no live signing secret"
    assert (await message(pool, message_id))["status"] == "pending"


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "no-such-host.invalid"]
)
async def test_internal_addresses_are_refused_logged_and_retried(
    pool: asyncpg.Pool, keyring: KeyRing, receiver: Receiver,
    make_worker: Callable[..., DeliveryWorker], host: str,
) -> None:
    clock = ManualClock()
    url = receiver.url.replace("127.0.0.1", host)
    hook = await endpoint(pool, keyring, url, clock.now())
    [message_id] = await enqueue(pool, hook.endpoint_id, clock.now())

    with structlog.testing.capture_logs() as logged:
        assert await make_worker(clock, allow_private=False).deliver_due() == 1

    assert receiver.receipts == []
    [attempt] = await attempts_of(pool, message_id)
    # The owner reads that the address is not permitted — never how the name resolved,
    # nor whether it resolved at all.
    assert attempt["status_code"] is None and attempt["error"] == NOT_PERMITTED
    row = await message(pool, message_id)
    assert row["status"] == "pending"
    assert_waited(row, attempt, RETRY_DELAYS[1])
    assert (await endpoint_row(pool, hook.endpoint_id))["failing_since"] is not None
    # Operators' own log keeps the detail.
    [failed] = [line for line in logged if line["event"] == "webhook_attempt_failed"]
    assert failed["error"] != NOT_PERMITTED


async def test_a_receivers_failure_is_told_to_its_owner_without_addresses(
    pool: asyncpg.Pool, keyring: KeyRing, make_worker: Callable[..., DeliveryWorker],
) -> None:
    clock = ManualClock()
    with socket.socket() as closed:  # a port nobody listens on: the connection is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    hook = await endpoint(pool, keyring, f"http://127.0.0.1:{port}/hook", clock.now())
    [message_id] = await enqueue(pool, hook.endpoint_id, clock.now())

    assert await make_worker(clock).deliver_due() == 1

    [attempt] = await attempts_of(pool, message_id)
    assert attempt["error"] == "could not connect: the connection was refused"


async def test_two_workers_on_two_pools_never_send_one_message_twice(
    pool: asyncpg.Pool, database_url: str, keyring: KeyRing, receiver: Receiver,
    make_worker: Callable[..., DeliveryWorker],
) -> None:
    clock = ManualClock()
    hook = await endpoint(pool, keyring, receiver.url, clock.now())
    ids = await enqueue(pool, hook.endpoint_id, clock.now(), count=60)

    async def slowly(_: str, __: int) -> web.Response:
        await asyncio.sleep(0.05)
        return web.Response(status=200)

    receiver.behaviour = slowly
    other_pool = await create_pool(database_url, min_size=1, max_size=5)
    try:
        first = make_worker(clock, batch=8)
        second = make_worker(clock, batch=8, pool=other_pool)
        done = Counter[str]()
        while sum(done.values()) < len(ids):
            one, two = await asyncio.gather(first.deliver_due(), second.deliver_due())
            done["first"] += one
            done["second"] += two
            assert one + two > 0
        await second.stop()
    finally:
        await other_pool.close()

    assert done["first"] > 0 and done["second"] > 0
    assert receiver.most_at_once == 1
    assert sorted(receipt.message_id for receipt in receiver.receipts) == sorted(ids)
    statuses = await pool.fetch("SELECT status, attempts FROM webhook_messages")
    assert {(row["status"], row["attempts"]) for row in statuses} == {("succeeded", 1)}


async def test_a_lease_keeps_a_slow_attempt_to_itself_until_it_expires(
    pool: asyncpg.Pool, keyring: KeyRing, receiver: Receiver,
    make_worker: Callable[..., DeliveryWorker],
) -> None:
    clock = ManualClock()
    hook = await endpoint(pool, keyring, receiver.url, clock.now())
    [message_id] = await enqueue(pool, hook.endpoint_id, clock.now())
    arrived, release = asyncio.Event(), asyncio.Event()

    async def slow_then_accept(_: str, nth: int) -> web.Response:
        if nth == 1:
            arrived.set()
            await release.wait()
        return web.Response(status=200)

    receiver.behaviour = slow_then_accept
    options = {"request_timeout": aiohttp.ClientTimeout(total=3), "lease": timedelta(seconds=5)}
    crashing, other = make_worker(clock, **options), make_worker(clock, **options)
    sending = asyncio.create_task(crashing.deliver_due())
    await asyncio.wait_for(arrived.wait(), 5)

    # While the first worker waits on the receiver, the message is not for anyone else.
    assert await other.deliver_due() == 0
    clock.advance(seconds=4)
    assert await other.deliver_due() == 0

    # The first worker dies mid-request: nothing is recorded, and the lease runs out.
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    release.set()
    await asyncio.sleep(0.05)
    assert await other.deliver_due() == 0
    clock.advance(seconds=1.1)
    assert await other.deliver_due() == 1

    assert receiver.times_received(message_id) == 2
    assert receiver.most_at_once == 1
    row = await message(pool, message_id)
    assert (row["status"], row["attempts"]) == ("succeeded", 2)
    assert [a["attempt"] for a in await attempts_of(pool, message_id)] == [2]


async def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> float:
    """How long it took ``condition`` to hold (failing the test after ``seconds``)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, "timed out waiting"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


def receipts_reach(receiver: Receiver, count: int) -> Callable[[], bool]:
    return lambda: len(receiver.receipts) == count


async def test_a_notify_wakes_a_running_worker_even_after_its_connection_was_lost(
    pool: asyncpg.Pool, keyring: KeyRing, receiver: Receiver,
    make_worker: Callable[..., DeliveryWorker],
) -> None:
    clock = ManualClock()
    hook = await endpoint(pool, keyring, receiver.url, clock.now())
    worker = make_worker(clock, poll_seconds=600, listen_retry_seconds=0.1)
    worker.start()
    await wait_until(lambda: worker.listening)
    await asyncio.sleep(0.2)  # the wake-up on listening has found nothing to do

    for round_ in (1, 2):
        await enqueue(pool, hook.endpoint_id, clock.now())
        await pool.execute("SELECT pg_notify($1, '')", WAKE_CHANNEL)
        assert await wait_until(receipts_reach(receiver, round_)) < 1.0
        if round_ == 1:
            # The listening connection is killed; the worker listens again on another.
            killed = await pool.fetchval(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query LIKE 'LISTEN%'"
                " AND pid <> pg_backend_pid()"
            )
            assert killed
            await wait_until(lambda: not worker.listening)
            await wait_until(lambda: worker.listening)
            await asyncio.sleep(0.2)

    await worker.stop()
    assert not worker.listening
    statuses = await pool.fetch("SELECT status FROM webhook_messages")
    assert [row["status"] for row in statuses] == ["succeeded", "succeeded"]


async def test_send_again_starts_a_fresh_round_and_keeps_the_attempt_log(
    pool: asyncpg.Pool, keyring: KeyRing, receiver: Receiver,
    make_worker: Callable[..., DeliveryWorker],
) -> None:
    clock = ManualClock()
    hook = await endpoint(pool, keyring, receiver.url, clock.now())
    [failed] = await enqueue(pool, hook.endpoint_id, clock.now(), status="failed", attempts=8)
    [succeeded] = await enqueue(pool, hook.endpoint_id, clock.now())
    worker = make_worker(clock)
    assert await worker.deliver_due() == 1

    await send_again(pool, succeeded, clock.now())
    await send_again(pool, failed, clock.now())
    clock.advance(seconds=1)

    async def fail_once(message_id: str, nth: int) -> web.Response:
        return web.Response(status=500 if message_id == failed and nth == 1 else 200)

    receiver.behaviour = fail_once
    assert await worker.deliver_due() == 2
    assert [r.message_id for r in receiver.receipts].count(succeeded) == 2
    row, log = await message(pool, failed), await attempts_of(pool, failed)
    # Attempt 9 failed, yet this is the first of a new round: retried in ~5 s, not failed.
    assert (row["status"], row["attempts"], log[-1]["attempt"]) == ("pending", 9, 9)
    assert_waited(row, log[-1], RETRY_DELAYS[1])
    clock.advance(seconds=RETRY_DELAYS[1] * 1.2 + 0.1)
    assert await worker.deliver_due() == 1
    assert (await message(pool, failed))["status"] == "succeeded"
    assert {r.headers["webhook-id"] for r in receiver.of(failed)} == {failed}

    with pytest.raises(NotFound):
        await send_again(pool, "msg_unknown", clock.now())


async def test_replay_sends_everything_since_a_moment_again(
    pool: asyncpg.Pool, keyring: KeyRing, receiver: Receiver,
    make_worker: Callable[..., DeliveryWorker],
) -> None:
    clock = ManualClock()
    hook = await endpoint(pool, keyring, receiver.url, clock.now() - timedelta(days=1))
    other = await endpoint(pool, keyring, receiver.url, clock.now() - timedelta(days=1))
    created = {}
    for hours_ago in (3, 2, 1):
        at = clock.now() - timedelta(hours=hours_ago)
        [created[hours_ago]] = await enqueue(
            pool, hook.endpoint_id, at, status="succeeded", attempts=1, created_at=at
        )
    await enqueue(pool, other.endpoint_id, clock.now() - timedelta(hours=1), status="failed")

    since = clock.now() - timedelta(hours=2, minutes=1)
    assert await replay_since(pool, hook.endpoint_id, since, clock.now()) == 2
    assert await make_worker(clock).deliver_due() == 2

    assert sorted(receiver.processed) == sorted([created[2], created[1]])
    assert (await message(pool, created[3]))["attempts"] == 1
    assert (await message(pool, created[1]))["attempts"] == 2


async def test_a_database_out_of_reach_is_one_outage_in_the_log_not_one_line_a_retry(
    database_url: str, keyring: KeyRing
) -> None:
    class Counting(Availability):
        def __init__(self) -> None:
            super().__init__()
            self.met_times = 0
            self.often = asyncio.Event()

        async def met(self, error: BaseException, **context: str) -> None:
            await super().met(error, **context)
            self.met_times += 1
            if self.met_times >= 10:
                self.often.set()

    gone = await create_pool(database_url, min_size=1, max_size=1)
    await gone.close()  # every claim now meets a pool that cannot reach the database
    availability = Counting()
    worker = DeliveryWorker(
        gone, keyring, ManualClock(), poll_seconds=0.01, listen_retry_seconds=0.01,
        availability=availability,
    )
    with structlog.testing.capture_logs() as logged:
        worker.start()
        try:
            await asyncio.wait_for(availability.often.wait(), 60)
        finally:
            await worker.stop()

    events = [line["event"] for line in logged]
    assert events.count("database_unavailable") == 1
    assert "webhook_claim_failed" not in events
    assert "webhook_listener_unavailable" not in events


async def test_a_success_answered_after_a_later_claim_leaves_the_message_to_that_claim(
    pool: asyncpg.Pool, keyring: KeyRing, receiver: Receiver,
    make_worker: Callable[..., DeliveryWorker],
) -> None:
    """Successes are written together, each under its claim's fence: a receiver that
    answers after the lease ran out and another worker claimed the message settles
    nothing (the later claim does); its answer is still logged."""
    clock = ManualClock()
    hook = await endpoint(pool, keyring, receiver.url, clock.now())
    late, on_time = await enqueue(pool, hook.endpoint_id, clock.now(), count=2)

    async def claimed_again_meanwhile(message_id: str, _: int) -> web.Response:
        if message_id == late:  # as another worker's claim would, once the lease ran out
            await pool.execute(
                "UPDATE webhook_messages SET attempts = attempts + 1 WHERE message_id = $1",
                late,
            )
        return web.Response(status=204)

    receiver.behaviour = claimed_again_meanwhile
    worker = make_worker(clock)

    assert await worker.deliver_due() == 2

    assert ((await message(pool, late))["status"], (await message(pool, late))["attempts"]) == (
        "pending", 2
    )
    assert (await message(pool, on_time))["status"] == "succeeded"
    assert [(a["attempt"], a["status_code"]) for a in await attempts_of(pool, late)] == [
        (1, 204)
    ]


async def two_in_flight_four_at_hand(
    pool: asyncpg.Pool, keyring: KeyRing, receiver: Receiver,
    make_worker: Callable[..., DeliveryWorker], answer: asyncio.Event,
    supervisor: Supervisor | None = None,
) -> tuple[DeliveryWorker, list[str]]:
    """Six messages to one endpoint whose receiver holds each attempt until ``answer`` is
    set, and a worker of two senders claiming two at a time, started: once two attempts
    are in flight and the four other messages claimed and at hand, the worker and the
    messages' ids."""
    clock = ManualClock()
    hook = await endpoint(pool, keyring, receiver.url, clock.now())
    ids = await enqueue(pool, hook.endpoint_id, clock.now(), count=6)

    async def held(_: str, __: int) -> web.Response:
        await answer.wait()
        return web.Response(status=204)

    receiver.behaviour = held
    worker = make_worker(clock, concurrency=2, batch=2)
    worker.start(supervisor)
    async with asyncio.timeout(10):
        while True:
            claimed = await pool.fetchval(
                "SELECT count(*) FROM webhook_messages WHERE attempts = 1"
            )
            if len(receiver.receipts) == 2 and claimed == 6:
                return worker, ids
            await asyncio.sleep(0.02)


async def test_claims_at_hand_when_a_worker_stops_are_handed_back_at_once(
    pool: asyncpg.Pool, keyring: KeyRing, receiver: Receiver,
    make_worker: Callable[..., DeliveryWorker],
) -> None:
    """A worker keeps batches claimed beside the attempts in flight; stopping, it hands
    back those it had not sent (as if never claimed, so any worker sends them now rather
    than once their lease runs out), while those cut short in flight keep their lease."""
    answer = asyncio.Event()
    try:
        worker, ids = await two_in_flight_four_at_hand(
            pool, keyring, receiver, make_worker, answer
        )
        await worker.stop(grace_seconds=0.1)
    finally:
        answer.set()

    rows = [await message(pool, message_id) for message_id in ids]
    sent = {receipt.message_id for receipt in receiver.receipts}
    assert sorted((row["attempts"], row["leased_until"] is None) for row in rows
                  if row["message_id"] not in sent) == [(0, True)] * 4
    assert all(row["leased_until"] is not None for row in rows if row["message_id"] in sent)


async def test_claims_at_hand_are_handed_back_however_long_the_database_takes_to_take_them(
    pool: asyncpg.Pool, keyring: KeyRing, receiver: Receiver,
    make_worker: Callable[..., DeliveryWorker],
) -> None:
    """The hand-back at stop is the database's work, not a receiver's: it is not cut
    short by the supervisor cancelling the delivery loop again (the first statement on a
    new connection to a Citus coordinator takes about a second), nor by a short grace.
    Here the rows it must update are locked by another transaction for a while."""
    answer = asyncio.Event()
    try:
        worker, ids = await two_in_flight_four_at_hand(
            pool, keyring, receiver, make_worker, answer, Supervisor(ask_again_after=0.01)
        )
        sent = {receipt.message_id for receipt in receiver.receipts}
        at_hand = [message_id for message_id in ids if message_id not in sent]
        async with pool.acquire() as blocker, blocker.transaction():
            await blocker.execute(
                "SELECT 1 FROM webhook_messages WHERE message_id = ANY($1) FOR UPDATE", at_hand
            )
            stopping = asyncio.create_task(worker.stop(grace_seconds=0.1))
            async with asyncio.timeout(10):
                while True:  # the hand-back waits for the rows
                    waiting = await pool.fetchval(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                        " AND query LIKE '%attempts = m.attempts - 1%'"
                    )
                    if waiting:
                        break
                    await asyncio.sleep(0.02)
            # The supervisor's timer (0.01 s) was set before the hand-back began, so it has
            # run, and cancelled the loop again, well before this one ends.
            await asyncio.sleep(0.3)
        await stopping
    finally:
        answer.set()

    rows = [await message(pool, message_id) for message_id in at_hand]
    assert [(row["attempts"], row["leased_until"]) for row in rows] == [(0, None)] * 4


async def test_an_owner_erased_while_a_batch_is_at_hand_signs_none_of_the_rest_of_it(
    pool: asyncpg.Pool, keyring: KeyRing, receiver: Receiver,
    make_worker: Callable[..., DeliveryWorker],
) -> None:
    """An endpoint's keys are opened once for the messages of a batch to it, but not kept
    past an erasure: once its owner is erased, the messages still at hand are not signed
    (nor sent), and each attempt says why."""
    clock = ManualClock()
    hook = await endpoint(pool, keyring, receiver.url, clock.now())
    owner = (await endpoint_row(pool, hook.endpoint_id))["account_id"]
    await enqueue(pool, hook.endpoint_id, clock.now(), count=4)
    answer = asyncio.Event()

    async def held(_: str, __: int) -> web.Response:
        await answer.wait()
        return web.Response(status=204)

    receiver.behaviour = held
    worker = make_worker(clock, concurrency=1, batch=4)
    worker.start()
    try:
        async with asyncio.timeout(10):
            while True:  # the first sent (signed), three at hand
                if receiver.receipts:
                    break
                await asyncio.sleep(0.02)
        await keyring.destroy(KeyOwner("member", owner))
        answer.set()
        async with asyncio.timeout(10):
            while True:
                refused = await pool.fetchval(
                    "SELECT count(*) FROM webhook_attempts WHERE error = $1",
                    "the endpoint has no live signing secret",
                )
                if refused == 3:
                    break
                await asyncio.sleep(0.02)
    finally:
        answer.set()
        await worker.stop()
    assert len(receiver.receipts) == 1


async def test_claims_that_waited_at_hand_too_long_for_their_lease_are_handed_back_not_sent(
    pool: asyncpg.Pool, keyring: KeyRing, receiver: Receiver,
    make_worker: Callable[..., DeliveryWorker],
) -> None:
    """Every sender held by a slow receiver while a batch waits at hand: once an attempt
    begun now could outlast those claims' lease, they are handed back, not sent, and
    claimed afresh — each message still arrives once, on its first attempt."""
    clock = ManualClock()
    hook = await endpoint(pool, keyring, receiver.url, clock.now())
    ids = await enqueue(pool, hook.endpoint_id, clock.now(), count=6)
    answer = asyncio.Event()

    async def slow(_: str, __: int) -> web.Response:
        await answer.wait()
        return web.Response(status=204)

    receiver.behaviour = slow
    worker = make_worker(clock, concurrency=2, batch=2)
    with structlog.testing.capture_logs() as logged:
        worker.start()
        try:
            async with asyncio.timeout(10):
                while True:  # two sent, the four others claimed and at hand
                    claimed = await pool.fetchval(
                        "SELECT count(*) FROM webhook_messages WHERE attempts = 1"
                    )
                    if len(receiver.receipts) == 2 and claimed == 6:
                        break
                    await asyncio.sleep(0.02)
            # The lease (60 s) less the request's timeout (20 s): no time left to send.
            clock.advance(seconds=40)
            answer.set()
            await wait_until(lambda: len({r.message_id for r in receiver.receipts}) == 6, 10)
        finally:
            answer.set()
            await worker.stop()

    expired = [line for line in logged if line["event"] == "webhook_claim_expired_at_hand"]
    assert len(expired) == 4
    assert sorted(receipt.message_id for receipt in receiver.receipts) == sorted(ids)
    rows = [await message(pool, message_id) for message_id in ids]
    assert {(row["status"], row["attempts"]) for row in rows} == {("succeeded", 1)}


async def test_a_claim_reads_its_batch_from_the_due_index_however_long_the_queue(
    pool: asyncpg.Pool, keyring: KeyRing, make_worker: Callable[..., DeliveryWorker],
) -> None:
    """A backlog enqueued after the table's statistics were taken (as the fan-out does in
    seconds, long before autovacuum looks again): a claim still walks webhook_messages_due
    in order and stops after its batch, rather than reading and sorting every message."""
    clock = ManualClock()
    hook = await endpoint(pool, keyring, "http://127.0.0.1:9/hook", clock.now())
    backlog = 3000

    async def enqueue_many(count: int) -> None:
        await pool.execute(
            "INSERT INTO webhook_messages (message_id, endpoint_id, event_id, polycule_id,"
            " type, payload, created_at, next_attempt_at)"
            " SELECT 'msg_' || md5(random()::text || n), $1, gen_random_uuid(),"
            "        gen_random_uuid(), 'agreement.ratified', '{}', $2::timestamptz,"
            "        $2::timestamptz - make_interval(secs => n)"
            "   FROM generate_series(1, $3) AS n",
            hook.endpoint_id, clock.now(), count,
        )

    await enqueue_many(10)
    await pool.execute("ANALYZE webhook_messages")  # statistics of a short queue
    await enqueue_many(backlog)

    async with pool.acquire() as connection, connection.transaction():
        claimed = await connection.fetch(
            "SELECT * FROM webhook_messages_claim($1, $2, 32)",
            clock.now(), clock.now() + timedelta(seconds=60),
        )
        read = await connection.fetchrow(
            "SELECT coalesce(seq_tup_read, 0) AS scanned, coalesce(idx_tup_fetch, 0) AS fetched"
            "  FROM pg_stat_xact_user_tables WHERE relname = 'webhook_messages'"
        )
    assert read is not None
    assert len(claimed) == 32
    assert read["scanned"] == 0
    assert read["fetched"] < 4 * 32, dict(read)  # not the whole backlog
    # The oldest due first.
    oldest = await pool.fetch(
        "SELECT message_id FROM webhook_messages ORDER BY next_attempt_at LIMIT 32"
    )
    assert {row["message_id"] for row in claimed} == {row["message_id"] for row in oldest}
