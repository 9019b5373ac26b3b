"""Delivery: every enqueued message reaches its endpoint at least once, from any instance.

* **Claiming.** One statement picks due pending messages (oldest ``next_attempt_at``
  first) with ``FOR UPDATE SKIP LOCKED``, counts the attempt and leases them. The lease
  (60 s) outlasts the whole request (20 s), so no second worker sends a message while a
  slow receiver still holds it; a worker that dies mid-attempt leaves a lease that simply
  expires, and another instance takes the message. Any number of instances run together.
* **Fencing.** ``attempts`` is the claim's token: an outcome is written to the message
  only if no later claim took it since, so a late answer never overwrites a newer one.
* **Outcomes.** Only 2xx is success. ``410 Gone`` disables the endpoint. ``429`` is
  retried after its ``Retry-After``. Anything else (another status, a timeout, a refused
  address, a broken connection) is retried on ``RETRY_DELAYS`` with ±20 % jitter, and
  after the last attempt of the round the message is failed. An endpoint whose failures
  began 5 days ago with no success since is disabled. When the ledger disables an
  endpoint, its pending messages fail with it; a replay sends them again later.
* **Disabled endpoints** are sent nothing, not even what is pending for them, until
  their owner enables them again.
* **Waking.** Workers LISTEN on the fan-out's channel, on a connection of their own that
  is reopened when lost, and poll as a fallback.
* **At line rate.** ``concurrency`` senders each send one message at a time. Messages are
  claimed in batches, walking the due index in order (one short statement however long
  the queue), and the next batch is claimed while a batch is still at hand, so a sender
  never waits for a claim. A claim's messages are sent before their lease could run out
  with an attempt in flight, or handed back; a worker that stops hands back what it had
  not sent. Requests go through a ``Sender`` of the worker's own
  (``ledger/webhooks/sending.py``): connections to each receiver are kept alive between
  attempts, at most one per attempt in flight; the SSRF guard judges the address each
  connection is opened to, and a kept connection stays on that address. An
  endpoint's secrets are opened once for the messages of a batch to it, and again after
  any erasure the key ring hears of (``_Keys``). A sender is
  free as soon as its answer is in; successes — nearly every attempt — are written
  together: whatever succeeded while the last write was under way goes in the next, in
  one statement (``_Successes``).

Duplicates are possible (a receiver that answered after our timeout, a worker that died
after sending): receivers de-duplicate on ``webhook-id``. Order per endpoint is best effort.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, NamedTuple
from uuid import UUID

import aiohttp
import asyncpg
import orjson
import structlog
from yarl import URL

from ledger.clock import Clock
from ledger.database import Availability, connect, is_away
from ledger.errors import NotFound
from ledger.privacy import ERASED, KeyRing, OpenedAt, SealBroken, UnknownDataKey
from ledger.store.wakeups import wait_for_wakeup
from ledger.supervisor import Supervisor
from ledger.webhooks.fanout import WAKE_CHANNEL
from ledger.webhooks.sending import NOT_PERMITTED, Sender, SendFailed
from ledger.webhooks.signing import sign_with_keys, signing_keys
from ledger.webhooks.ssrf import literal_ip_refusal

if TYPE_CHECKING:
    from ledger.database import Connection

log = structlog.get_logger(__name__)

# Seconds to wait before attempt 1..8 of a round (attempt 1 goes as soon as it is due).
RETRY_DELAYS: tuple[int, ...] = (0, 5, 300, 1_800, 7_200, 18_000, 36_000, 36_000)
JITTER = 0.2
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=20, connect=5)
# Longer than REQUEST_TIMEOUT.total, with room for opening secrets and writing the outcome.
LEASE = timedelta(seconds=60)
DISABLE_AFTER_FAILING_FOR = timedelta(days=5)
MAX_RETRY_AFTER = timedelta(hours=24)
SNIPPET_CHARS = 500
USER_AGENT = "polycule-ledger-webhooks/1"
# Attempts in flight at once per worker (and connections, to one receiver too).
DEFAULT_CONCURRENCY = 32

_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)

# -- queries -----------------------------------------------------------------------------

# webhook_messages_due, walked in order (migration 0025 says why it is a function), then
# each message's endpoint and live secrets by their keys; only the messages are locked.
# The secrets come as text: a batch holds many messages to one endpoint, and each
# endpoint's are read from JSON once (``_claim``), not once for every message.
_CLAIM = """
SELECT message_id, endpoint_id, attempts, earlier_attempts, url, body,
       sealed_secrets::text AS sealed_secrets
  FROM webhook_messages_claim($1, $2, $3)
"""
_LOG_ATTEMPT = """
INSERT INTO webhook_attempts (message_id, attempt, attempted_at, status_code, duration_ms,
                              error, response_snippet)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""
# The fence ``attempts = $2``: only the latest claim of a message may settle it.
_RETRY_AT = """
UPDATE webhook_messages SET next_attempt_at = $3, leased_until = NULL
 WHERE message_id = $1 AND attempts = $2 AND status = 'pending'
"""
_GIVE_UP = """
UPDATE webhook_messages SET status = 'failed', leased_until = NULL
 WHERE message_id = $1 AND attempts = $2 AND status = 'pending'
"""
# Many successes at once, in one statement (one round trip, one transaction): each logged,
# each message settled under its fence, each endpoint that was failing recovered (in the
# order of their keys, as every writer of several endpoints takes them).
_SUCCEEDED_TOGETHER = """
WITH logged AS (
    INSERT INTO webhook_attempts (message_id, attempt, attempted_at, status_code,
                                  duration_ms, error, response_snippet)
    SELECT message_id, attempt, attempted_at, status_code, duration_ms, NULL, snippet
      FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::int[], $5::int[], $6::text[])
           AS a(message_id, attempt, attempted_at, status_code, duration_ms, snippet)
), settled AS (
    UPDATE webhook_messages m SET status = 'succeeded', leased_until = NULL
      FROM unnest($1::text[], $2::int[]) AS s(message_id, attempt)
     WHERE m.message_id = s.message_id AND m.attempts = s.attempt
), failing AS (
    SELECT endpoint_id FROM webhook_endpoints
     WHERE endpoint_id = ANY($7::uuid[]) AND failing_since IS NOT NULL
     ORDER BY endpoint_id
       FOR UPDATE
)
UPDATE webhook_endpoints e SET failing_since = NULL
  FROM failing WHERE e.endpoint_id = failing.endpoint_id
"""
_STILL_FAILING = """
UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, $2)
 WHERE endpoint_id = $1
RETURNING failing_since, enabled
"""
_DISABLE = """
UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, updated_at = $3
 WHERE endpoint_id = $1 AND enabled
"""
# Claims not sent (the worker stopping): as if never claimed, under each claim's fence.
_HAND_BACK = """
UPDATE webhook_messages m SET leased_until = NULL, attempts = m.attempts - 1
  FROM unnest($1::text[], $2::int[]) AS c(message_id, attempt)
 WHERE m.message_id = c.message_id AND m.attempts = c.attempt
"""
# webhook_messages_of_endpoint
_FAIL_PENDING_OF_ENDPOINT = """
UPDATE webhook_messages SET status = 'failed', leased_until = NULL
 WHERE endpoint_id = $1 AND status = 'pending'
"""
# A new round: the schedule starts again, the attempt log keeps counting. A lease in
# force is kept, so a message in flight is not sent twice at once.
_SEND_AGAIN = """
UPDATE webhook_messages
   SET status = 'pending', next_attempt_at = $2, earlier_attempts = attempts
 WHERE message_id = $1
"""
# webhook_messages_of_endpoint
_REPLAY_SINCE = """
UPDATE webhook_messages
   SET status = 'pending', next_attempt_at = $3, earlier_attempts = attempts
 WHERE endpoint_id = $1 AND created_at >= $2
"""

# -- the schedule ------------------------------------------------------------------------


def retry_delay(attempts_in_round: int) -> timedelta | None:
    """How long to wait after ``attempts_in_round`` failed attempts, jittered by ±20 %;
    None when the round has no attempt left."""
    if attempts_in_round >= len(RETRY_DELAYS):
        return None
    base = RETRY_DELAYS[max(attempts_in_round, 0)]
    # Jitter spreads the retries of an outage over time; it protects nothing secret.
    return timedelta(seconds=base * random.uniform(1 - JITTER, 1 + JITTER))  # noqa: S311


def retry_after(header: str | None, now: datetime) -> timedelta | None:
    """A 429's ``Retry-After`` (delay-seconds or an HTTP date) as a wait from ``now``,
    between 0 and MAX_RETRY_AFTER; None when absent or unreadable."""
    if header is None:
        return None
    text = header.strip()
    if text.isascii() and text.isdigit():
        # Compared as text first: int() refuses thousands of digits, and a day has 5.
        seconds = int(text) if len(text) <= 9 else MAX_RETRY_AFTER.total_seconds()
        wait = timedelta(seconds=min(seconds, MAX_RETRY_AFTER.total_seconds()))
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT; a zoneless one is read as such
            when = when.replace(tzinfo=UTC)
        wait = when - now
    return min(max(wait, timedelta(0)), MAX_RETRY_AFTER)


# -- one attempt -------------------------------------------------------------------------


class _Keys:
    """An endpoint's live signing keys, for the messages of one claimed batch to that
    endpoint: its secrets are opened, and their keys read, once for all of them rather than
    for each. Opened again once the key ring would no longer keep an opened text (an
    erasure heard of, or its recheck time passed: ``KeyRing.still_keeps``)."""

    __slots__ = ("_keys", "_opened", "sealed")

    def __init__(self, sealed: Sequence[Mapping[str, Any]]) -> None:
        self.sealed = sealed
        self._keys: tuple[bytes, ...] = ()
        self._opened: OpenedAt | None = None

    async def of(self, keyring: KeyRing, endpoint_id: UUID) -> tuple[bytes, ...]:
        """The keys; none when no secret can sign (each unreadable one logged)."""
        if self._opened is not None and keyring.still_keeps(self._opened):
            return self._keys
        opened = keyring.opened_now()  # before opening: an erasure meanwhile counts
        secrets = []
        for sealed in self.sealed:
            try:
                secret = await keyring.open_sealed(sealed)
            except (SealBroken, UnknownDataKey, ValueError) as error:
                log.error("webhook_secret_unreadable", endpoint_id=str(endpoint_id),
                          error=type(error).__name__)
                continue
            if secret != ERASED:  # the owner was erased: nothing can sign for them
                secrets.append(secret)
        self._keys = signing_keys(secrets) if secrets else ()
        self._opened = opened
        return self._keys


class _Claim(NamedTuple):
    # A tuple rather than a dataclass: one is made for every message sent.
    message_id: str
    endpoint_id: UUID
    attempt: int  # the attempt's number in the log, across every round
    attempt_in_round: int
    url: str
    body: str  # exactly the text that is signed and sent
    keys: _Keys  # shared by the batch's messages to this endpoint
    # The last moment at which an attempt may begin and still end, its whole timeout
    # included, before the claim's lease runs out.
    send_by: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record, keys: _Keys, send_by: datetime) -> _Claim:
        return cls(
            row["message_id"], row["endpoint_id"], row["attempts"],
            row["attempts"] - row["earlier_attempts"], row["url"], row["body"], keys, send_by,
        )


class _Answer(NamedTuple):
    """What came of one attempt: a status (and the start of the body), or an error.

    ``error`` is what the endpoint's owner reads in its delivery log: what kind of failure,
    in words of our own (``SendFailed.owner_text``). ``detail`` is the whole story, for operators'
    log only: an exception's text can name the addresses a host resolved to.
    """

    status_code: int | None = None
    error: str | None = None
    snippet: str | None = None
    retry_after: str | None = None
    detail: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _Successes:
    """Successful attempts, written in groups: one write at a time, each taking whatever
    succeeded while the one before it was under way. Nothing waits for its success to be
    written but ``settled``: a sender is free for the next message as soon as an answer is
    in. Kept as the columns of the one statement that writes them (``_SUCCEEDED_TOGETHER``),
    so that a success costs a few appends and no object of its own."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._columns = _SuccessColumns()
        self._writing: asyncio.Task[None] | None = None

    def add(self, claim: _Claim, answer: _Answer, attempted_at: datetime, duration_ms: int) -> None:
        self._columns.add(claim, answer, attempted_at, duration_ms)
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write_all())

    async def settled(self) -> None:
        """Until every success added so far has been written (or its write has failed)."""
        while self._writing is not None and not self._writing.done():
            await asyncio.gather(self._writing, return_exceptions=True)

    async def _write_all(self) -> None:
        while self._columns.message_ids:
            group, self._columns = self._columns, _SuccessColumns()
            try:
                await self._pool.execute(
                    _SUCCEEDED_TOGETHER, group.message_ids, group.attempts,
                    group.attempted_at, group.status_codes, group.durations, group.snippets,
                    sorted(group.endpoint_ids),
                )
            except _DB_ERRORS as error:
                # Policy: their leases run out and the messages are sent again (receivers
                # de-duplicate on webhook-id).
                log.error("webhook_attempts_not_recorded", attempts=len(group.message_ids),
                          error=str(error))
            except Exception:
                # Policy as above; logged in full because it is a bug, not a bad database.
                log.exception("webhook_attempts_not_recorded",
                              attempts=len(group.message_ids))


class _SuccessColumns:
    __slots__ = ("attempted_at", "attempts", "durations", "endpoint_ids", "message_ids",
                 "snippets", "status_codes")

    def __init__(self) -> None:
        self.message_ids: list[str] = []
        self.attempts: list[int] = []
        self.attempted_at: list[datetime] = []
        self.status_codes: list[int | None] = []
        self.durations: list[int] = []
        self.snippets: list[str | None] = []
        self.endpoint_ids: set[UUID] = set()

    def add(self, claim: _Claim, answer: _Answer, attempted_at: datetime, duration_ms: int) -> None:
        self.message_ids.append(claim.message_id)
        self.attempts.append(claim.attempt)
        self.attempted_at.append(attempted_at)
        self.status_codes.append(answer.status_code)
        self.durations.append(duration_ms)
        self.snippets.append(_text(answer.snippet))
        self.endpoint_ids.add(claim.endpoint_id)


class _AtHand:
    """The claimed messages waiting for a free sender, and the signals between the loop
    that claims them and the senders that take them."""

    def __init__(self, refill_at: int) -> None:
        self.claims: deque[_Claim] = deque()
        self.refill_at = refill_at
        self.available = asyncio.Event()  # claims were added (or the senders must stop)
        self.low = asyncio.Event()  # no more than ``refill_at`` are left
        self.closed = False

    def add(self, claims: Sequence[_Claim]) -> None:
        if claims:
            self.claims.extend(claims)
            self.available.set()

    def take(self) -> _Claim | None:
        if not self.claims:
            return None
        claim = self.claims.popleft()
        if len(self.claims) <= self.refill_at:
            self.low.set()
        return claim

    def close(self) -> list[_Claim]:
        """No sender takes anything more; what was left, to hand back."""
        left = list(self.claims)
        self.claims.clear()
        self.closed = True
        self.available.set()
        return left


class DeliveryWorker:
    """Claims due messages and sends them, in the background (``start``/``stop``) or one
    round at a time (``deliver_due``).

    The LISTEN connection is taken from ``pool`` and held, never released while it
    listens (a released connection would lose its listener), so each running worker
    keeps one of the pool's connections. ``allow_private`` lets deliveries reach
    loopback and private addresses: tests and local development only.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        keyring: KeyRing,
        clock: Clock,
        *,
        allow_private: bool = False,
        batch: int = 64,
        concurrency: int = DEFAULT_CONCURRENCY,
        poll_seconds: float = 1.0,
        request_timeout: aiohttp.ClientTimeout = REQUEST_TIMEOUT,
        lease: timedelta = LEASE,
        listen_retry_seconds: float = 1.0,
        listen_url: str | None = None,
        availability: Availability | None = None,
    ) -> None:
        if batch < 1 or concurrency < 1:
            raise ValueError("batch and concurrency must be at least 1")
        if request_timeout.total is None or lease.total_seconds() <= request_timeout.total:
            # Otherwise a slow receiver's lease could expire mid-request, and another
            # worker would send the same message while the first is still sending it.
            raise ValueError("the lease must be longer than the request's total timeout")
        self._pool = pool
        self._keyring = keyring
        self._clock = clock
        self._allow_private = allow_private
        self._batch = batch
        self._concurrency = concurrency
        self._poll_seconds = poll_seconds
        self._timeout = request_timeout
        self._lease = lease
        # How long a claimed message may wait for a sender: its attempt must be over,
        # timeout and all, before the lease runs out (with a margin of up to a second).
        spare = lease.total_seconds() - request_timeout.total
        self._send_within = timedelta(seconds=spare - min(1.0, spare / 2))
        self._listen_retry_seconds = listen_retry_seconds
        self._listen_url = listen_url
        # The service's: an outage is logged once, not by every retry (ledger/database.py).
        self._availability = availability
        self._sender: Sender | None = None
        self._wake = asyncio.Event()
        self._listening = False
        self._supervisor: Supervisor | None = None
        self._stopping_loops: asyncio.Future[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        # Claims left at hand when the delivery loop ended, being handed back (``stop``
        # waits for them, however short its grace: they are the database's work, not a
        # receiver's, and each is one statement).
        self._handing_back: set[asyncio.Task[None]] = set()
        self._successes = _Successes(pool)
        # When the attempts in flight must be done by (time.monotonic), once stopping.
        self._stop_by: float | None = None

    @property
    def listening(self) -> bool:
        """Whether the worker is hearing NOTIFYs now (otherwise it only polls)."""
        return self._listening

    def start(self, supervisor: Supervisor | None = None) -> None:
        self._supervisor = supervisor or Supervisor()
        self._supervisor.run("webhook-listener", self._listen_forever)
        self._supervisor.run("webhook-delivery", self._deliver_forever)

    def begin_stopping(self, *, within: float) -> None:
        """Claim nothing more, and let the attempts in flight have ``within`` seconds from
        now to finish: the service's shutdown is given one time in all (its setting), and
        the worker's share ends with it, however long a receiver takes."""
        if self._supervisor is not None:
            self._stopping_loops = asyncio.ensure_future(self._stop_loops(self._supervisor))
            self._supervisor = None
        if self._stop_by is None:
            self._stop_by = time.monotonic() + within

    @staticmethod
    async def _stop_loops(supervisor: Supervisor) -> None:
        await supervisor.stop("webhook-listener")
        await supervisor.stop("webhook-delivery")

    async def stop(self, *, grace_seconds: float = 5.0) -> None:
        """Stop claiming; give attempts in flight until the time ``begin_stopping`` set
        (else ``grace_seconds``) to finish. Attempts cut short keep their lease until it
        expires, and are then made again: at least once, as promised."""
        self.begin_stopping(within=grace_seconds)
        if self._stopping_loops is not None:
            await self._stopping_loops
            self._stopping_loops = None
        if self._in_flight:
            stop_by = self._stop_by if self._stop_by is not None else time.monotonic()
            left = max(stop_by - time.monotonic(), 0)
            _, unfinished = await asyncio.wait(set(self._in_flight), timeout=left)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
            if unfinished:
                log.warning("webhook_attempts_cut_short", attempts=len(unfinished))
        while self._handing_back:
            await asyncio.gather(*self._handing_back, return_exceptions=True)
        await self._successes.settled()
        if self._sender is not None:
            await self._sender.close()
            self._sender = None
        self._stop_by = None

    async def deliver_due(self) -> int:
        """One round: claim what is due (up to ``batch``), send it all, record each
        outcome. Returns how many messages were attempted."""
        claims = await self._claim(min(self._batch, self._concurrency))
        await asyncio.gather(*(self._attempt(claim) for claim in claims))
        await self._successes.settled()
        return len(claims)

    # -- the background loops -------------------------------------------------------------

    async def _deliver_forever(self) -> None:
        """Claims in batches for ``concurrency`` senders. A claim takes milliseconds (tens
        on a busy machine), and the senders must not wait for it: the next batch is claimed
        while a batch is still at hand, so that a sender whose answer is in takes the next
        message at once. A message that has waited at hand so long that its attempt could
        outlast the lease (every receiver slow at once) is handed back rather than sent."""
        at_hand = _AtHand(refill_at=2 * self._batch)
        for _ in range(self._concurrency):
            self._track(asyncio.create_task(self._send_from(at_hand)))
        try:
            while True:
                if len(at_hand.claims) > at_hand.refill_at:
                    at_hand.low.clear()
                    await at_hand.low.wait()
                try:
                    claims = await self._claim(self._batch)
                except _DB_ERRORS as error:
                    await self._database_failed("webhook_claim_failed", error)
                    claims = []
                at_hand.add(claims)
                if len(claims) < self._batch:  # nothing more is due: until woken, or polling
                    await wait_for_wakeup(self._wake, self._poll_seconds)
        finally:
            # Stopping: the senders finish what they are sending, and what was claimed and
            # not sent is handed back at once, rather than waiting for its lease to run out.
            # In a task of its own: this loop is being cancelled, and is cancelled again if
            # it outlasts the supervisor's patience (the first statement on a new
            # connection can take a second, as on a Citus coordinator); ``stop`` waits.
            left = at_hand.close()
            if left:
                handing_back = asyncio.ensure_future(self._hand_back(left))
                self._handing_back.add(handing_back)
                handing_back.add_done_callback(self._handing_back.discard)

    async def _send_from(self, at_hand: _AtHand) -> None:
        """One sender: the next message at hand, sent; until the claiming loop stops."""
        while True:
            claim = at_hand.take()
            if claim is None:
                if at_hand.closed:
                    return
                at_hand.available.clear()
                await at_hand.available.wait()
            elif (now := self._clock.now()) > claim.send_by:
                # Every receiver was slow at once for long enough that this attempt could
                # outlast the lease: as if never claimed, for the next claim to take.
                log.warning("webhook_claim_expired_at_hand", message_id=claim.message_id)
                await self._hand_back([claim])
            else:
                await self._attempt(claim, failures_aside=True, now=now)

    def _track(self, task: asyncio.Task[None]) -> None:
        # Stopping waits for these (until the shutdown's time is up).
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _hand_back(self, claims: Sequence[_Claim]) -> None:
        try:
            await self._pool.execute(
                _HAND_BACK, [c.message_id for c in claims], [c.attempt for c in claims]
            )
        except _DB_ERRORS as error:
            # Policy: their leases run out, and they are claimed again then.
            log.warning("webhook_claims_not_handed_back", claims=len(claims), error=str(error))

    async def _listen_forever(self) -> None:
        while True:
            lost = asyncio.Event()

            def on_lost(_: object, lost: asyncio.Event = lost) -> None:
                lost.set()

            try:
                async with self._listening_connection() as connection:
                    connection.add_termination_listener(on_lost)
                    try:
                        await connection.add_listener(WAKE_CHANNEL, self._on_notification)
                        self._listening = True
                        # Whatever was enqueued while nobody listened is due now.
                        self._wake.set()
                        await lost.wait()
                        log.warning("webhook_listener_connection_lost")
                    finally:
                        self._listening = False
                        connection.remove_termination_listener(on_lost)
                        if not connection.is_closed():
                            # The pool's reset does not UNLISTEN; leave the connection clean.
                            await connection.remove_listener(
                                WAKE_CHANNEL, self._on_notification
                            )
            except _DB_ERRORS as error:
                await self._database_failed("webhook_listener_unavailable", error)
            await asyncio.sleep(self._listen_retry_seconds)

    async def _database_failed(self, event: str, error: BaseException) -> None:
        """Policy: the loop tries again shortly. The database out of reach is an outage,
        logged once by the service's ``Availability``; anything else, each time."""
        if self._availability is not None and is_away(error):
            await self._availability.met(error)
        else:
            log.error(event, error=str(error))

    @contextlib.asynccontextmanager
    async def _listening_connection(self) -> AsyncIterator[Connection]:
        """A connection of its own when the worker knows the database's URL (the service
        passes it), else one taken from the pool and held for as long as it listens."""
        if self._listen_url is None:
            async with self._pool.acquire() as connection:
                yield connection
            return
        dedicated = await connect(self._listen_url)
        try:
            yield dedicated
        finally:
            await dedicated.close()

    def _on_notification(self, *_: object) -> None:
        self._wake.set()

    # -- claiming, sending, recording ------------------------------------------------------

    async def _claim(self, limit: int) -> list[_Claim]:
        if self._sender is None:
            # Made here, inside the running loop, on first use; closed by stop().
            self._sender = Sender(
                user_agent=USER_AGENT,
                connect_seconds=self._timeout.connect or self._timeout.total or 0,
                total_seconds=self._timeout.total or 0,
                allow_private=self._allow_private,
            )
        now = self._clock.now()
        rows = await self._pool.fetch(_CLAIM, now, now + self._lease, limit)
        send_by = now + self._send_within
        read: dict[str, _Keys] = {}  # each endpoint's secrets, as text → their keys
        claims = []
        for row in rows:
            text = row["sealed_secrets"]
            keys = read.get(text)
            if keys is None:
                keys = read[text] = _Keys(orjson.loads(text))
            claims.append(_Claim.from_row(row, keys, send_by))
        return claims

    async def _attempt(
        self, claim: _Claim, *, failures_aside: bool = False, now: datetime | None = None
    ) -> None:
        """Send ``claim``; a success is written with others (``_Successes``), a failure
        now — or, ``failures_aside``, in a task of its own, so that the sender is free for
        the next message as soon as the answer is in. ``now``: the clock's time, if the
        caller has just read it."""
        try:
            attempted_at = now or self._clock.now()
            started = time.monotonic()
            answer = await self._send(claim, attempted_at)
            duration_ms = round((time.monotonic() - started) * 1000)
            if answer.succeeded:
                self._successes.add(claim, answer, attempted_at, duration_ms)
                return
            recording = self._record_failure(claim, answer, attempted_at, duration_ms)
            if failures_aside:
                self._track(asyncio.create_task(recording))
            else:
                await recording
        except Exception:
            # Policy: the lease runs out and the message is attempted again; logged in
            # full because it is a bug, not a bad receiver.
            log.exception("webhook_attempt_crashed", message_id=claim.message_id)

    async def _record_failure(
        self, claim: _Claim, answer: _Answer, attempted_at: datetime, duration_ms: int
    ) -> None:
        try:
            await self._record(claim, answer, attempted_at, duration_ms)
        except _DB_ERRORS as error:
            # Policy: the lease runs out and the message is attempted again.
            log.error("webhook_attempt_not_recorded", message_id=claim.message_id,
                      error=str(error))
        except Exception:
            # Policy as above; logged in full because it is a bug, not a bad receiver.
            log.exception("webhook_attempt_crashed", message_id=claim.message_id)

    async def _send(self, claim: _Claim, now: datetime) -> _Answer:
        refusal, url = _target(claim.url, self._allow_private)
        if refusal is not None or url is None:
            return _Answer(error=NOT_PERMITTED, detail=f"refused: {refusal}")
        keys = await claim.keys.of(self._keyring, claim.endpoint_id)
        if not keys:
            return _Answer(error="the endpoint has no live signing secret")
        sender = self._sender
        if sender is None:
            raise RuntimeError("the delivery worker was stopped while attempts were due")
        try:
            answer = await sender.post(
                url, sign_with_keys(claim.message_id, now, claim.body, keys), claim.body.encode()
            )
        except TimeoutError:
            return _Answer(error=f"timed out (connect {self._timeout.connect} s, "
                                 f"total {self._timeout.total} s)")
        except SendFailed as failed:
            return _Answer(error=failed.owner_text, detail=failed.detail)
        return _Answer(
            status_code=answer.status,
            snippet=answer.snippet.decode("utf-8", errors="replace")[:SNIPPET_CHARS],
            retry_after=answer.retry_after,
        )

    async def _record(
        self, claim: _Claim, answer: _Answer, attempted_at: datetime, duration_ms: int
    ) -> None:
        """A failed attempt: logged, then retried, given up, or its endpoint disabled."""
        now = self._clock.now()
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute(
                _LOG_ATTEMPT, claim.message_id, claim.attempt, attempted_at,
                answer.status_code, duration_ms, _text(answer.error), _text(answer.snippet),
            )
            log.info("webhook_attempt_failed", message_id=claim.message_id,
                     endpoint_id=str(claim.endpoint_id), attempt=claim.attempt,
                     status_code=answer.status_code, error=answer.detail or answer.error)
            if answer.status_code == 410:
                await _disable(connection, claim.endpoint_id, "gone", now)
                return
            endpoint = await connection.fetchrow(
                _STILL_FAILING, claim.endpoint_id, attempted_at
            )
            if (
                endpoint is not None and endpoint["enabled"]
                and endpoint["failing_since"] <= now - DISABLE_AFTER_FAILING_FOR
            ):
                await _disable(connection, claim.endpoint_id, "failing", now)
                return
            wait = retry_delay(claim.attempt_in_round)
            if wait is None:
                await connection.execute(_GIVE_UP, claim.message_id, claim.attempt)
                return
            if answer.status_code == 429:
                wait = retry_after(answer.retry_after, now) or wait
            await connection.execute(_RETRY_AT, claim.message_id, claim.attempt, now + wait)


@functools.lru_cache(maxsize=4096)
def _target(url: str, allow_private: bool) -> tuple[str | None, URL | None]:
    """``literal_ip_refusal``, and the URL as the sender reads it, made once per endpoint
    URL rather than at every attempt: both depend on nothing else. A URL that cannot be
    read is refused by the first (and has no second)."""
    try:
        parsed: URL | None = URL(url)
    except ValueError:
        parsed = None
    return literal_ip_refusal(url, allow_private=allow_private), parsed


async def _disable(connection: Connection, endpoint_id: UUID, reason: str, now: datetime) -> None:
    """The ledger stops sending to this endpoint; its owner sees why in their list."""
    if await connection.execute(_DISABLE, endpoint_id, reason, now) != "UPDATE 0":
        log.warning("webhook_endpoint_disabled", endpoint_id=str(endpoint_id), reason=reason)
    await connection.execute(_FAIL_PENDING_OF_ENDPOINT, endpoint_id)


def _text(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL, and a receiver may answer anything.
    return None if value is None else value.replace("\x00", "\ufffd")


# -- what owners ask for (the routes call these) ----------------------------------------


async def send_again(pool: asyncpg.Pool, message_id: str, now: datetime | None = None) -> None:
    """Send a message again as soon as possible (same ``webhook-id``, a fresh round of the
    schedule; the attempt log keeps counting). ``now`` is the caller's clock."""
    done = await pool.execute(_SEND_AGAIN, message_id, now or datetime.now(UTC))
    if done == "UPDATE 0":
        raise NotFound("no such webhook message", details={"message_id": message_id})


async def replay_since(
    pool: asyncpg.Pool, endpoint_id: UUID, since: datetime, now: datetime | None = None
) -> int:
    """Send again every message of the endpoint created at or after ``since``; how many."""
    done = await pool.execute(_REPLAY_SINCE, endpoint_id, since, now or datetime.now(UTC))
    return int(done.split()[-1])
